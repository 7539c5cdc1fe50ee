import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { acquireDevLock, LEASE_MARGIN_SECONDS } from "../../functions/acquire-dev-lock/acquire-dev-lock.js";
import { localDevLockRelease } from "../../local/local-tasks.js";
import { ASL_PATH, loadDefinition, localSubstitutions } from "../../local/runtime.js";
import { DynamoDbDevLock } from "../../shared/adapters/aws/dynamodb-dev-lock.js";
import { SqliteDevLock } from "../../shared/adapters/local/sqlite-dev-lock.js";
import { compareReleaseTags } from "../../shared/domain/release-version.js";
import { tempDir } from "../helpers/local.js";

/**
 * ReleaseDevLock as the workflow runs it: the ASL's UpdateItem Parameters with `$.app` and
 * `$$.Execution.Id` resolved, on the local stand-in. A failed condition is what the state catches.
 */
async function releaseDevLock(
  input: { app?: string; executionId?: string },
  deps: { lock: SqliteDevLock },
): Promise<{ released: boolean }> {
  const states = (
    loadDefinition(localSubstitutions("us-east-1"), ASL_PATH) as {
      States: Record<string, { Parameters: unknown }>;
    }
  ).States;
  const params = JSON.parse(
    JSON.stringify(states.ReleaseDevLock?.Parameters)
      .replace(
        `"S.$":"States.Format('devlock#{}', $.app)"`,
        `"S":${JSON.stringify(`devlock#${input.app ?? ""}`)}`,
      )
      .replace(`"S.$":"$$.Execution.Id"`, `"S":${JSON.stringify(input.executionId ?? "")}`),
  );
  try {
    expect(await localDevLockRelease(deps.lock)(params)).toEqual({});
    return { released: true };
  } catch (error) {
    if ((error as Error).name === "DynamoDB.ConditionalCheckFailedException") return { released: false };
    throw error;
  }
}

/** The dev lock of VerifyDev's deploy: one deploy at a time, newest release wins (cores + both adapters). */
const NOW = new Date("2025-06-01T12:00:00.000Z");
const clock = { now: () => NOW };
const req = (tag: string, executionId = `exec-${tag}`, extra: Record<string, unknown> = {}) => ({
  app: "coffeeshop",
  tag,
  executionId,
  timeoutSeconds: 600,
  ...extra,
});

