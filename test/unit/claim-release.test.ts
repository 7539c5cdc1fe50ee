/** The ClaimRelease core on the real SQLite ledger (the local stand-in of the DynamoDB one). */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { claimRelease } from "../../functions/claim-release/claim-release.js";
import { SqliteLedger } from "../../shared/adapters/local/sqlite-ledger.js";
import { tempDir } from "../helpers/local.js";

const AT = "2025-03-01T12:00:00.000Z";
const clock = { now: () => new Date(AT) };
const trigger = { source: "cli", pusher: "barista" } as const;
const request = (tag: string, extra: Record<string, unknown> = {}) => ({
  app: "coffeeshop",
  tag,
  trigger,
  ...extra,
});

describe("claimRelease", () => {
  const dirs: Array<() => void> = [];
  afterEach(() => {
    for (const cleanup of dirs.splice(0)) cleanup();
  });
  const ledger = () => {
    const dir = tempDir();
    dirs.push(dir.cleanup);
    return new SqliteLedger(join(dir.path, "ledger.db"));
  };

  it("claims app#tag for the execution, at the clock's time, with the trigger", async () => {
    const l = ledger();
    expect(
      await claimRelease({ request: request("v1.2.3"), executionId: "exec-1" }, { ledger: l, clock }),
    ).toEqual({
      claimedAt: AT,
    });
    expect(await l.get("coffeeshop", "v1.2.3")).toMatchObject({
      app: "coffeeshop",
      tag: "v1.2.3",
      executionId: "exec-1",
      status: "RUNNING",
      claimedAt: AT,
      trigger,
    });
  });

  it("a second claim of the same tag is ReleaseAlreadyClaimedError (the workflow's Duplicate) and keeps the first", async () => {
    const l = ledger();
    await claimRelease({ request: request("v1.2.3"), executionId: "exec-1" }, { ledger: l, clock });
    await expect(
      claimRelease({ request: request("v1.2.3"), executionId: "exec-2" }, { ledger: l, clock }),
    ).rejects.toMatchObject({ name: "ReleaseAlreadyClaimedError" });
    expect((await l.get("coffeeshop", "v1.2.3"))?.executionId).toBe("exec-1");
  });

  it("a rollback claims its own record, leaving the release it goes back to alone", async () => {
    const l = ledger();
    await claimRelease({ request: request("v1.2.3"), executionId: "exec-1" }, { ledger: l, clock });
    const rollback = { requestedAt: "2025-03-02T08:30:00.000Z", requestedBy: "barista" };
    await claimRelease(
      { request: request("v1.2.3", { rollback }), executionId: "exec-rb" },
      { ledger: l, clock },
    );
    expect((await l.get("coffeeshop", "v1.2.3"))?.executionId).toBe("exec-1");
    const records = l.list("coffeeshop").map((r) => [r.tag, r.executionId]);
    expect(records).toHaveLength(2);
    expect(records).toContainEqual([expect.stringMatching(/^v1\.2\.3~rollback-/), "exec-rb"]);
  });

  it("an invalid request is InvalidInputError naming the field, and claims nothing", async () => {
    const l = ledger();
    await expect(
      claimRelease(
        { request: { app: "coffeeshop", tag: "latest", trigger }, executionId: "x" },
        { ledger: l, clock },
      ),
    ).rejects.toMatchObject({ name: "InvalidInputError", message: expect.stringContaining("tag") });
    expect(l.list("coffeeshop")).toEqual([]);
  });
});
