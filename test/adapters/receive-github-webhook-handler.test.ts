/**
 * The webhook's Lambda side: the secret cache, the environment check and the handler wired to the
 * real SDK adapters (SDK clients mocked at the boundary).
 */
import { createHmac } from "node:crypto";
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  cachedWebhookSecrets,
  createHandler,
  loadWebhookEnv,
  toWebhookRequest,
  webhookConfigFrom,
} from "../../functions/receive-github-webhook/handler.js";
import { DynamoDeliveryDedupe } from "../../shared/adapters/aws/delivery-dedupe.js";
import { EventBridgePublisher } from "../../shared/adapters/aws/eventbridge-publisher.js";

const eventBridge = mockClient(EventBridgeClient);
const dynamo = mockClient(DynamoDBClient);
const secretsManager = mockClient(SecretsManagerClient);

beforeEach(() => {
  eventBridge.reset();
  dynamo.reset();
  secretsManager.reset();
});

describe("cachedWebhookSecrets", () => {
  it("reads AWSCURRENT then AWSPREVIOUS and caches them for 5 minutes", async () => {
    secretsManager
      .on(GetSecretValueCommand, { SecretId: "arn:s", VersionStage: "AWSCURRENT" })
      .resolves({ SecretString: "new" })
      .on(GetSecretValueCommand, { SecretId: "arn:s", VersionStage: "AWSPREVIOUS" })
      .resolves({ SecretString: "old" });
    let t = 0;
    const secrets = cachedWebhookSecrets(new SecretsManagerClient({}), "arn:s", { now: () => t });
    expect(await secrets()).toEqual(["new", "old"]);
    t = 299_000;
    expect(await secrets()).toEqual(["new", "old"]);
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    t = 300_000;
    await secrets();
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(4);
  });

  it("no AWSPREVIOUS yet (never rotated) is fine", async () => {
    secretsManager
      .on(GetSecretValueCommand, { VersionStage: "AWSCURRENT" })
      .resolves({ SecretString: "only" })
      .on(GetSecretValueCommand, { VersionStage: "AWSPREVIOUS" })
      .rejects(new ResourceNotFoundException({ message: "no such version", $metadata: {} }));
    expect(await cachedWebhookSecrets(new SecretsManagerClient({}), "arn:s")()).toEqual(["only"]);
  });

  it("a missing AWSCURRENT or access denied propagates", async () => {
    secretsManager.on(GetSecretValueCommand).rejects(new Error("AccessDeniedException"));
    await expect(cachedWebhookSecrets(new SecretsManagerClient({}), "arn:s")()).rejects.toThrow();
  });

  it("a forced refresh is rate-limited to once per 30 s; concurrent callers share one read", async () => {
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: "s" });
    let t = 0;
    const secrets = cachedWebhookSecrets(new SecretsManagerClient({}), "arn:s", { now: () => t });
    await Promise.all([secrets(), secrets(), secrets()]);
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    t = 10_000;
    await secrets({ refresh: true });
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    t = 30_000;
    await secrets({ refresh: true });
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(4);
  });
});

