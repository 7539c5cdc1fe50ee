import { join } from "node:path";
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
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
    expect(input?.ConditionExpression).toBe("attribute_not_exists(pk) OR #status = :failed");
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
  });
});
