/**
 * A local release through LocalRuntime (the real ASL, cores, git repo and SES emulator), in process
 * and as the whole CLI process, for the example (6 services) and a generated 60-service app.
 */
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { LocalRuntime, type ReleaseOutcome } from "../local/runtime.js";
import { loadConfigFile } from "../shared/config/load-config-file.js";
import type { AppConfig } from "../shared/contracts/app-config.js";
import {
  benchCompose,
  benchConfigYaml,
  benchServiceDeployment,
  benchServiceName,
  median,
} from "./helpers.js";

export interface GeneratedApp {
  configPath: string;
  configDir: string;
  config: AppConfig;
}

/**
 * Writes `<dir>/pourover.config.yaml` for `services` services whose sample scan reports are copies of
 * the example's, and a manifests seed (compose + one Deployment per service) at v0.0.1.
 */
export function generateApp(dir: string, services: number, exampleDir: string): GeneratedApp {
  const reportsFrom = join(exampleDir, "scan-reports");
  mkdirSync(join(dir, "scan-reports"), { recursive: true });
  const reports = readdirSync(reportsFrom)
    .filter((f) => f.endsWith(".json"))
    .sort();
  for (const r of reports) copyFileSync(join(reportsFrom, r), join(dir, "scan-reports", r));
  const seed = join(dir, "manifests");
  mkdirSync(seed, { recursive: true });
  writeFileSync(join(seed, "docker-compose.yml"), benchCompose(services, "v0.0.1"));
  for (let i = 0; i < services; i++) {
    mkdirSync(join(seed, "k8s", benchServiceName(i)), { recursive: true });
    writeFileSync(
      join(seed, "k8s", benchServiceName(i), "deployment.yaml"),
      benchServiceDeployment(i, "v0.0.1"),
    );
  }
  const configPath = join(dir, "pourover.config.yaml");
  writeFileSync(
    configPath,
    benchConfigYaml(
      services,
      reports.map((r) => `scan-reports/${r}`),
    ),
  );
  return { configPath, configDir: dir, config: loadConfigFile(configPath) };
}

export interface InProcessRelease {
  outcome: ReleaseOutcome;
  /** Runtime start (SQLite, git seed, SES emulator) to close. */
  wallMs: number;
}

export async function releaseInProcess(
  config: AppConfig,
  configDir: string,
  stateDir: string,
  tag: string,
): Promise<InProcessRelease> {
  const t0 = performance.now();
  const runtime = await LocalRuntime.start({ config, configDir, stateDir });
  try {
    const outcome = await runtime.release({ tag });
    return { outcome, wallMs: performance.now() - t0 };
  } finally {
    await runtime.close();
  }
}

export interface CliRelease {
  wallMs: number;
  status: string;
  exitCode: number | null;
  transitions?: number;
  durationMs?: number;
  /** The timeline the CLI printed (name per state and Map iteration). */
  states?: { name: string }[];
  error?: string;
}

/** Wall time of `node local/bin/pourover.js config --json`: the CLI's start-up (tsx, config), no release. */
export function cliStartup(projectRoot: string): number {
  const t0 = performance.now();
  spawnSync(process.execPath, [join(projectRoot, "local", "bin", "pourover.js"), "config", "--json"], {
    cwd: projectRoot,
    timeout: 60_000,
  });
  return performance.now() - t0;
}

/** `node local/bin/pourover.js release <tag> --json --state-dir <dir>`: the whole process, timed. */
export function releaseCli(
  projectRoot: string,
  stateDir: string,
  tag: string,
  configPath?: string,
): CliRelease {
  const args = [
    join(projectRoot, "local", "bin", "pourover.js"),
    "release",
    tag,
    "--json",
    "--state-dir",
    stateDir,
    ...(configPath ? ["--config", configPath] : []),
  ];
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: projectRoot, encoding: "utf8", timeout: 120_000 });
  const wallMs = performance.now() - t0;
  try {
    const json = JSON.parse(r.stdout) as {
      status: string;
      transitions: number;
      durationMs: number;
      states: { name: string }[];
    };
    return {
      wallMs,
      status: json.status,
      exitCode: r.status,
      transitions: json.transitions,
      durationMs: json.durationMs,
      states: json.states,
    };
  } catch {
    return {
      wallMs,
      status: "ERROR",
      exitCode: r.status,
      error: `${r.stderr}`.trim().split("\n").slice(-1)[0] ?? `exit ${r.status}`,
    };
  }
}

/**
 * The Task states of an ASL document that invoke a Lambda (Resource is a `${…FunctionArn}`
 * placeholder), Map iterations included: each time one of them runs is one Lambda invocation.
 */