describe("acquireDevLock / releaseDevLock on SQLite", () => {
  const dirs: { cleanup: () => void }[] = [];
  const locks: SqliteDevLock[] = [];
  afterEach(() => {
    for (const l of locks.splice(0)) l.close();
    for (const d of dirs.splice(0)) d.cleanup();
  });
  function fresh() {
    const dir = tempDir();
    dirs.push(dir);
    const lock = new SqliteDevLock(`${dir.path}/ledger.sqlite`);
    locks.push(lock);
    return lock;
  }

  it("takes a free lock with a lease of the deploy timeout plus the VerifyDev window, then gives it back", async () => {
    const lock = fresh();
    const got = await acquireDevLock(req("v1.0.0"), { lock, clock });
    expect(got).toEqual({
      acquired: true,
      version: "v1.0.0",
      heldUntil: new Date(NOW.getTime() + (600 + LEASE_MARGIN_SECONDS) * 1000).toISOString(),
    });
    expect(await lock.read("coffeeshop")).toMatchObject({ version: "v1.0.0", holder: "exec-v1.0.0", rev: 1 });
    expect(await releaseDevLock({ app: "coffeeshop", executionId: "exec-v1.0.0" }, { lock })).toEqual({
      released: true,
    });
    expect(await lock.read("coffeeshop")).toMatchObject({
      version: "v1.0.0",
      holder: null,
      heldUntil: null,
      rev: 2,
    });
  });

  it("an older release than the one that holds or held the lock is superseded; equal or newer proceeds", async () => {
    const lock = fresh();
    await acquireDevLock(req("v2.0.0"), { lock, clock });
    expect(await acquireDevLock(req("v1.9.9"), { lock, clock })).toEqual({
      acquired: false,
      superseded: true,
      supersededBy: "v2.0.0",
    });
    await releaseDevLock({ app: "coffeeshop", executionId: "exec-v2.0.0" }, { lock });
    expect(await acquireDevLock(req("v1.9.9"), { lock, clock })).toMatchObject({
      acquired: false,
      supersededBy: "v2.0.0",
    });
    expect(await acquireDevLock(req("v2.0.0", "exec-again"), { lock, clock })).toMatchObject({
      acquired: true,
    });
    await releaseDevLock({ app: "coffeeshop", executionId: "exec-again" }, { lock });
    expect(await acquireDevLock(req("v2.0.1"), { lock, clock })).toMatchObject({
      acquired: true,
      version: "v2.0.1",
    });
  });

  it("held by another running deploy of an older or equal version: DevLockBusyError (retryable)", async () => {
    const lock = fresh();
    await acquireDevLock(req("v1.0.0"), { lock, clock });
    const busy = acquireDevLock(req("v1.1.0"), { lock, clock });
    await expect(busy).rejects.toMatchObject({ name: "DevLockBusyError", retryable: true });
    await expect(acquireDevLock(req("v1.1.0"), { lock, clock })).rejects.toThrow(
      /v1\.0\.0 is running.*retry after/,
    );
    // The same execution asking again (a retried Lambda) keeps its lock.
    expect(await acquireDevLock(req("v1.0.0"), { lock, clock })).toMatchObject({ acquired: true });
  });

  it("a lease that ran out no longer blocks; forcing lets an older release deploy on purpose", async () => {
    const lock = fresh();
    await acquireDevLock(req("v1.0.0"), { lock, clock });
    const later = { now: () => new Date(NOW.getTime() + (600 + LEASE_MARGIN_SECONDS + 1) * 1000) };
    expect(await acquireDevLock(req("v1.1.0"), { lock, clock: later })).toMatchObject({ acquired: true });
    await releaseDevLock({ app: "coffeeshop", executionId: "exec-v1.1.0" }, { lock });
    expect(await acquireDevLock(req("v0.9.0", "e", { force: true }), { lock, clock })).toMatchObject({
      acquired: true,
      version: "v0.9.0",
    });
  });

  it("releasing a lock this execution does not hold is not an error and changes nothing", async () => {
    const lock = fresh();
    await acquireDevLock(req("v1.0.0"), { lock, clock });
    expect(await releaseDevLock({ app: "coffeeshop", executionId: "someone-else" }, { lock })).toEqual({
      released: false,
    });
    expect((await lock.read("coffeeshop"))?.holder).toBe("exec-v1.0.0");
  });

  it("a write on a stale read loses: only one of two racing acquirers gets the lock", async () => {
    const lock = fresh();
    expect(await lock.write({ app: "coffeeshop", version: "v1", holder: "a", heldUntil: null }, null)).toBe(
      true,
    );
    expect(await lock.write({ app: "coffeeshop", version: "v2", holder: "b", heldUntil: null }, null)).toBe(
      false,
    );
    expect(await lock.write({ app: "coffeeshop", version: "v2", holder: "b", heldUntil: null }, 1)).toBe(
      true,
    );
    expect(await lock.write({ app: "coffeeshop", version: "v3", holder: "c", heldUntil: null }, 1)).toBe(
      false,
    );
    const racing = {
      read: lock.read.bind(lock),
      release: lock.release.bind(lock),
      write: async () => false,
    };
    await lock.release("coffeeshop", "b");
    await expect(acquireDevLock(req("v9.0.0"), { lock: racing, clock })).rejects.toThrow(/took the dev lock/);
  });

  it("rejects bad input with one line per field", async () => {
    const lock = fresh();
    await expect(acquireDevLock({ app: "coffeeshop" }, { lock, clock })).rejects.toMatchObject({
      name: "InvalidInputError",
    });
    // An UpdateItem the stand-in does not model (no key, no holder) fails as DynamoDB would refuse it.
    await expect(releaseDevLock({}, { lock })).rejects.toMatchObject({
      name: "DynamoDB.ValidationException",
    });
  });
});

