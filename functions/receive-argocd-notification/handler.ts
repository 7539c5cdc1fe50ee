/**
 * Lambda entry behind the prod feedback Function URL (auth NONE; the bearer token is checked in the
 * core). Wiring only: env and the bundled config at cold start; the AWS SDK clients (the token
 * secret with a 5-minute cache, the ledger, the bus, SES) and Octokit are loaded on first use.
 */
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { functionUrlHandler, lazyHandler, powertoolsLog } from "../../shared/adapters/aws/function-url.js";
import type { SecretsCacheOptions } from "../../shared/adapters/aws/secret-versions-cache.js";
import { firstUse } from "../../shared/adapters/first-use.js";
import { bundledAppConfig, optionalEnv, requireEnv } from "../../shared/config/lambda-env.js";
import { inLambda } from "../../shared/config/runtime-env.js";
import { parseSecretJson } from "../../shared/contracts/secret-value.js";
import { executionConsoleUrl } from "../../shared/domain/console-url.js";
import { powertools } from "../../shared/observability/powertools.js";
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
  // The cache module imports the Secrets Manager commands: loaded with the first token check.
  const cache = firstUse(async () => {
    const { cachedSecretVersions } = await import("../../shared/adapters/aws/secret-versions-cache.js");
    return cachedSecretVersions(client, secretId, { ...options, decode: tokenFromSecret });
  });
  return async (opts) => (await cache())(opts);
}

export { toEndpointRequest as toNotificationRequest } from "../../shared/adapters/aws/function-url.js";

/** Builds the Lambda handler from its dependencies (tests pass mocked clients). */
export function createHandler(deps: NotificationDeps) {
  return functionUrlHandler(receiveArgocdNotification, deps);
}

const tools = powertools("pourover-receive-argocd-notification");
const logger = tools.logger;

/** The AWS side of the handler, loaded and built by the first request that needs it. */
const awsAdapters = (env: { LEDGER_TABLE_NAME: string; EVENT_BUS_NAME: string }) =>
  firstUse(async () => {
    const [
      { DynamoDBClient },
      { EventBridgeClient },
      { SecretsManagerClient },
      { SESv2Client },
      { DynamoDbLedger },
      { EventBridgePublisher },
      { SesMailer },
    ] = await Promise.all([
      import("../../shared/adapters/aws/clients/dynamodb.js"),
      import("../../shared/adapters/aws/clients/eventbridge.js"),
      import("../../shared/adapters/aws/clients/secrets-manager.js"),
      import("../../shared/adapters/aws/clients/sesv2.js"),
      import("../../shared/adapters/aws/dynamodb-ledger.js"),
      import("../../shared/adapters/aws/eventbridge-publisher.js"),
      import("../../shared/adapters/aws/ses-mailer.js"),
    ]);
    return {
      secrets: new SecretsManagerClient({}),
      ledger: new DynamoDbLedger(new DynamoDBClient({}), env.LEDGER_TABLE_NAME),
      publisher: new EventBridgePublisher(new EventBridgeClient({}), env.EVENT_BUS_NAME),
      mailer: new SesMailer(new SESv2Client({})),
    };
  });

/**
 * The release PR's comment, through the pipeline's GitHub credentials when the stack passes them
 * (GITHUB_CREDENTIALS_SECRET_ARN); the secret is read on first use.
 */
function pullRequestComments(
  secrets: () => Promise<SecretsManagerClient>,
  secretArn: string | undefined,
  manifestsRepo: string,
): NotificationDeps["pullRequests"] {
  if (!secretArn) return undefined;
  const reporter = firstUse(async () => {
    const [{ githubClientFromSecret }, { GithubPullRequestReporter }] = await Promise.all([
      import("../../shared/adapters/aws/github-client-from-secret.js"),
      import("../../shared/adapters/github/github-review.js"),
    ]);
    return new GithubPullRequestReporter(
      await githubClientFromSecret(await secrets(), secretArn),
      manifestsRepo,
    );
  });
  return { comment: async (input) => (await reporter()).comment(input) };
}

function fromEnvironment() {
  const env = requireEnv("TOKEN_SECRET_ARN", "LEDGER_TABLE_NAME", "EVENT_BUS_NAME");
  const config = bundledAppConfig();
  const aws = awsAdapters(env);
  const secrets = async () => (await aws()).secrets;
  const pullRequests = pullRequestComments(
    secrets,
    optionalEnv("GITHUB_CREDENTIALS_SECRET_ARN"),
    config.manifests.repo,
  );
  const secretsClient: Pick<SecretsManagerClient, "send"> = {
    send: (async (command: Parameters<SecretsManagerClient["send"]>[0]) =>
      (await secrets()).send(command)) as SecretsManagerClient["send"],
  };
  return createHandler({
    config,
    tokens: cachedTokens(secretsClient, env.TOKEN_SECRET_ARN),
    ledger: {
      get: async (app, tag) => (await aws()).ledger.get(app, tag),
      recordProd: async (app, tag, entry) => (await aws()).ledger.recordProd(app, tag, entry),
    },
    publisher: { publish: async (event) => (await aws()).publisher.publish(event) },
    mailer: { send: async (message) => (await aws()).mailer.send(message) },
    executionUrl: executionConsoleUrl,
    // The core never passes a body or a token.
    log: powertoolsLog(logger, "argocd notification", (f) => f.status === 500 || "error" in f),
    ...(pullRequests ? { pullRequests } : {}),
  }).use(tools.middleware);
}

/** Built at cold start in Lambda (a bad environment fails fast), else on first use. */
export const handler = lazyHandler(inLambda(), fromEnvironment);
