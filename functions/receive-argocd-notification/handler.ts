/**
 * Lambda entry behind the prod feedback Function URL (auth NONE; the bearer token is checked in the
 * core). Wiring only: env at cold start, the token secret with a 5-minute cache, the ledger, the bus,
 * SES.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { DynamoDbLedger } from "../../shared/adapters/aws/dynamodb-ledger.js";
import { EventBridgePublisher } from "../../shared/adapters/aws/eventbridge-publisher.js";
import { functionUrlHandler, lazyHandler, powertoolsLog } from "../../shared/adapters/aws/function-url.js";
import {
  cachedSecretVersions,
  type SecretsCacheOptions,
} from "../../shared/adapters/aws/secret-versions-cache.js";
import { SesMailer } from "../../shared/adapters/aws/ses-mailer.js";
import { createGithubClient } from "../../shared/adapters/github/github-client.js";
import { GithubPullRequestReporter } from "../../shared/adapters/github/github-review.js";
import { bundledAppConfig, optionalEnv, requireEnv } from "../../shared/config/lambda-env.js";
import { inLambda } from "../../shared/config/runtime-env.js";
import { githubCredentialsFromSecret, parseSecretJson } from "../../shared/contracts/secret-value.js";
import { executionConsoleUrl } from "../../shared/domain/console-url.js";
import { loggerFor, loggerMiddleware } from "../../shared/observability/logger.js";
import { type NotificationDeps, receiveArgocdNotification } from "./receive-argocd-notification.js";

/**
 * The token in a secret value: `{"token": "..."}` (what the stack generates and what the Argo CD
 * side's ExternalSecret reads), or the plain string when someone set it by hand. Empty when neither.
 */
export function tokenFromSecret(secretString: string | undefined): string {
  if (!secretString) return "";
  // parseSecretJson never puts the value in an error; anything but an object is the token itself.
  const json = parseSecretJson(secretString);
  if (json.ok) return typeof json.value.token === "string" ? json.value.token : "";
  return secretString.trim();
}

export type TokenCacheOptions = SecretsCacheOptions;

/**
 * The token secret's current and previous versions (the previous one keeps Argo CD working until
 * its ExternalSecret picks up a rotated token), cached like the GitHub webhook's secret.
 */
export function cachedTokens(
  client: Pick<SecretsManagerClient, "send">,
  secretId: string,
  options: TokenCacheOptions = {},
): (opts?: { refresh?: boolean }) => Promise<string[]> {
  return cachedSecretVersions(client, secretId, { ...options, decode: tokenFromSecret });
}

export { toEndpointRequest as toNotificationRequest } from "../../shared/adapters/aws/function-url.js";

/** Builds the Lambda handler from its dependencies (tests pass mocked clients). */
export function createHandler(deps: NotificationDeps) {
  return functionUrlHandler(receiveArgocdNotification, deps);
}

const logger = loggerFor("pourover-receive-argocd-notification");

/**
 * The release PR's comment, through the pipeline's GitHub credentials when the stack passes them
 * (GITHUB_CREDENTIALS_SECRET_ARN); the secret is read on first use.
 */
function pullRequestComments(
  secrets: SecretsManagerClient,
  secretArn: string | undefined,
): NotificationDeps["pullRequests"] {
  if (!secretArn) return undefined;
  let reporter: GithubPullRequestReporter | undefined;
  return {
    comment: async (input) => {
      if (!reporter) {
        const { GetSecretValueCommand } = await import("@aws-sdk/client-secrets-manager");
        const out = await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }));
        const creds = githubCredentialsFromSecret(out.SecretString, secretArn);
        reporter = new GithubPullRequestReporter(
          createGithubClient(creds),
          bundledAppConfig().manifests.repo,
        );
      }
      await reporter.comment(input);
    },
  };
}

function fromEnvironment() {
  const env = requireEnv("TOKEN_SECRET_ARN", "LEDGER_TABLE_NAME", "EVENT_BUS_NAME");
  const secrets = new SecretsManagerClient({});
  const pullRequests = pullRequestComments(secrets, optionalEnv("GITHUB_CREDENTIALS_SECRET_ARN"));
  return createHandler({
    config: bundledAppConfig(),
    tokens: cachedTokens(secrets, env.TOKEN_SECRET_ARN),
    ledger: new DynamoDbLedger(new DynamoDBClient({}), env.LEDGER_TABLE_NAME),
    publisher: new EventBridgePublisher(new EventBridgeClient({}), env.EVENT_BUS_NAME),
    mailer: new SesMailer(new SESv2Client({})),
    executionUrl: executionConsoleUrl,
    // The core never passes a body or a token.
    log: powertoolsLog(logger, "argocd notification", (f) => f.status === 500 || "error" in f),
    ...(pullRequests ? { pullRequests } : {}),
  }).use(loggerMiddleware(logger));
}

/** Built at cold start in Lambda (a bad environment fails fast), else on first use. */
export const handler = lazyHandler(inLambda(), fromEnvironment);