describe("loadWebhookEnv", () => {
  const appConfig = {
    app: "coffeeshop",
    source: { repo: "org/coffeeshop" },
    registry: { accountId: "123456789012", region: "us-east-1" },
  };
  const good = {
    WEBHOOK_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:wh",
    EVENT_BUS_NAME: "pourover",
    LEDGER_TABLE_NAME: "ledger",
    POUROVER_CONFIG: JSON.stringify(appConfig),
  };

  it("reads the four variables; allowPrerelease defaults to false", () => {
    expect(loadWebhookEnv(good)).toEqual({
      webhookSecretArn: good.WEBHOOK_SECRET_ARN,
      eventBusName: "pourover",
      ledgerTableName: "ledger",
      config: {
        app: "coffeeshop",
        source: { repo: "org/coffeeshop" },
        tagPolicy: { allowPrerelease: false },
      },
    });
  });

  it("names every missing or bad variable in one error", () => {
    expect(() => loadWebhookEnv({})).toThrow(
      /WEBHOOK_SECRET_ARN is not set[\s\S]*EVENT_BUS_NAME is not set[\s\S]*LEDGER_TABLE_NAME is not set[\s\S]*POUROVER_CONFIG is not set/,
    );
    expect(() => loadWebhookEnv({ ...good, POUROVER_CONFIG: "{" })).toThrow(
      /POUROVER_CONFIG is not valid JSON/,
    );
  });

  it("has no body-size setting: the core's 1 MiB cap is the only one (MAX_BODY_BYTES was never set)", () => {
    const env = loadWebhookEnv({ ...good, MAX_BODY_BYTES: "lots" });
    expect(env).not.toHaveProperty("maxBodyBytes");
  });

  it("checks the config fields the webhook reads", () => {
    const problems: string[] = [];
    expect(webhookConfigFrom({ app: "Bad Name", source: { repo: "nope" }, tagPolicy: "x" }, problems)).toBe(
      undefined,
    );
    expect(problems).toEqual([
      "POUROVER_CONFIG: app: must be lowercase letters, digits and dashes",
      "POUROVER_CONFIG: source.repo: must be owner/name",
      "POUROVER_CONFIG: tagPolicy.allowPrerelease: must be a boolean",
    ]);
    expect(webhookConfigFrom([], [])).toBe(undefined);
    expect(
      webhookConfigFrom({ app: "a", source: { repo: "o/r" }, tagPolicy: { allowPrerelease: true } }, []),
    ).toEqual({ app: "a", source: { repo: "o/r" }, tagPolicy: { allowPrerelease: true } });
  });
});

