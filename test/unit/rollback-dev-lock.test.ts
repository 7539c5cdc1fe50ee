import { describe, expect, it } from "vitest";
import { acquireDevLock } from "../../functions/acquire-dev-lock/acquire-dev-lock.js";
import type { DevLock, DevLockRecord } from "../../shared/ports/index.js";

/** The dev lock's conditional-write semantics, in memory. */
function memoryLock(): DevLock & { record: DevLockRecord | null } {
  return {
    record: null,
    async read() {
      return this.record;
    },
    async write(next, expectedRev) {
      if ((this.record?.rev ?? null) !== expectedRev) return false;
      this.record = { ...next, rev: (expectedRev ?? 0) + 1 };
      return true;
    },
    async release(_app, executionId) {
      if (this.record?.holder !== executionId) return false;
      this.record = { ...this.record, holder: null, heldUntil: null, rev: this.record.rev + 1 };
      return true;
    },
  };
}

const clock = { now: () => new Date("2026-12-01T12:00:00.000Z") };
const base = { app: "coffeeshop", timeoutSeconds: 600 };

describe("the dev lock and a rollback: newest by time of request, not by tag", () => {
  it("a release of a newer tag claimed before the rollback never moves dev off it; one claimed after does", async () => {
    const lock = memoryLock();
    await acquireDevLock(
      { ...base, tag: "v2.0.0", executionId: "v2", claimedAt: "2026-12-01T11:00:00.000Z" },
      { lock, clock },
    );
    await lock.release("coffeeshop", "v2");
    const rollback = await acquireDevLock(
      {
        ...base,
        tag: "v1.0.0",
        force: true,
        executionId: "rb",
        claimedAt: "2026-12-01T11:30:00.000Z",
        rollback: { requestedAt: "2026-12-01T11:30:00.000Z" },
      },
      { lock, clock },
    );
    expect(rollback.acquired).toBe(true);
    expect(lock.record?.version).toBe("v1.0.0~rollback-20261201T113000Z");
    await lock.release("coffeeshop", "rb");

    // A v2.1.0 release claimed at 11:20 (before the rollback) reaches the lock late: superseded.
    const late = await acquireDevLock(
      { ...base, tag: "v2.1.0", executionId: "late", claimedAt: "2026-12-01T11:20:00.000Z" },
      { lock, clock },
    );
    expect(late).toEqual({ acquired: false, superseded: true, supersededBy: "the rollback to v1.0.0" });
    // An older tag claimed after the rollback: superseded by it too.
    const older = await acquireDevLock(
      { ...base, tag: "v0.9.0", executionId: "older", claimedAt: "2026-12-01T11:40:00.000Z" },
      { lock, clock },
    );
    expect(older).toEqual({ acquired: false, superseded: true, supersededBy: "the rollback to v1.0.0" });
    // A newer tag claimed after the rollback moves dev on.
    const newer = await acquireDevLock(
      { ...base, tag: "v2.1.0", executionId: "newer", claimedAt: "2026-12-01T11:45:00.000Z" },
      { lock, clock },
    );
    expect(newer.acquired).toBe(true);
    expect(lock.record?.version).toBe("v2.1.0");
  });
});