describe("compareReleaseTags (the dev lock's order): semver precedence", () => {
  it.each([
    ["v1.0.0", "v1.0.1", -1],
    ["v2.0.0", "v1.99.99", 1],
    ["v1.0.0-rc.1", "v1.0.0", -1],
    ["v1.0.0-rc.2", "v1.0.0-rc.10", -1],
    ["v1.0.0-alpha", "v1.0.0-alpha.1", -1],
  ] as const)("%s vs %s → %i", (a, b, expected) => {
    expect(compareReleaseTags(a, b)).toBe(expected);
    expect(compareReleaseTags(b, a)).toBe(-expected || 0);
  });
  it("no order for a non-semver tag", () => expect(compareReleaseTags("latest", "v1.0.0")).toBeNull());
  it("no order for build metadata: the tag policy refuses v1.0.0+build.1 before any release", () =>
    expect(compareReleaseTags("v1.0.0+build.1", "v1.0.0")).toBeNull());
});

describe("DynamoDbDevLock: conditional writes on devlock#<app>", () => {
  const ddb = mockClient(DynamoDBClient);
  afterEach(() => ddb.reset());
  const lock = () => new DynamoDbDevLock(new DynamoDBClient({ region: "us-east-1" }), "ledger");

  it("reads consistently and maps a released lock (no holder) to null", async () => {
    ddb.on(GetItemCommand).resolves({
      Item: { pk: { S: "devlock#coffeeshop" }, version: { S: "v1.0.0" }, rev: { N: "3" } },
    });
    expect(await lock().read("coffeeshop")).toEqual({
      app: "coffeeshop",
      version: "v1.0.0",
      holder: null,
      heldUntil: null,
      rev: 3,
    });
    expect(ddb.commandCalls(GetItemCommand)[0]?.args[0].input).toMatchObject({
      Key: { pk: { S: "devlock#coffeeshop" } },
      ConsistentRead: true,
    });
  });

  it("writes only over the revision it read, or only when absent; a lost race answers false", async () => {
    ddb
      .on(PutItemCommand)
      .resolvesOnce({})
      .rejectsOnce(new ConditionalCheckFailedException({ message: "conditional", $metadata: {} }));
    const next = { app: "coffeeshop", version: "v2.0.0", holder: "exec", heldUntil: "2025-01-01T00:00:00Z" };
    expect(await lock().write(next, null)).toBe(true);
    expect(await lock().write(next, 4)).toBe(false);
    const [first, second] = ddb.commandCalls(PutItemCommand).map((c) => c.args[0].input);
    expect(first).toMatchObject({
      ConditionExpression: "attribute_not_exists(pk)",
      Item: { rev: { N: "1" } },
    });
    expect(second).toMatchObject({
      ConditionExpression: "rev = :rev",
      ExpressionAttributeValues: { ":rev": { N: "4" } },
      Item: {
        pk: { S: "devlock#coffeeshop" },
        holder: { S: "exec" },
        version: { S: "v2.0.0" },
        rev: { N: "5" },
      },
    });
  });

  it("releases only when this execution holds it", async () => {
    ddb
      .on(UpdateItemCommand)
      .resolvesOnce({})
      .rejectsOnce(new ConditionalCheckFailedException({ message: "conditional", $metadata: {} }));
    expect(await lock().release("coffeeshop", "exec")).toBe(true);
    expect(await lock().release("coffeeshop", "exec")).toBe(false);
    expect(ddb.commandCalls(UpdateItemCommand)[0]?.args[0].input).toMatchObject({
      ConditionExpression: "holder = :me",
      UpdateExpression: "REMOVE holder, heldUntil SET rev = rev + :one",
    });
  });
});
