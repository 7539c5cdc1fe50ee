import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../local/runtime.js";
import { tempDir } from "../helpers/local.js";

const BIN = join(PROJECT_ROOT, "local", "bin", "pourover.js");

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once stderr holds a line matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/** The real CLI as a user runs it, a process of its own. */
function pourover(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    err += d;
    for (const w of [...waiters]) if (w.pattern.test(err)) w.resolve();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit,
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        if (pattern.test(err)) return resolve();
        const timer = setTimeout(
          () => reject(new Error(`no ${pattern} on stderr within ${timeoutMs} ms:\n${err}`)),
          timeoutMs,
        );
        waiters.push({
          pattern,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        void exit.then(() => {
          if (!pattern.test(err)) reject(new Error(`exited before ${pattern}:\n${err}\n${out}`));
        });
      }),
  };
}

const manifestsRepo = (stateDir: string) => join(stateDir, "repos", "coffeeshop-manifests");

/** Commits on the release branch that are not on main: what the release made. */
function releaseCommits(stateDir: string, tag: string): number {
  const out = execFileSync("git", ["rev-list", "--count", `main..refs/heads/release/coffeeshop/${tag}`], {
    cwd: manifestsRepo(stateDir),
    encoding: "utf8",
  });
  return Number(out.trim());
}

const emailsIn = (stateDir: string) =>
  readdirSync(join(stateDir, "outbox")).filter((f) => f.endsWith(".eml"));