export function lambdaStatesOf(aslText: string): Set<string> {
  const names = new Set<string>();
  const walk = (states: Record<string, Record<string, unknown>>) => {
    for (const [name, state] of Object.entries(states)) {
      if (state.Type === "Task" && /^\$\{\w+FunctionArn\}$/.test(String(state.Resource))) names.add(name);
      const inner = (state.ItemProcessor ?? state.Iterator) as { States?: typeof states } | undefined;
      if (inner?.States) walk(inner.States);
      for (const branch of (state.Branches as { States: typeof states }[] | undefined) ?? [])
        walk(branch.States);
    }
  };
  walk((JSON.parse(aslText) as { States: Record<string, Record<string, unknown>> }).States);
  return names;
}

/** The Lambda invocations of one release timeline, counted against the ASL it ran. */
export function countLambdaInvocations(
  states: readonly { name: string }[],
  lambdaStates: Set<string>,
): number {
  return states.filter((s) => lambdaStates.has(s.name)).length;
}

export interface LocalReleaseFigures {
  services: number;
  runs: number;
  /** Median wall time of the whole `pourover release --json` process, fresh state dir each run. */
  medianWallMs: number;
  wallMs: number[];
  /** Median of the execution's own durationMs. */
  medianDurationMs: number;
  transitions: number;
  lambdaInvocations: number;
  status: string;
}

/**
 * `runs` CLI releases (after one untimed warm-up that builds the CLI bundle), each with a fresh state
 * dir: the median wall time, the transitions and the Lambda invocations of the happy path.
 */
export function measureCliReleases(
  projectRoot: string,
  runs: number,
  app?: { configPath: string; services: number },
): LocalReleaseFigures {
  const lambdaStates = lambdaStatesOf(
    readFileSync(join(projectRoot, "state-machines", "release.asl.json"), "utf8"),
  );
  const dir = mkdtempSync(join(tmpdir(), "pourover-bench-cli-"));
  try {
    releaseCli(projectRoot, join(dir, "warm"), "v1.0.0", app?.configPath);
    const results = Array.from({ length: runs }, (_, i) =>
      releaseCli(projectRoot, join(dir, `run-${i}`), "v1.0.0", app?.configPath),
    );
    const last = results[results.length - 1] as CliRelease;
    const bad = results.find((r) => r.status !== "SUCCEEDED");
    return {
      services: app?.services ?? 6,
      runs,
      medianWallMs: Math.round(median(results.map((r) => r.wallMs))),
      wallMs: results.map((r) => Math.round(r.wallMs)),
      medianDurationMs: Math.round(median(results.map((r) => r.durationMs ?? Number.NaN))),
      transitions: last.transitions ?? -1,
      lambdaInvocations: countLambdaInvocations(last.states ?? [], lambdaStates),
      status: bad ? `${bad.status}${bad.error ? ` (${bad.error})` : ""}` : "SUCCEEDED",
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The figures recorded before the issue-16 work (`tsx bench/release.ts --record-baseline`). */
export const RELEASE_BASELINE_FILE = "bench/baseline-release.json";

export interface ReleaseBaseline {
  recordedAt: string;
  what: string;
  loadAverage: number[];
  "6 services": LocalReleaseFigures;
  "60 services": LocalReleaseFigures;
}

export function readReleaseBaseline(projectRoot: string): ReleaseBaseline | null {
  const path = join(projectRoot, RELEASE_BASELINE_FILE);
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as ReleaseBaseline) : null;
}

// `tsx bench/release.ts [--runs N] [--record-baseline]`: the local release figures alone.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { loadavg } = await import("node:os");
  const root = join(import.meta.dirname, "..");
  const runsArg = process.argv.indexOf("--runs");
  const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;
  const work = mkdtempSync(join(tmpdir(), "pourover-bench-app60-"));
  try {
    const app60 = generateApp(work, 60, join(root, "examples", "coffeeshop"));
    const figures = {
      "6 services": measureCliReleases(root, runs),
      "60 services": measureCliReleases(root, runs, { configPath: app60.configPath, services: 60 }),
    };
    if (process.argv.includes("--record-baseline")) {
      const baseline: ReleaseBaseline = {
        recordedAt: new Date().toISOString(),
        what: "local `pourover release` before the issue-16 work (service integrations, transitions, local speed)",
        loadAverage: loadavg().map((n) => Math.round(n * 100) / 100),
        ...figures,
      };
      writeFileSync(join(root, RELEASE_BASELINE_FILE), `${JSON.stringify(baseline, null, 2)}\n`);
    }
    process.stdout.write(`${JSON.stringify({ loadAverage: loadavg(), ...figures }, null, 2)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
