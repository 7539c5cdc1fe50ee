import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { releasesCommand } from "../../local/releases.js";
import { rollbackCommand } from "../../local/rollback.js";
import { EXAMPLE_DIR, exampleConfig, startRuntime, tempDir } from "../helpers/local.js";

/** The local PR records, by head branch. */
function pullRecords(
  stateDir: string,
): Record<
  string,
  { title: string; body: string; statuses?: { state: string; context: string; description: string }[] }
> {
  const dir = join(stateDir, "pulls");
  return Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => {
        const r = JSON.parse(readFileSync(join(dir, f), "utf8"));
        return [r.head, r];
      }),
  );
}

describe("rollback, locally end to end", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it("release v1 → release v2 → rollback v1: dev runs v1 (rolled back), one PR record and one email per step", async () => {
    const { runtime, dir, stop } = await startRuntime();
    cleanups.push(stop);
    const stateDir = join(dir, "state");
    const v1 = await runtime.release({ tag: "v1.0.0" });
    const v2 = await runtime.release({ tag: "v2.0.0" });
    expect([v1.status, v2.status]).toEqual(["SUCCEEDED", "SUCCEEDED"]);
    // Executions are named after what they are.
    expect(v1.executionId.split(":").pop()).toBe("coffeeshop-v1.0.0-1");
    await runtime.close();

    const lines: string[] = [];
    const errors: string[] = [];
    const code = await rollbackCommand(
      {
        tag: "v1.0.0",
        config: exampleConfig(),
        configDir: EXAMPLE_DIR,
        stateDir,
        json: false,
        requestedBy: "alice",
      },
      { out: (l) => lines.push(l), err: (l) => errors.push(l), json: () => {} },
    );
    expect(errors).toEqual([]);
    expect(code).toBe(0);
    expect(lines.join("\n")).toMatch(/SUCCEEDED {2}rolled back coffeeshop to v1\.0\.0 from v2\.0\.0/);

    // One PR record per step: two release branches and the rollback branch.
    const pulls = pullRecords(stateDir);
    expect(Object.keys(pulls).sort()).toEqual([
      "release/coffeeshop/v1.0.0",
      "release/coffeeshop/v2.0.0",
      "rollback/coffeeshop/v1.0.0",
    ]);
    const rollbackPr = pulls["rollback/coffeeshop/v1.0.0"];
    expect(rollbackPr?.title).toBe("Roll back coffeeshop to v1.0.0");
    expect(rollbackPr?.body).toContain("Rolls **coffeeshop** back to **v1.0.0** (from v2.0.0)");
    // The dev result was written back onto every PR, with the pourover/dev status.
    for (const pr of Object.values(pulls)) {
      expect(pr.body).not.toContain("**Dev deploy:** pending");
      expect(pr.statuses?.at(-1)?.context).toBe("pourover/dev");
    }
    // The rollback pins v1's images: the compose file of the rollback branch names v1.0.0, not v2.
    const v1Images = (v1.output as { gate: { images: { digest?: string }[] } }).gate.images;
    const rollbackState = JSON.parse(
      readFileSync(
        join(
          stateDir,
          "executions",
          readdirSync(join(stateDir, "executions")).find((f) => f.includes("rollback")) ?? "",
        ),
        "utf8",
      ),
    );
    expect(rollbackState.name).toMatch(/^coffeeshop-rollback-v1\.0\.0-\d{8}T\d{6}Z$/);
    const pinned = (rollbackState.outcome.output as { gate: { images: { digest?: string; tag: string }[] } })
      .gate.images;
    expect(pinned.map((i) => i.digest)).toEqual(v1Images.map((i) => i.digest));
    expect(pinned.every((i) => i.tag === "v1.0.0")).toBe(true);
    // Nothing was built or scanned: the Map went straight to the recalled scans.
    const states = (rollbackState.outcome.states as { name: string }[]).map((s) => s.name);
    expect(states).toContain("RecalledScan");
    expect(states).not.toContain("BuildScanPush");
    expect(states).not.toContain("EvaluateScan");

    // An email each; the rollback's says so.
    const outbox = readdirSync(join(stateDir, "outbox")).filter((f) => f.endsWith(".eml"));
    expect(outbox.length).toBe(3);
    const subjects = outbox.map((f) => readFileSync(join(stateDir, "outbox", f), "utf8"));
    expect(subjects.some((t) => t.includes("rolled back to v1.0.0"))).toBe(true);

    let out = "";
    await releasesCommand({ stateDir, json: false }, (t) => {
      out += t;
    });
    expect(out).toContain("coffeeshop on dev now: v1.0.0 (rolled back from v2.0.0");

    // The rollback sticks: a redelivered v2 trigger is a duplicate, an older new tag is superseded
    // by the rollback; only a newer tag moves dev on.
    const again = await startRuntime({ stateDir });
    cleanups.push(again.stop);
    expect((await again.runtime.release({ tag: "v2.0.0" })).status).toBe("DUPLICATE");
    const older = await again.runtime.release({ tag: "v0.5.0" });
    expect(older.notes).toContain("superseded by the rollback to v1.0.0, not deployed");
    let still = "";
    await releasesCommand({ stateDir, json: false }, (t) => {
      still += t;
    });
    expect(still).toContain("coffeeshop on dev now: v1.0.0 (rolled back");
    const newer = await again.runtime.release({ tag: "v3.0.0" });
    expect(newer.status).toBe("SUCCEEDED");
    expect(newer.notes.join(" ")).not.toContain("superseded");
  });

  it("refuses with one line a target that was never released successfully, touching nothing", async () => {
    const { runtime, dir, stop } = await startRuntime();
    cleanups.push(stop);
    const stateDir = join(dir, "state");
    await runtime.release({ tag: "v1.0.0" });
    await runtime.close();
    const errors: string[] = [];
    const code = await rollbackCommand(
      { tag: "v0.9.0", config: exampleConfig(), configDir: EXAMPLE_DIR, stateDir, json: false },
      { out: () => {}, err: (l) => errors.push(l), json: () => {} },
    );
    expect(code).toBe(2);
    expect(errors).toEqual(["pourover: cannot roll back coffeeshop to v0.9.0: v0.9.0 was never released"]);
    expect(Object.keys(pullRecords(stateDir))).toEqual(["release/coffeeshop/v1.0.0"]);
  });

  it("refuses in the workflow when the target's images are gone from the registry", async () => {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const first = await startRuntime();
    cleanups.push(first.stop);
    await first.runtime.release({ tag: "v1.0.0" });
    const gone = await startRuntime({
      stateDir: join(first.dir, "state"),
      imagePresence: { exists: async () => false },
    });
    cleanups.push(gone.stop);
    const out = await gone.runtime.release({
      tag: "v1.0.0",
      rollback: { requestedAt: new Date().toISOString(), requestedBy: "alice", from: null },
    });
    expect(out.status).toBe("FAILED");
    expect(out.error?.error).toBe("RollbackRefusedError");
    expect(out.error?.cause).toMatch(
      /^cannot roll back coffeeshop to v1\.0\.0: its images are gone from the registry: /,
    );
  });
});