describe("interrupted releases give back their claim and lock (real CLI processes)", () => {
  const dir = tempDir("pourover-interrupt-");
  beforeAll(() => {
    // Builds the CLI bundle once, so the runs below do not each rebuild it.
    execFileSync(process.execPath, [BIN, "config"], { cwd: PROJECT_ROOT });
  }, 120_000);
  afterAll(() => dir.cleanup());

  const points: [string, string, NodeJS.Signals, number][] = [
    ["after ClaimRelease", "after:ClaimRelease", "SIGINT", 130],
    ["after AcquireDevLock", "after:AcquireDevLock", "SIGINT", 130],
    ["during SendNotification (NotifySuccess)", "before:NotifySuccess", "SIGINT", 130],
    ["after AcquireDevLock, by SIGTERM", "after:AcquireDevLock", "SIGTERM", 143],
  ];
  for (const [label, pause, signal, exitCode] of points) {
    it(`${signal} ${label}: ABORTED in one line, exit ${exitCode}; the same tag again completes once, one commit, one email`, async () => {
      const stateDir = join(dir.path, pause.replace(/[^a-z]/gi, "-") + signal);
      const tag = "v3.1.4";
      const first = pourover(["release", tag, "--state-dir", stateDir], { POUROVER_TEST_PAUSE: pause });
      await first.waitFor(/test pause/);
      first.child.kill(signal);
      const ended = await first.exit;
      expect(ended.code, first.stderr()).toBe(exitCode);
      const abortLines = first
        .stderr()
        .split("\n")
        .filter((l) => l.includes("ABORTED"));
      expect(abortLines).toHaveLength(1);
      expect(abortLines[0]).toContain(`${signal}: coffeeshop ${tag} ABORTED`);
      expect(abortLines[0]).toContain("claim freed");
      // ReleaseDevLock runs before NotifySuccess: only a release stopped between them holds it.
      expect(abortLines[0]).toContain(
        pause.includes("AcquireDevLock") ? "dev lock freed" : "no dev lock held",
      );

      const second = pourover(["release", tag, "--json", "--state-dir", stateDir]);
      const done = await second.exit;
      expect(done.code, second.stderr()).toBe(0);
      const outcome = JSON.parse(second.stdout());
      expect(outcome.status, second.stderr()).toBe("SUCCEEDED");
      expect(releaseCommits(stateDir, tag)).toBe(1);
      expect(emailsIn(stateDir)).toHaveLength(1);

      const executions = pourover(["executions", "--json", "--state-dir", stateDir]);
      await executions.exit;
      const statuses = JSON.parse(executions.stdout()).map((e: { status: string }) => e.status);
      expect(statuses.sort()).toEqual(["ABORTED", "SUCCEEDED"]);
    }, 120_000);
  }

  it("kill -9 after AcquireDevLock, then the same tag again: recovered with one line, then SUCCEEDED", async () => {
    const stateDir = join(dir.path, "kill9");
    const tag = "v2.7.1";
    const first = pourover(["release", tag, "--state-dir", stateDir], {
      POUROVER_TEST_PAUSE: "after:AcquireDevLock",
    });
    await first.waitFor(/test pause/);
    first.child.kill("SIGKILL");
    expect((await first.exit).signal).toBe("SIGKILL");

    const second = pourover(["release", tag, "--json", "--state-dir", stateDir]);
    expect((await second.exit).code, second.stderr()).toBe(0);
    const recovered = second
      .stderr()
      .split("\n")
      .filter((l) => l.startsWith("pourover: recovered"));
    expect(recovered).toHaveLength(1);
    expect(recovered[0]).toContain(`coffeeshop ${tag}`);
    expect(recovered[0]).toContain(`pid ${first.child.pid}`);
    expect(recovered[0]).toContain("claim freed, dev lock freed");
    expect(JSON.parse(second.stdout()).status).toBe("SUCCEEDED");
    expect(releaseCommits(stateDir, tag)).toBe(1);
  }, 120_000);

  it("a tag RUNNING in a live process: DUPLICATE names it (pid, since, execution) and how to wait or recover", async () => {
    const stateDir = join(dir.path, "running");
    const tag = "v5.0.2";
    const first = pourover(["release", tag, "--state-dir", stateDir], {
      POUROVER_TEST_PAUSE: "after:ClaimRelease",
    });
    await first.waitFor(/test pause/);
    const second = pourover(["release", tag, "--json", "--state-dir", stateDir]);
    expect((await second.exit).code, second.stderr()).toBe(0);
    const dup = JSON.parse(second.stdout());
    expect(dup.status).toBe("DUPLICATE");
    expect(dup.duplicateOf).toMatchObject({ status: "RUNNING", pid: first.child.pid });
    expect(dup.notes.join("\n")).toMatch(
      new RegExp(
        `is being released by pid ${first.child.pid} .*since .*execution coffeeshop-v5\\.0\\.2-.*wait for it, or if that process is gone, run again: it is recovered`,
      ),
    );
    first.child.kill("SIGINT");
    expect((await first.exit).code).toBe(130);
  }, 120_000);

  it("interrupting a run that never got the claim leaves the claim of the run that holds it", async () => {
    const stateDir = join(dir.path, "two");
    const tag = "v7.0.0";
    // A stops before claiming; B claims meanwhile (both may have been given the same execution name).
    const a = pourover(["release", tag, "--state-dir", stateDir], {
      POUROVER_TEST_PAUSE: "before:ClaimRelease",
    });
    await a.waitFor(/test pause/);
    const b = pourover(["release", tag, "--state-dir", stateDir], {
      POUROVER_TEST_PAUSE: "after:ClaimRelease",
    });
    await b.waitFor(/test pause/);
    a.child.kill("SIGINT");
    expect((await a.exit).code).toBe(130);
    expect(a.stderr()).toMatch(/ABORTED .*no claim held, no dev lock held/);
    const held = pourover(["releases", tag, "--json", "--state-dir", stateDir]);
    expect((await held.exit).code, held.stderr()).toBe(0);
    expect(JSON.parse(held.stdout()).status).toBe("RUNNING");
    b.child.kill("SIGINT");
    expect((await b.exit).code).toBe(130);
    expect(b.stderr()).toMatch(/ABORTED .*claim freed/);
  }, 120_000);

  it("a record write that fails (here: executions/ is not a directory) still prints the JSON outcome and says what was not recorded", async () => {
    const stateDir = join(dir.path, "unrecordable");
    const { mkdirSync, writeFileSync } = await import("node:fs");
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, "executions"), "not a directory");
    const run = pourover(["release", "v6.0.0", "--json", "--state-dir", stateDir]);
    expect((await run.exit).code, run.stderr()).toBe(0);
    const outcome = JSON.parse(run.stdout());
    expect(outcome.status).toBe("SUCCEEDED");
    expect(outcome.notRecorded).toEqual([
      expect.stringMatching(/^execution record coffeeshop-v6\.0\.0-[0-9a-f]+\.json \(E[A-Z]+\)$/),
    ]);
    expect(outcome.notes.join("\n")).toMatch(/NOT RECORDED: execution record/);
  }, 60_000);

  it("a symlink in the state dir is refused in one line (exit 2), never followed", async () => {
    const stateDir = join(dir.path, "linked");
    const { mkdirSync, symlinkSync } = await import("node:fs");
    mkdirSync(join(dir.path, "elsewhere"), { recursive: true });
    mkdirSync(stateDir, { recursive: true });
    symlinkSync(join(dir.path, "elsewhere"), join(stateDir, "executions"));
    const run = pourover(["release", "v6.0.1", "--state-dir", stateDir]);
    expect((await run.exit).code).toBe(2);
    expect(run.stderr()).toContain(`pourover: ${join(stateDir, "executions")} is a symbolic link`);
    expect(run.stderr()).not.toMatch(/\n\s+at /);
    expect(readdirSync(join(dir.path, "elsewhere"))).toEqual([]);
  }, 60_000);

  it("a truncated execution record is skipped with a warning; the others still list", async () => {
    const stateDir = join(dir.path, "kill9");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(join(stateDir, "executions", "coffeeshop-v9.9.9-deadbeef.json"), '{"executionArn": "arn:');
    const list = pourover(["executions", "--json", "--state-dir", stateDir]);
    expect((await list.exit).code).toBe(0);
    expect(JSON.parse(list.stdout())).toHaveLength(1);
    expect(list.stderr()).toMatch(
      /skipped .*coffeeshop-v9\.9\.9-deadbeef\.json: unreadable execution record/,
    );
    // The state dir and what is in it are private to the user.
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(stateDir, "ledger.sqlite")).mode & 0o777).toBe(0o600);
    for (const f of readdirSync(join(stateDir, "executions")).filter((n) => !n.includes("deadbeef")))
      expect(statSync(join(stateDir, "executions", f)).mode & 0o777).toBe(0o600);
    // Whatever else the CLI wrote (PR records, reports, the manifests checkout): nothing for group or others.
    const open: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.name.includes("deadbeef") || e.isSymbolicLink()) continue;
        if (statSync(p).mode & 0o077) open.push(`${p} ${(statSync(p).mode & 0o777).toString(8)}`);
        if (e.isDirectory()) walk(p);
      }
    };
    walk(stateDir);
    expect(open).toEqual([]);
  }, 60_000);
});

