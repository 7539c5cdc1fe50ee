/**
 * Lambda entry behind the Function URL (auth NONE; the HMAC is checked in the core). Wiring only:
 * env at cold start; Secrets Manager with a 5-minute cache, EventBridge and the DynamoDB dedupe
 * loaded and built by the first request.
 */
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { functionUrlHandler, lazyHandler, powertoolsLog } from "../../shared/adapters/aws/function-url.js";
import type { SecretsCacheOptions } from "../../shared/adapters/aws/secret-versions-cache.js";
import { firstUse } from "../../shared/adapters/first-use.js";
import { inLambda, lambdaEnvironment } from "../../shared/config/runtime-env.js";
import { powertools } from "../../shared/observability/powertools.js";
import { receiveGithubWebhook, type WebhookConfig, type WebhookDeps } from "./receive-github-webhook.js";

export interface WebhookEnv {
  webhookSecretArn: string;
  eventBusName: string;
  ledgerTableName: string;
  config: WebhookConfig;
}

/** Validates this function's environment (read by the config loader). Throws one error naming every problem. */
export function loadWebhookEnv(env: Record<string, string | undefined>): WebhookEnv {
  const problems: string[] = [];
  const need = (name: string): string => {
    const value = env[name]?.trim();
    if (!value) problems.push(`${name} is not set`);
    return value ?? "";
  };
  const webhookSecretArn = need("WEBHOOK_SECRET_ARN");
  const eventBusName = need("EVENT_BUS_NAME");
  const ledgerTableName = need("LEDGER_TABLE_NAME");
  const rawConfig = need("POUROVER_CONFIG");
  let config: WebhookConfig | undefined;
  if (rawConfig) {
    try {
      config = webhookConfigFrom(JSON.parse(rawConfig), problems);
    } catch {
      problems.push("POUROVER_CONFIG is not valid JSON");
    }
  }
  if (problems.length > 0 || config === undefined) {
    throw new Error(`receive-github-webhook: invalid environment:\n- ${problems.join("\n- ")}`);
  }
  return { webhookSecretArn, eventBusName, ledgerTableName, config };
}

/**
 * Checks the part of the app config the webhook reads, by hand: the zod schema (AppConfigSchema)
 * would triple the bundle. The whole config is validated with zod where it is authored (CLI, CDK).
 */
export function webhookConfigFrom(raw: unknown, problems: string[]): WebhookConfig | undefined {
  const before = problems.length;
  const obj = (v: unknown): Record<string, unknown> | undefined =>
    typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  const root = obj(raw);
  if (!root) {
    problems.push("POUROVER_CONFIG: must be a JSON object");
    return undefined;
  }
  const app = root.app;
  if (typeof app !== "string" || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(app)) {
    problems.push("POUROVER_CONFIG: app: must be lowercase letters, digits and dashes");
  }
  const repo = obj(root.source)?.repo;
  if (typeof repo !== "string" || !/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repo)) {
    problems.push("POUROVER_CONFIG: source.repo: must be owner/name");
  }
  const policy = root.tagPolicy === undefined ? {} : obj(root.tagPolicy);
  const allowPrerelease = policy?.allowPrerelease ?? false;
  if (policy === undefined || typeof allowPrerelease !== "boolean") {
    problems.push("POUROVER_CONFIG: tagPolicy.allowPrerelease: must be a boolean");
  }
  if (problems.length > before) return undefined;
  return {
    app: app as string,
    source: { repo: repo as string },
    tagPolicy: { allowPrerelease: allowPrerelease as boolean },
  };
}

export type { SecretsCacheOptions };

/**
 * The webhook secret's current and previous versions (the previous one keeps deliveries signed
 * before a rotation valid), cached. The secret is the plain SecretString.
 */
export function cachedWebhookSecrets(
  client: Pick<SecretsManagerClient, "send">,
  secretId: string,
  options: SecretsCacheOptions = {},
): (opts?: { refresh?: boolean }) => Promise<string[]> {
  // The cache module imports the Secrets Manager commands: loaded with the first signature check.
  const cache = firstUse(async () => {
    const { cachedSecretVersions } = await import("../../shared/adapters/aws/secret-versions-cache.js");
    return cachedSecretVersions(client, secretId, options);
  });
  return async (opts) => (await cache())(opts);
}

/** Maps a Function URL (payload format 2.0) event to the core's request. */
export { toEndpointRequest as toWebhookRequest } from "../../shared/adapters/aws/function-url.js";

/** Builds the Lambda handler from its dependencies (tests pass mocked clients). */
export function createHandler(deps: WebhookDeps) {
  return functionUrlHandler(receiveGithubWebhook, deps);
}

const tools = powertools("pourover-receive-github-webhook");
const logger = tools.logger;

function fromEnvironment() {
  const env = loadWebhookEnv(lambdaEnvironment());
  const aws = firstUse(async () => {
    const [
      { DynamoDBClient },
      { EventBridgeClient },
      { SecretsManagerClient },
      { DynamoDeliveryDedupe },
      { EventBridgePublisher },
    ] = await Promise.all([
      import("../../shared/adapters/aws/clients/dynamodb.js"),
      import("../../shared/adapters/aws/clients/eventbridge.js"),
      import("../../shared/adapters/aws/clients/secrets-manager.js"),
      import("../../shared/adapters/aws/delivery-dedupe.js"),
      import("../../shared/adapters/aws/eventbridge-publisher.js"),
    ]);
    return {
      secrets: new SecretsManagerClient({}),
      publisher: new EventBridgePublisher(new EventBridgeClient({}), env.eventBusName),
      deliveries: new DynamoDeliveryDedupe(new DynamoDBClient({}), env.ledgerTableName),
    };
  });
  const secretsClient: Pick<SecretsManagerClient, "send"> = {
    send: (async (command: Parameters<SecretsManagerClient["send"]>[0]) =>
      (await aws()).secrets.send(command)) as SecretsManagerClient["send"],
  };
  return createHandler({
    config: env.config,
    secrets: cachedWebhookSecrets(secretsClient, env.webhookSecretArn),
    publisher: { publish: async (event) => (await aws()).publisher.publish(event) },
    deliveries: {
      firstTime: async (key) => (await aws()).deliveries.firstTime(key),
      forget: async (key) => (await aws()).deliveries.forget(key),
    },
    // The core never passes a body, secret or signature.
    log: powertoolsLog(logger, "webhook", (fields) => fields.status === 500),
  }).use(tools.middleware);
}

/** Built at cold start in Lambda (a bad environment fails fast), else on first use. */
export const handler = lazyHandler(inLambda(), fromEnvironment);
