import { join } from "node:path";
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, describe, expect, it } from "vitest";
import { DynamoDbLedger } from "../../shared/adapters/aws/dynamodb-ledger.js";
import { SqliteLedger } from "../../shared/adapters/local/sqlite-ledger.js";
import { tempDir } from "../helpers/local.js";

const claim = (executionId: string) => ({
  app: "coffeeshop",
  tag: "v1.0.0",
  executionId,
  claimedAt: "2026-11-26T10:00:00.000Z",
  trigger: { source: "cli" as const, pusher: "me" },
});

describe("SqliteLedger (real SQLite)", () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it("20 concurrent claims of one release: exactly one wins", async () => {
    const ledger = new SqliteLedger(join(dir.path, "a.sqlite"));
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => ledger.claim(claim(`e${i}`))),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(
      results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason.name),
    ).toEqual(Array(19).fill("ReleaseAlreadyClaimedError"));
    ledger.close();
  });

  it("only the owner records the outcome; a FAILED release may be claimed again", async () => {
    const ledger = new SqliteLedger(join(dir.path, "b.sqlite"));
    await ledger.claim(claim("owner"));
    await ledger.record({
      app: "coffeeshop",
      tag: "v1.0.0",
      executionId: "intruder",
      status: "SUCCEEDED",
      finishedAt: "t",
      summary: {},
    });
    expect((await ledger.get("coffeeshop", "v1.0.0"))?.status).toBe("RUNNING");
    await ledger.record({
      app: "coffeeshop",
      tag: "v1.0.0",
      executionId: "owner",
      status: "FAILED",
      finishedAt: "t",
      summary: { x: 1 },
    });
    expect(await ledger.get("coffeeshop", "v1.0.0")).toMatchObject({ status: "FAILED", summary: { x: 1 } });
    await ledger.claim(claim("retry"));
    expect((await ledger.get("coffeeshop", "v1.0.0"))?.executionId).toBe("retry");
    await expect(ledger.claim(claim("late"))).rejects.toMatchObject({ name: "ReleaseAlreadyClaimedError" });
    ledger.close();
  });

  it("what is on dev now: the SUCCEEDED release that finished last; listing newest claim first", async () => {
    const ledger = new SqliteLedger(join(dir.path, "c.sqlite"));
    const run = async (
      tag: string,
      claimedAt: string,
      finishedAt: string,
      status: "SUCCEEDED" | "FAILED",
    ) => {
      await ledger.claim({ ...claim(`x-${tag}`), tag, claimedAt });
      await ledger.record({
        app: "coffeeshop",
        tag,
        executionId: `x-${tag}`,
        status,
        finishedAt,
        summary: { images: [{ service: "web", digest: `sha256:${tag}` }] },
      });
    };
    expect(await ledger.latestSucceeded("coffeeshop")).toBeNull();
    await run("v1.0.0", "2026-11-26T10:00:00.000Z", "2026-11-26T10:05:00.000Z", "SUCCEEDED");
    // A hotfix of an older line that finished later is what dev runs (newest deploy wins).
    await run("v1.1.0", "2026-11-26T11:00:00.000Z", "2026-11-26T11:20:00.000Z", "SUCCEEDED");
    await run("v0.9.1", "2026-11-26T11:10:00.000Z", "2026-11-26T11:30:00.000Z", "SUCCEEDED");
    await run("v1.2.0", "2026-11-26T12:00:00.000Z", "2026-11-26T12:01:00.000Z", "FAILED");
    await ledger.claim({ ...claim("other-app"), app: "other", tag: "v9.0.0" });
    expect(await ledger.latestSucceeded("coffeeshop")).toMatchObject({
      tag: "v0.9.1",
      status: "SUCCEEDED",
      summary: { images: [{ digest: "sha256:v0.9.1" }] },
    });
    expect(await ledger.latestSucceeded("other")).toBeNull();
    expect(ledger.list("coffeeshop").map((r) => r.tag)).toEqual(["v1.2.0", "v0.9.1", "v1.1.0", "v1.0.0"]);
    expect(ledger.list(undefined, 2).map((r) => r.tag)).toEqual(["v1.2.0", "v0.9.1"]);
    ledger.close();
  });
});