describe("handler (Function URL event → core → SDK adapters)", () => {
  const SECRET = "handler-secret";
  const config = {
    app: "coffeeshop",
    source: { repo: "org/coffeeshop" },
    tagPolicy: { allowPrerelease: false },
  };
  const payload = JSON.stringify({
    ref: "refs/tags/v1.4.0",
    created: true,
    deleted: false,
    after: "0123456789abcdef0123456789abcdef01234567",
    head_commit: { id: "0123456789abcdef0123456789abcdef01234567" },
    repository: { full_name: "org/coffeeshop" },
    pusher: { name: "barista" },
  });
  const context = { getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

  function urlEvent(overrides: Partial<APIGatewayProxyEventV2> = {}): APIGatewayProxyEventV2 {
    return {
      version: "2.0",
      routeKey: "$default",
      rawPath: "/",
      rawQueryString: "",
      headers: {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": "d-1",
        "x-hub-signature-256": `sha256=${createHmac("sha256", SECRET).update(payload).digest("hex")}`,
      },
      requestContext: {
        accountId: "anonymous",
        apiId: "url-id",
        domainName: "url-id.lambda-url.us-east-1.on.aws",
        domainPrefix: "url-id",
        http: {
          method: "POST",
          path: "/",
          protocol: "HTTP/1.1",
          sourceIp: "192.0.2.1",
          userAgent: "GitHub-Hookshot/1",
        },
        requestId: "r-1",
        routeKey: "$default",
        stage: "$default",
        time: "01/Jan/2025:00:00:00 +0000",
        timeEpoch: 0,
      },
      body: payload,
      isBase64Encoded: false,
      ...overrides,
    };
  }

  function wired() {
    return createHandler({
      config,
      secrets: cachedWebhookSecrets(new SecretsManagerClient({}), "arn:s"),
      publisher: new EventBridgePublisher(new EventBridgeClient({}), "pourover"),
      deliveries: new DynamoDeliveryDedupe(new DynamoDBClient({}), "ledger"),
    });
  }

  beforeEach(() => {
    secretsManager
      .on(GetSecretValueCommand, { VersionStage: "AWSCURRENT" })
      .resolves({ SecretString: SECRET })
      .on(GetSecretValueCommand, { VersionStage: "AWSPREVIOUS" })
      .rejects(new ResourceNotFoundException({ message: "none", $metadata: {} }));
    dynamo.on(PutItemCommand).resolves({}).on(DeleteItemCommand).resolves({});
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: "e" }] });
  });

  it("maps the Function URL event", () => {
    const req = toWebhookRequest(urlEvent({ isBase64Encoded: true, body: "e30=" }));
    expect(req.method).toBe("POST");
    expect(req.isBase64Encoded).toBe(true);
    expect(req.body).toBe("e30=");
    expect(req.headers["x-github-event"]).toBe("push");
    expect(toWebhookRequest({ ...urlEvent(), body: undefined }).body).toBe("");
  });

  it("a signed tag push → 202, one PutEvents with the Release Tag Pushed detail, two dedupe puts (id, body)", async () => {
    const res = await wired()(urlEvent(), context);
    expect(res.statusCode).toBe(202);
    expect(JSON.parse(res.body as string)).toEqual({
      message: "release requested",
      app: "coffeeshop",
      tag: "v1.4.0",
    });
    expect(res.headers).toEqual({ "content-type": "application/json" });
    const put = eventBridge.commandCalls(PutEventsCommand);
    expect(put).toHaveLength(1);
    const entry = put[0]?.args[0].input.Entries?.[0];
    expect(entry?.Source).toBe("pourover.webhook");
    expect(entry?.DetailType).toBe("Release Tag Pushed");
    expect(entry?.EventBusName).toBe("pourover");
    expect(JSON.parse(entry?.Detail ?? "{}")).toEqual({
      app: "coffeeshop",
      repository: "org/coffeeshop",
      tag: "v1.4.0",
      commit: "0123456789abcdef0123456789abcdef01234567",
      pusher: "barista",
      deliveryId: "d-1",
    });
    expect(dynamo.commandCalls(PutItemCommand).map((c) => c.args[0].input.Item?.pk?.S)).toEqual([
      "delivery#d-1",
      expect.stringMatching(/^delivery-body#[0-9a-f]{64}$/),
    ]);
  });

  it("FailedEntryCount > 0 → 500, the dedupe item is deleted so GitHub's redelivery goes through", async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: "InternalFailure" }] });
    const res = await wired()(urlEvent(), context);
    expect(res.statusCode).toBe(500);
    expect(res.body).toBe(JSON.stringify({ message: "internal error" }));
    expect(dynamo.commandCalls(DeleteItemCommand).map((c) => c.args[0].input.Key?.pk?.S)).toEqual([
      "delivery#d-1",
      expect.stringMatching(/^delivery-body#[0-9a-f]{64}$/),
    ]);
  });

  it("a duplicate delivery (conditional check failed) → 202 and no PutEvents", async () => {
    dynamo
      .on(PutItemCommand)
      .rejects(new ConditionalCheckFailedException({ message: "exists", $metadata: {} }));
    const res = await wired()(urlEvent(), context);
    expect(JSON.parse(res.body as string)).toEqual({ message: "duplicate delivery" });
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it("a bad signature → 401 with no DynamoDB or EventBridge call", async () => {
    const res = await wired()(
      urlEvent({ headers: { ...urlEvent().headers, "x-hub-signature-256": `sha256=${"0".repeat(64)}` } }),
      context,
    );
    expect(res.statusCode).toBe(401);
    expect(dynamo.calls()).toHaveLength(0);
    expect(eventBridge.calls()).toHaveLength(0);
  });

  it("a GET from the Function URL → 405", async () => {
    const e = urlEvent();
    e.requestContext.http.method = "GET";
    expect((await wired()(e, context)).statusCode).toBe(405);
  });

  describe("exported handler reads the environment once", () => {
    const saved = { ...process.env };
    afterEach(() => {
      process.env = { ...saved };
    });

    it("wires itself from the environment on first use", async () => {
      process.env.WEBHOOK_SECRET_ARN = "arn:s";
      process.env.EVENT_BUS_NAME = "pourover";
      process.env.LEDGER_TABLE_NAME = "ledger";
      process.env.POUROVER_CONFIG = JSON.stringify(config);
      // The Powertools logger writes JSON lines to process.stdout through its own Console.
      const write = process.stdout.write;
      const lines: string[] = [];
      process.stdout.write = ((chunk: string) =>
        lines.push(String(chunk)) > 0) as typeof process.stdout.write;
      try {
        const { handler } = await import("../../functions/receive-github-webhook/handler.js");
        const res = await handler(urlEvent(), context);
        expect(res.statusCode).toBe(202);
      } finally {
        process.stdout.write = write;
      }
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0] as string)).toMatchObject({ level: "INFO", status: 202, tag: "v1.4.0" });
      expect(lines[0]).not.toContain(SECRET);
      expect(lines[0]).not.toContain("barista");
    });
  });
});
