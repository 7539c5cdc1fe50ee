import { execFile } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { delimiter, dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { inheritedEnv } from "../shared/config/local-env.js";
import type { AppConfig } from "../shared/contracts/app-config.js";

const run = promisify(execFile);

/**
 * What this machine can build and scan with. `docker` means a working engine (`docker info`
 * succeeds), not just a client. `path` is the PATH the tools are looked up and run with.
 */
export interface LocalTools {
  docker: boolean;
  trivy: boolean;
  path?: string;
}

const succeeds = async (cmd: string, args: string[], path: string | undefined) =>
  onPath(cmd, path) &&
  run(cmd, args, { timeout: 10_000, env: envWith(path) }).then(
    () => true,
    () => false,
  );

/**
 * Whether `cmd` is an executable file in a folder of `path` (default: this process's PATH). A tool
 * that is not there is known absent without starting a process; on a 2-core machine each process
 * started costs a local release 10-30 ms.
 */
export function onPath(cmd: string, path: string | undefined = inheritedEnv().PATH): boolean {
  return (path ?? "").split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return statSync(join(dir, cmd)).isFile();
    } catch {
      return false;
    }
  });
}

function envWith(path: string | undefined): NodeJS.ProcessEnv {
  return path === undefined ? inheritedEnv() : { ...inheritedEnv(), PATH: path };
}

/** Detects what is not given: a docker engine (`docker info`) and `trivy --version`. */
export async function detectTools(given: Partial<LocalTools> = {}): Promise<LocalTools> {
  const [docker, trivy] = await Promise.all([
    given.docker ?? succeeds("docker", ["info"], given.path),
    given.trivy ?? succeeds("trivy", ["--version"], given.path),
  ]);
  return { docker, trivy, ...(given.path !== undefined ? { path: given.path } : {}) };
}

export type BuildMode = "report-file" | "trivy-local" | "sample-report" | "none";

/** Per service, how the build+scan stand-in gets its verdict, and why not a real build when it does not. */
export interface ServiceBuildPlan {
  service: string;
  mode: BuildMode;
  /** Why no real build+scan ran (null when one runs, or when a report was given on purpose). */
  fallback: string | null;
}

/** Why this machine cannot build and scan for real, or null when it can. */
export function whyNoRealBuild(tools: LocalTools, source: string | undefined): string | null {
  const missing = [
    ...(tools.docker ? [] : ["no docker engine"]),
    ...(tools.trivy ? [] : ["no trivy on PATH"]),
    ...(source ? [] : ["no --source checkout"]),
  ];
  return missing.length ? missing.join(", ") : null;
}

export function planBuilds(
  config: AppConfig,
  scanReports: Record<string, string>,
  tools: LocalTools,
  source: string | undefined,
): ServiceBuildPlan[] {
  const why = whyNoRealBuild(tools, source);
  return config.services.map((s): ServiceBuildPlan => {
    if (scanReports[s.name]) return { service: s.name, mode: "report-file", fallback: null };
    if (!why) return { service: s.name, mode: "trivy-local", fallback: null };
    return { service: s.name, mode: s.sampleScanReport ? "sample-report" : "none", fallback: why };
  });
}

/** The stand-ins line for CodeBuild build+scan: which services were built and scanned for real, which not, and why. */
export function describeBuildStandIn(plans: ServiceBuildPlan[], source: string | undefined): string {
  const of = (mode: BuildMode) => plans.filter((p) => p.mode === mode).map((p) => p.service);
  const real = of("trivy-local");
  const given = of("report-file");
  const sampled = of("sample-report");
  const none = of("none");
  const why = plans.find((p) => p.fallback)?.fallback;
  const parts = [
    real.length
      ? `built with docker from ${source} (the checkout as it is) and scanned with trivy on this machine: ${real.join(", ")} (nothing pushed; the digest is the local image id, not a registry digest)`
      : "",
    given.length ? `verdicts from --scan-report for ${given.join(", ")} (nothing built or scanned)` : "",
    sampled.length
      ? `verdicts from labelled SAMPLE reports for ${sampled.join(", ")} (nothing built or scanned: ${why})`
      : "",
    none.length ? `no report at all for ${none.join(", ")} (${why}): their builds fail` : "",
  ].filter(Boolean);
  return `CodeBuild build+scan → ${parts.join("; ")}; ECR-triggered scans use the reports (the image is in ECR, not here)`;
}

