import { Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type { IConstruct } from "constructs";
import type { AppConfig } from "../../shared/contracts/app-config.js";

/** Every address a Pourover email can go to: `to`, `onFailure` and each `byOutcome` list. */
export function allRecipients(notify: AppConfig["notify"]): string[] {
  const byOutcome = Object.values(notify.byOutcome ?? {}).flatMap((list) => list ?? []);
  return [...new Set([...notify.to, ...notify.onFailure, ...byOutcome])].sort();
}

/**
 * The one statement that lets a function send Pourover's emails through SES.
 *
 * SES authorizes a send against more than the From domain: the From address's own identity when that
 * address is verified, and (in the sandbox) each recipient's verified identity too. An IAM policy that
 * names only `identity/<domain>` is answered AccessDenied in both cases. The SES Developer Guide
 * ("Identity and access management in Amazon SES", restricting the "From" address) scopes a sender
 * with the `ses:FromAddress` condition key and the recipients with `ses:Recipients` (To, CC and BCC),
 * both honoured by SendEmail. So the resource is every identity of this account and region, and the
 * conditions pin the From address and the configured recipients. The mailer calls SES API v2
 * SendEmail, which is authorized as `ses:SendEmail` (Service Authorization Reference for SES);
 * `ses:SendRawEmail` is the v1 raw-message API, never called, so not granted.
 */
export function sesSendStatement(scope: IConstruct, notify: AppConfig["notify"]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: "SendReleaseEmail",
    actions: ["ses:SendEmail"],
    resources: [Stack.of(scope).formatArn({ service: "ses", resource: "identity", resourceName: "*" })],
    conditions: {
      StringEquals: { "ses:FromAddress": notify.from },
      // ForAllValues: every recipient of the request must be one of the configured addresses.
      "ForAllValues:StringEquals": { "ses:Recipients": allRecipients(notify) },
    },
  });
}

/** The cdk-nag finding id of the statement's `identity/*` resource. */
export const SES_IDENTITY_WILDCARD_FINDING =
  "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]";

export const SES_IDENTITY_WILDCARD_REASON =
  "SES checks the From address identity, its domain and, in the sandbox, each recipient identity, so the resource is this account's identities; conditions pin ses:FromAddress and ses:Recipients to the configured addresses.";
