import { join } from "node:path";
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import Database from "better-sqlite3";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { DynamoDbLedger } from "../../shared/adapters/aws/dynamodb-ledger.js";
import { SqliteLedger } from "../../shared/adapters/local/sqlite-ledger.js";
import type { ProdEntry } from "../../shared/ports/index.js";
import { tempDir } from "../helpers/local.js";

const entry = (over: Partial<ProdEntry> = {}): ProdEntry => ({
  status: "DEPLOYED",
  revision: "a".repeat(40),
  at: "2026-11-27T09:00:00.000Z",
  health: "Healthy",
  argoApp: "coffeeshop",
  ...over,
});

const claim = {
  app: "coffeeshop",
  tag: "v1.4.0",
  executionId: "e1",
  claimedAt: "2026-11-26T10:00:00.000Z",
  trigger: { source: "cli" as const, pusher: "me" },
};

describe("SqliteLedger.recordProd (real SQLite)", () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it("records on an existing release only, once per revision and status, touching nothing else", async () => {
    const ledger = new SqliteLedger(join(dir.path, "a.sqlite"));
    expect(await ledger.recordProd("coffeeshop", "v1.4.0", entry())).toBe("missing");
    expect(await ledger.get("coffeeshop", "v1.4.0")).toBeNull();

    await ledger.claim(claim);
    await ledger.record({
      ...claim,
      status: "SUCCEEDED",
      finishedAt: "2026-11-26T10:05:00.000Z",
      summary: { x: 1 },
    });
    expect(await ledger.recordProd("coffeeshop", "v1.4.0", entry())).toBe("recorded");
    expect(await ledger.recordProd("coffeeshop", "v1.4.0", entry({ at: "later" }))).toBe("unchanged");
    expect(await ledger.get("coffeeshop", "v1.4.0")).toEqual({
      ...claim,
      status: "SUCCEEDED",
      finishedAt: "2026-11-26T10:05:00.000Z",
      summary: { x: 1 },
      prod: entry(),
    });
    expect(
      await ledger.recordProd("coffeeshop", "v1.4.0", entry({ status: "DEGRADED", health: "Degraded" })),
    ).toBe("recorded");
    expect(await ledger.recordProd("coffeeshop", "v1.4.0", entry({ revision: "b".repeat(40) }))).toBe(
      "recorded",
    );
    expect((await ledger.get("coffeeshop", "v1.4.0"))?.prod?.revision).toBe("b".repeat(40));
    // The outcome of the execution does not wipe what prod reported.
    await ledger.record({
      ...claim,
      status: "SUCCEEDED",
      finishedAt: "2026-11-26T10:06:00.000Z",
      summary: {},
    });
    expect((await ledger.get("coffeeshop", "v1.4.0"))?.prod?.status).toBe("DEPLOYED");
    expect((await ledger.latestSucceeded("coffeeshop"))?.prod?.status).toBe("DEPLOYED");
    ledger.close();
  });

  it("opens a ledger written before the prod column existed", async () => {
    const file = join(dir.path, "old.sqlite");
    const db = new Database(file);
    db.exec(`CREATE TABLE releases (pk TEXT PRIMARY KEY, app TEXT NOT NULL, tag TEXT NOT NULL,
      execution_id TEXT NOT NULL, status TEXT NOT NULL, claimed_at TEXT NOT NULL, finished_at TEXT,
      trig TEXT NOT NULL, summary TEXT)`);
    db.prepare(
      "INSERT INTO releases VALUES ('coffeeshop#v1.0.0','coffeeshop','v1.0.0','e0','SUCCEEDED','t','t','{}',NULL)",
    ).run();
    db.close();
    const ledger = new SqliteLedger(file);
    expect((await ledger.get("coffeeshop", "v1.0.0"))?.prod).toBeUndefined();
    expect(await ledger.recordProd("coffeeshop", "v1.0.0", entry())).toBe("recorded");
    expect((await ledger.get("coffeeshop", "v1.0.0"))?.prod).toEqual(entry());
    ledger.close();
    // Opening it again does not try to add the column twice.
    new SqliteLedger(file).close();
  });
});

describe("DynamoDbLedger.recordProd (DynamoDB mocked)", () => {
  const ddb = mockClient(DynamoDBClient);
  beforeEach(() => ddb.reset());
  const ledger = new DynamoDbLedger(new DynamoDBClient({}), "ledger");

  it("one UpdateItem that sets only prod, on an existing item, unless the same revision and status", async () => {
    ddb.on(UpdateItemCommand).resolves({});
    expect(await ledger.recordProd("coffeeshop", "v1.4.0", entry())).toBe("recorded");
    const calls = ddb.commandCalls(UpdateItemCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input).toMatchObject({
      TableName: "ledger",
      Key: { pk: { S: "coffeeshop#v1.4.0" } },
      UpdateExpression: "SET prod = :prod",
      ReturnValuesOnConditionCheckFailure: "ALL_OLD",
    });
    expect(input?.ConditionExpression).toMatch(/^attribute_exists\(pk\) AND \(/);
    expect(input?.ConditionExpression).toContain("prod.revision <> :revision");
    expect(input?.ExpressionAttributeValues?.[":prod"]).toEqual({
      M: {
        status: { S: "DEPLOYED" },
        revision: { S: "a".repeat(40) },
        at: { S: "2026-11-27T09:00:00.000Z" },
        health: { S: "Healthy" },
        argoApp: { S: "coffeeshop" },
      },
    });
  });

  it("a failed condition with the old item is unchanged; without one, the release is missing", async () => {
    ddb
      .on(UpdateItemCommand)
      .rejectsOnce(
        new ConditionalCheckFailedException({
          message: "The conditional request failed",
          $metadata: {},
          Item: { pk: { S: "coffeeshop#v1.4.0" } },
        }),
      )
      .rejectsOnce(
        new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} }),
      );
    expect(await ledger.recordProd("coffeeshop", "v1.4.0", entry())).toBe("unchanged");
    expect(await ledger.recordProd("coffeeshop", "v9.9.9", entry())).toBe("missing");
  });

  it("other errors propagate", async () => {
    ddb.on(UpdateItemCommand).rejects(new Error("ProvisionedThroughputExceededException"));
    await expect(ledger.recordProd("coffeeshop", "v1.4.0", entry())).rejects.toThrow(/Throughput/);
  });

  it("get returns the prod map", async () => {
    ddb.on(GetItemCommand).resolves({
      Item: {
        pk: { S: "coffeeshop#v1.4.0" },
        app: { S: "coffeeshop" },
        tag: { S: "v1.4.0" },
        executionId: { S: "e1" },
        status: { S: "SUCCEEDED" },
        claimedAt: { S: "t" },
        trigger: { S: "{}" },
        prod: {
          M: {
            status: { S: "DEGRADED" },
            revision: { S: "a".repeat(40) },
            at: { S: "2026-11-27T09:00:00.000Z" },
            health: { S: "Degraded" },
            argoApp: { S: "coffeeshop" },
          },
        },
      },
    });
    expect((await ledger.get("coffeeshop", "v1.4.0"))?.prod).toEqual(
      entry({ status: "DEGRADED", health: "Degraded" }),
    );
  });
});