describe("DynamoDbLedger (SDK boundary mocked)", () => {
  const ddb = mockClient(DynamoDBClient);
  afterAll(() => ddb.restore());

  it("claims with a conditional put keyed app#tag and maps a failed condition to ReleaseAlreadyClaimedError", async () => {
    ddb.reset();
    ddb
      .on(PutItemCommand)
      .resolvesOnce({})
      .rejectsOnce(new ConditionalCheckFailedException({ message: "failed", $metadata: {} }));
    const ledger = new DynamoDbLedger(new DynamoDBClient({ region: "us-east-1" }), "ledger");
    await ledger.claim(claim("e1"));
    await expect(ledger.claim(claim("e2"))).rejects.toMatchObject({ name: "ReleaseAlreadyClaimedError" });
    const input = ddb.commandCalls(PutItemCommand)[0]?.args[0].input;
    expect(input?.Item?.pk).toEqual({ S: "coffeeshop#v1.0.0" });
    expect(input?.ConditionExpression).toBe(
      "attribute_not_exists(pk) OR #status IN (:failed, :aborted, :timedOut)",
    );
    expect(Number(input?.Item?.expiresAt?.N)).toBeGreaterThan(Date.parse("2028-01-01") / 1000);
  });

  it("records only for the owning execution and ignores a lost race quietly", async () => {
    ddb.reset();
    ddb
      .on(UpdateItemCommand)
      .rejects(new ConditionalCheckFailedException({ message: "not owner", $metadata: {} }));
    const ledger = new DynamoDbLedger(new DynamoDBClient({ region: "us-east-1" }), "ledger");
    await ledger.record({
      app: "coffeeshop",
      tag: "v1.0.0",
      executionId: "e9",
      status: "FAILED",
      finishedAt: "t",
      summary: {},
    });
    expect(ddb.commandCalls(UpdateItemCommand)[0]?.args[0].input.ConditionExpression).toBe(
      "attribute_not_exists(pk) OR executionId = :executionId",
    );
    expect(ddb.commandCalls(UpdateItemCommand)).toHaveLength(1);
  });

  const outcome = (status: "SUCCEEDED" | "FAILED") => ({
    app: "coffeeshop",
    tag: "v1.0.0",
    executionId: "e1",
    status,
    finishedAt: "2026-11-26T10:05:00.000Z",
    summary: {},
  });

  it("a SUCCEEDED outcome moves latest#<app> forward only; a FAILED one never touches it", async () => {
    ddb.reset();
    ddb.on(UpdateItemCommand).resolves({});
    const ledger = new DynamoDbLedger(new DynamoDBClient({ region: "us-east-1" }), "ledger");
    await ledger.record(outcome("FAILED"));
    expect(ddb.commandCalls(UpdateItemCommand)).toHaveLength(1);
    await ledger.record(outcome("SUCCEEDED"));
    const latest = ddb.commandCalls(UpdateItemCommand)[2]?.args[0].input;
    expect(latest?.Key).toEqual({ pk: { S: "latest#coffeeshop" } });
    expect(latest?.ConditionExpression).toBe("attribute_not_exists(pk) OR finishedAt < :finishedAt");
    expect(latest?.ExpressionAttributeValues?.[":tag"]).toEqual({ S: "v1.0.0" });

    // A release that finished later already holds latest#: the condition fails and that is fine.
    ddb.reset();
    ddb
      .on(UpdateItemCommand)
      .resolvesOnce({})
      .rejectsOnce(new ConditionalCheckFailedException({ message: "older", $metadata: {} }));
    await expect(ledger.record(outcome("SUCCEEDED"))).resolves.toBeUndefined();
    expect(ddb.commandCalls(UpdateItemCommand)).toHaveLength(2);
  });

  it("latestSucceeded: latest#<app> then the release it points at (two consistent GetItems)", async () => {
    ddb.reset();
    ddb
      .on(GetItemCommand)
      .resolves({})
      .on(GetItemCommand, { Key: { pk: { S: "latest#coffeeshop" } } })
      .resolves({ Item: { pk: { S: "latest#coffeeshop" }, tag: { S: "v1.4.0" } } })
      .on(GetItemCommand, { Key: { pk: { S: "coffeeshop#v1.4.0" } } })
      .resolves({
        Item: {
          pk: { S: "coffeeshop#v1.4.0" },
          app: { S: "coffeeshop" },
          tag: { S: "v1.4.0" },
          executionId: { S: "arn:e" },
          status: { S: "SUCCEEDED" },
          claimedAt: { S: "2026-11-26T10:00:00.000Z" },
          finishedAt: { S: "2026-11-26T10:05:00.000Z" },
          trigger: { S: JSON.stringify({ source: "cli", pusher: "me" }) },
          summary: { S: JSON.stringify({ images: [{ service: "web" }] }) },
        },
      });
    const ledger = new DynamoDbLedger(new DynamoDBClient({ region: "us-east-1" }), "ledger");
    expect(await ledger.latestSucceeded("coffeeshop")).toMatchObject({
      tag: "v1.4.0",
      status: "SUCCEEDED",
      summary: { images: [{ service: "web" }] },
    });
    expect(ddb.commandCalls(GetItemCommand).every((c) => c.args[0].input.ConsistentRead === true)).toBe(true);
    expect(await ledger.latestSucceeded("other")).toBeNull();
  });
});