/** What a real local build+scan ended with; a crash carries the message CodeBuild's failed phase would. */
export type LocalScanResult =
  | { ok: true; scanExitCode: 0 | 1; imageId: string | null }
  | { ok: false; message: string };

/** Trivy's exit code for findings at or above the severity (the buildspecs' TRIVY_VULN_EXIT_CODE). */
export const TRIVY_VULN_EXIT_CODE = 10;

const exitCodeOf = (error: unknown) => {
  const code = (error as { code?: unknown }).code;
  return typeof code === "number" ? code : -1;
};
const lastLine = (error: unknown) =>
  (((error as { stderr?: string }).stderr ?? "").trim().split("\n").pop() ?? "").slice(0, 300);

/**
 * docker build at the source checkout, trivy on the built image, as build-scan-push.yml does, minus the
 * push. `scannerErrorExitCode` ends a scanner crash's message, as the buildspec's exit status does.
 */
export async function buildAndScanLocally(input: {
  tools: LocalTools;
  source: string;
  dockerfile: string;
  context: string;
  image: string;
  tag: string;
  severity: string;
  ignoreUnfixed: boolean;
  reportPath: string;
  scannerErrorExitCode: number;
}): Promise<LocalScanResult> {
  const env = envWith(input.tools.path);
  const cwd = resolve(input.source);
  try {
    await run(
      "docker",
      [
        "build",
        "-f",
        input.dockerfile,
        "-t",
        input.image,
        "--label",
        `org.opencontainers.image.version=${input.tag}`,
        input.context,
      ],
      { cwd, env, timeout: 30 * 60_000, maxBuffer: 64 * 1024 * 1024 },
    );
  } catch (error) {
    return {
      ok: false,
      message: `local docker build of ${input.image} failed: ${lastLine(error)}. Reason: exit status ${exitCodeOf(error)}`,
    };
  }
  await mkdir(dirname(input.reportPath), { recursive: true });
  // A report left by an earlier attempt must not pass for this scan's.
  await rm(input.reportPath, { force: true });
  let scanExitCode: 0 | 1;
  try {
    await run(
      "trivy",
      [
        "image",
        "--format",
        "json",
        "--output",
        input.reportPath,
        "--severity",
        input.severity,
        ...(input.ignoreUnfixed ? ["--ignore-unfixed"] : []),
        "--exit-code",
        String(TRIVY_VULN_EXIT_CODE),
        "--scanners",
        "vuln",
        input.image,
      ],
      { cwd, env, timeout: 30 * 60_000, maxBuffer: 64 * 1024 * 1024 },
    );
    scanExitCode = 0;
  } catch (error) {
    const code = exitCodeOf(error);
    if (code !== TRIVY_VULN_EXIT_CODE) {
      return {
        ok: false,
        message: `local trivy failed with exit code ${code}: this is a scanner error, not a verdict (${lastLine(error)}). Reason: exit status ${input.scannerErrorExitCode}`,
      };
    }
    scanExitCode = 1;
  }
  return { ok: true, scanExitCode, imageId: await localImageId(input.image, env) };
}

/** The built image's id (`sha256:…`) as the local engine reports it; null when it cannot say. */
async function localImageId(image: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  try {
    const { stdout } = await run("docker", ["image", "inspect", "--format", "{{.Id}}", image], {
      env,
      timeout: 30_000,
    });
    const id = stdout.trim();
    return /^sha256:[a-f0-9]{64}$/.test(id) ? id : null;
  } catch {
    return null;
  }
}
