import { RemovalPolicy, SecretValue, Validations } from "aws-cdk-lib";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import { keepLogicalId } from "./logical-ids.js";

export interface PipelineSecretsProps {
  /** Removal policy of both secrets. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The two secrets the user fills after deploy: the GitHub webhook HMAC secret (generated, pasted into
 * GitHub) and the GitHub credentials (created as `{}`). Both values are owned by GitHub, so neither
 * rotates automatically.
 */
export class PipelineSecrets extends Construct {
  readonly webhookSecret: secretsmanager.Secret;
  /** `{"token":"..."}` or a GitHub App key: manifests commits, release PR updates, private clones. */
  readonly githubCredentials: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: PipelineSecretsProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.webhookSecret = new secretsmanager.Secret(this, "WebhookSecret", {
      description:
        "GitHub webhook HMAC secret (plain string). Paste it into the GitHub webhook settings; rotate by setting a new value in both places.",
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      removalPolicy,
    });
    this.githubCredentials = new secretsmanager.Secret(this, "GithubCredentials", {
      description:
        'GitHub credentials for the manifests repo (and private source clones), JSON: {"token":"..."} or {"appId":"...","installationId":"...","privateKey":"-----BEGIN..."}. Created empty: fill it after deploy.',
      secretStringValue: SecretValue.unsafePlainText("{}"),
      removalPolicy,
    });
    // A new logical id would replace the secrets and lose the values the user filled in.
    keepLogicalId(this.webhookSecret, "WebhookSecret/Resource");
    keepLogicalId(this.githubCredentials, "GithubCredentials/Resource");
    for (const secret of [this.webhookSecret, this.githubCredentials]) {
      Validations.of(secret).acknowledge({
        id: "AwsSolutions-SMG4",
        reason:
          "The value is owned by GitHub (webhook secret or token/App key) and must change on both sides together, so automatic rotation by a Lambda cannot apply it; rotation is a documented manual step.",
      });
    }
  }
}
