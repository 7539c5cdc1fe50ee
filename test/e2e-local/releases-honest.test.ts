import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { recordOutcome } from "../../functions/record-outcome/record-outcome.js";
import { releasesCommand } from "../../local/releases.js";
import { SqliteDevLock } from "../../shared/adapters/local/sqlite-dev-lock.js";
import { SqliteLedger } from "../../shared/adapters/local/sqlite-ledger.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import { startRuntime, tempDir } from "../helpers/local.js";

const trigger = { source: "cli" as const, pusher: "dev" };

/** Claims and records one release the way the workflow does (ClaimRelease, then RecordOutcome). */
async function recorded(
  ledger: SqliteLedger,
  tag: string,
  at: string,
  deploy: NonNullable<ReleaseState["deploy"]>["result"],
) {
  const executionId = `arn:aws:states:us-east-1:000000000000:execution:pourover-coffeeshop-release:${tag}`;
  await ledger.claim({ app: "coffeeshop", tag, executionId, claimedAt: at, trigger });
  await recordOutcome(
    {
      release: { app: "coffeeshop", tag, trigger, force: false, deploy: { commandId: "c", result: deploy } },
      executionId,
    },
    { ledger, events: { publish: async () => {} }, clock: { now: () => new Date(Date.parse(at) + 60_000) } },
  );
}

describe("pourover releases is honest about what reached dev", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it("a superseded release (finished last, never deployed) is not 'on dev now'; the table says superseded and dry run", async () => {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const ledger = new SqliteLedger(join(dir.path, "ledger.sqlite"));
    await recorded(ledger, "v1.1.0", "2025-06-01T10:00:00.000Z", { instances: [], dryRun: false });
    await recorded(ledger, "v1.0.0", "2025-06-01T11:00:00.000Z", {
      instances: [],
      dryRun: false,
      superseded: true,
      by: "v1.1.0",
    });
    await recorded(ledger, "v0.9.0", "2025-06-01T09:00:00.000Z", { instances: [], dryRun: true });
    ledger.close();
    let out = "";
    await releasesCommand({ stateDir: dir.path, json: false }, (t) => {
      out += t;
    });
    expect(out).toContain("coffeeshop on dev now: v1.1.0");
    expect(out).toMatch(/v1\.0\.0 .*\(superseded by v1\.1\.0, not deployed\)/);
    expect(out).toMatch(/v0\.9\.0 .*\(dev deploy was a dry run\)/);
    let json = "";
    await releasesCommand({ stateDir: dir.path, json: true }, (t) => {
      json += t;
    });
    const parsed = JSON.parse(json);
    expect(parsed.onDev.coffeeshop.tag).toBe("v1.1.0");
    expect(parsed.releases.find((r: { tag: string }) => r.tag === "v1.0.0").supersededBy).toBe("v1.1.0");
    let one = "";
    await releasesCommand({ stateDir: dir.path, tag: "v1.0.0", json: false }, (t) => {
      one += t;
    });
    expect(one).toContain("coffeeshop v1.0.0: SUCCEEDED (superseded by v1.1.0, not deployed)");
  });

  it("the release summary says 'superseded by vX, not deployed' when a newer release holds the dev lock", async () => {
    const notices: string[] = [];
    const rt = await startRuntime({
      mailer: { send: async () => ({ messageId: "m" }) },
      log: (l) => notices.push(l),
    });
    cleanups.push(rt.stop);
    // v2.0.0 deployed (or is deploying) on dev: its version stays on the lock.
    const lock = new SqliteDevLock(join(rt.dir, "state", "ledger.sqlite"));
    await lock.write({ app: "coffeeshop", version: "v2.0.0", holder: null, heldUntil: null }, null);
    lock.close();
    const outcome = await rt.runtime.release({ tag: "v1.5.0" });
    expect(outcome.status).toBe("SUCCEEDED");
    expect(outcome.notes).toContain("superseded by v2.0.0, not deployed");
    expect(outcome.notes.join("\n")).not.toMatch(/DRY RUN/);
    const again = await rt.runtime.release({ tag: "v1.5.0" });
    expect(again.status).toBe("DUPLICATE");
    expect(again.duplicateOf).toMatchObject({ status: "SUCCEEDED", executionId: outcome.executionId });
    expect(again.notes[0]).toMatch(
      /^duplicate: coffeeshop v1\.5\.0 was already released: SUCCEEDED \(execution coffeeshop-v1\.5\.0-[0-9a-f]+, claimed .*, finished .*\)$/,
    );
  });
});
