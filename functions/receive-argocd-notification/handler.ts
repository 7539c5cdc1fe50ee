/**
 * Lambda entry behind the prod feedback Function URL (auth NONE; the bearer token is checked in the
 * core). Wiring only: env at cold start, the token secret with a 5-minute cache, the ledger, the bus,
 * SES.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import middy from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { DynamoDbLedger } from "../../shared/adapters/aws/dynamodb-ledger.js";
import { EventBridgePublisher } from "../../shared/adapters/aws/eventbridge-publisher.js";
import {
  cachedSecretVersions,
  type SecretsCacheOptions,
} from "../../shared/adapters/aws/secret-versions-cache.js";
import { SesMailer } from "../../shared/adapters/aws/ses-mailer.js";
import { createGithubClient } from "../../shared/adapters/github/github-client.js";
import { GithubPullRequestReporter } from "../../shared/adapters/github/github-review.js";
import { bundledAppConfig, requireEnv } from "../../shared/config/lambda-env.js";
import { githubCredentialsFromSecret, parseSecretJson } from "../../shared/contracts/secret-value.js";
import { executionConsoleUrl } from "../../shared/domain/console-url.js";
import { loggerFor, loggerMiddleware } from "../../shared/observability/logger.js";
import {
  type NotificationDeps,
  type NotificationRequest,
  receiveArgocdNotification,
} from "./receive-argocd-notification.js";

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

export function toNotificationRequest(event: APIGatewayProxyEventV2): NotificationRequest {
  return {
    method: event.requestContext?.http?.method ?? "",
    headers: event.headers ?? {},
    body: event.body ?? "",
    isBase64Encoded: event.isBase64Encoded === true,
  };
}

/** Builds the Lambda handler from its dependencies (tests pass mocked clients). */
export function createHandler(deps: NotificationDeps) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>().handler(async (event) => {
    const res = await receiveArgocdNotification(toNotificationRequest(event), deps);
    return { statusCode: res.statusCode, headers: res.headers ?? {}, body: res.body };
  });
}

const logger = loggerFor("pourover-receive-argocd-notification");
/** The core's entries as Powertools JSON lines; the core never passes a body or a token. */
const logLine = ({ msg, ...fields }: Record<string, unknown>): void => {
  const message = typeof msg === "string" ? msg : "argocd notification";
  if (fields.status === 500 || "error" in fields) logger.error(message, fields);
  else logger.info(message, fields);
};

let handlerInstance: ReturnType<typeof createHandler> | undefined;

/**
 * The release PR's comment, through the pipeline's GitHub credentials when the stack passes them
 * (GITHUB_CREDENTIALS_SECRET_ARN); the secret is read on first use.
 */
function pullRequestComments(secrets: SecretsManagerClient): NotificationDeps["pullRequests"] {
  const secretArn = process.env.GITHUB_CREDENTIALS_SECRET_ARN;
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

function fromEnvironment(): ReturnType<typeof createHandler> {
  const env = requireEnv("TOKEN_SECRET_ARN", "LEDGER_TABLE_NAME", "EVENT_BUS_NAME");
  const secrets = new SecretsManagerClient({});
  const pullRequests = pullRequestComments(secrets);
  return createHandler({
    config: bundledAppConfig(),
    tokens: cachedTokens(secrets, env.TOKEN_SECRET_ARN),
    ledger: new DynamoDbLedger(new DynamoDBClient({}), env.LEDGER_TABLE_NAME),
    publisher: new EventBridgePublisher(new EventBridgeClient({}), env.EVENT_BUS_NAME),
    mailer: new SesMailer(new SESv2Client({})),
    executionUrl: executionConsoleUrl,
    log: logLine,
    ...(pullRequests ? { pullRequests } : {}),
  }).use(loggerMiddleware(logger));
}

if (process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined) {
  // Cold start in Lambda: fail fast on a bad environment.
  handlerInstance = fromEnvironment();
}

export const handler = (
  event: APIGatewayProxyEventV2,
  context: Parameters<ReturnType<typeof createHandler>>[1],
) => {
  handlerInstance ??= fromEnvironment();
  return handlerInstance(event, context);
};
