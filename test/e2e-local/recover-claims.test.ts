import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LocalRuntime } from "../../local/runtime.js";
import { currentProcessOwner } from "../../shared/adapters/local/process-owner.js";
import { SqliteDevLock } from "../../shared/adapters/local/sqlite-dev-lock.js";
import { SqliteLedger } from "../../shared/adapters/local/sqlite-ledger.js";
import { EXAMPLE_DIR, exampleConfig, tempDir } from "../helpers/local.js";

const exec = (name: string) =>
  `arn:aws:states:us-east-1:000000000000:execution:pourover-coffeeshop-release:${name}`;
const trigger = { source: "cli" as const, pusher: "dev" };

describe("claims left RUNNING are recovered when a runtime starts", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it("a dead owner's claim and lock are freed; a live owner's and a recent owner-less claim are left; an owner-less claim past TimeoutSeconds is freed", async () => {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const stateDir = join(dir.path, "state");
    mkdirSync(stateDir);
    const file = join(stateDir, "ledger.sqlite");
    const now = Date.now();
    const at = (msAgo: number) => new Date(now - msAgo).toISOString();
    // A claim by a process that no longer runs (another start time for this pid: a reused pid).
    const dead = new SqliteLedger(file, { owner: { ...currentProcessOwner(), start: "1" } });
    await dead.claim({
      app: "coffeeshop",
      tag: "v1.0.0",
      executionId: exec("dead"),
      claimedAt: at(60_000),
      trigger,
    });
    dead.close();
    const lock = new SqliteDevLock(file);
    await lock.write(
      { app: "coffeeshop", version: "v1.0.0", holder: exec("dead"), heldUntil: at(-3_600_000) },
      null,
    );
    lock.close();
    // This very process: alive.
    const live = new SqliteLedger(file, { owner: currentProcessOwner() });
    await live.claim({
      app: "coffeeshop",
      tag: "v1.1.0",
      executionId: exec("live"),
      claimedAt: at(1000),
      trigger,
    });
    live.close();
    // Written by an older Pourover, which kept no owner: one an hour old, one seven hours old.
    const old = new SqliteLedger(file);
    await old.claim({
      app: "coffeeshop",
      tag: "v0.9.0",
      executionId: exec("recent"),
      claimedAt: at(3_600_000),
      trigger,
    });
    await old.claim({
      app: "coffeeshop",
      tag: "v0.8.0",
      executionId: exec("ancient"),
      claimedAt: at(7 * 3_600_000),
      trigger,
    });
    old.close();

    const lines: string[] = [];
    const runtime = await LocalRuntime.start({
      config: exampleConfig(),
      configDir: EXAMPLE_DIR,
      stateDir,
      mailer: { send: async () => ({ messageId: "m" }) },
      log: (l) => lines.push(l),
    });
    cleanups.push(() => runtime.close());
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^pourover: recovered coffeeshop v0\.8\.0: its release \(execution ancient, claimed .*\) never finished and is past the 21600 s limit; claim freed; it may be released again$/,
    );
    expect(lines[1]).toBe(
      `pourover: recovered coffeeshop v1.0.0: its release (execution dead, pid ${process.pid}) was interrupted and that process is gone; claim freed, dev lock freed; it may be released again`,
    );
    expect((await runtime.ledger.get("coffeeshop", "v1.0.0"))?.status).toBe("ABORTED");
    expect((await runtime.ledger.get("coffeeshop", "v0.8.0"))?.status).toBe("ABORTED");
    expect((await runtime.ledger.get("coffeeshop", "v1.1.0"))?.status).toBe("RUNNING");
    expect((await runtime.ledger.get("coffeeshop", "v0.9.0"))?.status).toBe("RUNNING");
    expect(await runtime.devLock.read("coffeeshop")).toMatchObject({ holder: null, version: "v1.0.0" });
    // Nothing left to recover: a second pass says nothing.
    expect(await runtime.recoverAbandoned()).toEqual([]);
  });
});
