/**
 * A local release through LocalRuntime (the real ASL, cores, git repo and SES emulator), in process
 * and as the whole CLI process, for the example (6 services) and a generated 60-service app.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { LocalRuntime, type ReleaseOutcome } from "../local/runtime.js";
import { loadConfigFile } from "../shared/config/load-config-file.js";
import type { AppConfig } from "../shared/contracts/app-config.js";
import { benchCompose, benchConfigYaml, benchServiceDeployment, benchServiceName } from "./helpers.js";

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
    const json = JSON.parse(r.stdout) as { status: string; transitions: number; durationMs: number };
    return {
      wallMs,
      status: json.status,
      exitCode: r.status,
      transitions: json.transitions,
      durationMs: json.durationMs,
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