describe("30 first runs at once on an empty state dir (real CLI processes)", () => {
  const dir = tempDir("pourover-race-");
  beforeAll(() => {
    execFileSync(process.execPath, [BIN, "config"], { cwd: PROJECT_ROOT });
  }, 120_000);
  afterAll(() => dir.cleanup());

  it("exactly 1 SUCCEEDED and 29 DUPLICATE naming it; one commit; no run fails to seed", async () => {
    const stateDir = join(dir.path, "state");
    const tag = "v1.0.0";
    const started = Date.now();
    const runs = Array.from({ length: 30 }, () =>
      pourover(["release", tag, "--json", "--state-dir", stateDir]),
    );
    const exits = await Promise.all(runs.map((r) => r.exit));
    const elapsedMs = Date.now() - started;
    const outcomes = runs.map((r, i) => {
      expect(exits[i]?.code, r.stderr()).toBe(0);
      return JSON.parse(r.stdout());
    });
    const statuses = outcomes.map((o) => o.status);
    expect(statuses.filter((s) => s === "SUCCEEDED")).toHaveLength(1);
    expect(statuses.filter((s) => s === "DUPLICATE")).toHaveLength(29);
    const winner = outcomes.find((o) => o.status === "SUCCEEDED");
    for (const dup of outcomes.filter((o) => o.status === "DUPLICATE")) {
      // Each duplicate names the execution it duplicates (RUNNING or already SUCCEEDED).
      expect(dup.duplicateOf.executionId).toBe(winner.executionId);
      expect(["RUNNING", "SUCCEEDED"]).toContain(dup.duplicateOf.status);
    }
    expect(releaseCommits(stateDir, tag)).toBe(1);
    expect(emailsIn(stateDir)).toHaveLength(1);
    // No seed leftovers: the temp dirs and the lock are gone.
    expect(readdirSync(join(stateDir, "repos"))).toEqual(["coffeeshop-manifests"]);
    process.stderr.write(`30 concurrent first runs: ${elapsedMs} ms\n`);
  }, 300_000);
});
