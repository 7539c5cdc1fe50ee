import { CfnOutput, Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import type * as events from "aws-cdk-lib/aws-events";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import { PouroverFunction, type PouroverSiteProps } from "./pourover-function.js";
import {
  SES_IDENTITY_WILDCARD_FINDING,
  SES_IDENTITY_WILDCARD_REASON,
  sesSendStatement,
} from "./ses-send-permission.js";

export interface ProdFeedbackProps extends PouroverSiteProps {
  /** The release ledger: the function updates the `prod` attribute of `app#v…` items. */
  readonly ledger: dynamodb.ITable;
  /** The pipeline bus: `Release Deployed To Prod` / `Release Degraded In Prod` are published there. */
  readonly bus: events.IEventBus;
  /**
   * Reserved concurrency of the Function URL (bounds what an unauthenticated caller costs). Off by
   * default: Lambda keeps 100 of the account's concurrency unreserved, so on a new account with a low
   * quota any reservation fails the deploy.
   * @default none (the account's unreserved pool)
   */
  readonly reservedConcurrency?: number;
  /**
   * Name of the generated token secret (JSON `{"token": "..."}`); the Argo CD side's ExternalSecret
   * reads it by this name. @default `<app>/prod/argocd-webhook`
   */
  readonly tokenSecretName?: string;
  /** Removal policy of the token secret. @default RemovalPolicy.RETAIN */
  readonly secretRemovalPolicy?: RemovalPolicy;
  /** The pipeline's GitHub credentials: the release PR gets a short comment. @default no comment */
  readonly githubCredentials?: secretsmanager.ISecret;
}

/**
 * Production feedback from Argo CD: a Function URL that Argo CD notifications call on `on-deployed`
 * and `on-health-degraded`, authenticated by a bearer token kept in a generated secret. The function
 * records `prod` on the release's ledger item, publishes an event on the pipeline bus and emails.
 * Stack outputs: `ArgoCdNotificationsUrl`, `ArgoCdTokenSecretArn`.
 */
export class ProdFeedback extends Construct {
  readonly function: PouroverFunction;
  readonly url: lambda.FunctionUrl;
  readonly tokenSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: ProdFeedbackProps) {
    super(scope, id);
    const { config } = props;
    const reserved = props.reservedConcurrency;
    if (reserved !== undefined && (!Number.isInteger(reserved) || reserved < 1)) {
      throw new Error("ProdFeedback: reservedConcurrency must be a positive integer");
    }

    this.tokenSecret = new secretsmanager.Secret(this, "TokenSecret", {
      secretName: props.tokenSecretName ?? `${config.app}/prod/argocd-webhook`,
      description:
        'Bearer token Argo CD notifications send to the Pourover prod feedback URL, JSON {"token":"..."}. Rotate by setting a new value; the previous one stays valid until the next rotation.',
      generateSecretString: {
        secretStringTemplate: "{}",
        generateStringKey: "token",
        passwordLength: 48,
        // Letters and digits only: the token goes verbatim into an HTTP header.
        excludePunctuation: true,
      },
      removalPolicy: props.secretRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    Validations.of(this.tokenSecret).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "The token is shared with Argo CD, whose ExternalSecret re-reads it hourly; a rotation is a manual step (new value, the previous version stays accepted) rather than a rotation Lambda.",
    });

    this.function = new PouroverFunction(this, "ReceiveArgocdNotification", {
      functionDir: "receive-argocd-notification",
      projectRoot: props.projectRoot,
      config,
      description: "Argo CD notifications: records a release deployed to / degraded in prod, and emails it",
      logRetention: props.logRetention,
      timeout: Duration.seconds(15),
      ...(reserved === undefined ? {} : { reservedConcurrentExecutions: reserved }),
      environment: {
        TOKEN_SECRET_ARN: this.tokenSecret.secretArn,
        LEDGER_TABLE_NAME: props.ledger.tableName,
        EVENT_BUS_NAME: props.bus.eventBusName,
        ...(props.githubCredentials
          ? { GITHUB_CREDENTIALS_SECRET_ARN: props.githubCredentials.secretArn }
          : {}),
      },
    });
    // Release items only (`<app>#v…`): never the dev lock, `latest#…` or delivery dedupe keys.
    this.function.allow(["dynamodb:GetItem", "dynamodb:UpdateItem"], [props.ledger.tableArn], {
      "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [`${config.app}#v*`] },
    });
    this.function.allow(["events:PutEvents"], [props.bus.eventBusArn]);
    this.function.allow(["secretsmanager:GetSecretValue"], [this.tokenSecret.secretArn]);
    if (props.githubCredentials)
      this.function.allow(["secretsmanager:GetSecretValue"], [props.githubCredentials.secretArn]);
    this.function.role.addToPolicy(sesSendStatement(this, config.notify));
    Validations.of(this.function.role).acknowledge({
      id: SES_IDENTITY_WILDCARD_FINDING,
      reason: SES_IDENTITY_WILDCARD_REASON,
    });

    // Auth NONE: Argo CD cannot sign AWS requests. The handler checks the bearer token (constant
    // time) before parsing anything; reserved concurrency bounds the cost of junk traffic.
    this.url = this.function.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });

    new CfnOutput(this, "Url", {
      value: this.url.url,
      description: "Argo CD notifications webhook URL (service.webhook.pourover in argocd-notifications-cm)",
    }).overrideLogicalId("ArgoCdNotificationsUrl");
    new CfnOutput(this, "TokenSecretArn", {
      value: this.tokenSecret.secretArn,
      description: "Secret holding the bearer token Argo CD sends (JSON key token)",
    }).overrideLogicalId("ArgoCdTokenSecretArn");
  }
}
