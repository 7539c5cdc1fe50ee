import * as z from "zod";
import { lazySchema } from "../../shared/contracts/lazy-schema.js";
import { parseInput } from "../../shared/contracts/zod-problems.js";
import { normaliseBuild } from "../../shared/domain/codebuild-build.js";
import { BuildFailedError, ScanFailedError } from "../../shared/domain/errors.js";
import type { BuildInfo, BuildReader } from "../../shared/ports/build-reader.js";

/**
 * The exit code the buildspecs use for "the scanner itself failed" (EX_TEMPFAIL: worth a retry). The
 * failed phase's context message then ends in `exit status 75`, which tells a Trivy crash apart from
 * a failed docker build in the same phase.
 */
export const SCANNER_ERROR_EXIT_CODE = 75;

const inputSchema = lazySchema(() =>
  z.object({
    service: z.string().min(1),
    /** `ecr` means the ScanImage step (a scan, no build); anything else BuildScanPush. */
    triggerSource: z.string().optional(),
    error: z.object({ Error: z.string(), Cause: z.string().nullish() }),
  }),
);

const FAILED_STATUSES = new Set(["FAILED", "FAULT", "TIMED_OUT", "STOPPED"]);
const MAX_CONTEXT_CHARS = 600;

/**
 * Explains why a BuildScanPush/ScanImage task failed after its retries and always throws: a
 * `ScanFailedError` when the scanner failed (any ScanImage failure, the INSTALL phase that installs
 * Trivy and checks its DB cache, or the scanner's own exit code), a `BuildFailedError` otherwise
 * (clone, docker build, upload, push). The message names the service, the failed phase, CodeBuild's
 * context message and the logs link, e.g. `kitchen: BUILD phase failed: <message> — logs: <url>`.
 */
export async function describeBuildFailure(rawInput: unknown, deps: { builds: BuildReader }): Promise<never> {
  const { service, triggerSource, error } = parseInput(inputSchema(), rawInput, "DescribeBuildFailure input");
  const scanOnly = triggerSource === "ecr";
  const fromCause = buildFromCause(error.Cause ?? "");

  let build: BuildInfo | null = fromCause;
  let lookup = "";
  if (fromCause) {
    try {
      build = (await deps.builds.describe(fromCause.id)) ?? fromCause;
    } catch (e) {
      // The Cause already carries the build as Step Functions last saw it: report from that.
      lookup = ` (BatchGetBuilds failed: ${(e as Error).name})`;
    }
  }

  if (!build) {
    const what = `${service}: ${scanOnly ? "scan" : "build"} failed before CodeBuild reported a build: ${error.Error}${
      error.Cause ? `: ${truncate(error.Cause, MAX_CONTEXT_CHARS)}` : ""
    }`;
    throw scanOnly ? new ScanFailedError(what) : new BuildFailedError(what);
  }

  const failed =
    build.phases.find((p) => p.status !== undefined && FAILED_STATUSES.has(p.status)) ??
    build.phases.find((p) => p.status !== undefined && p.status !== "SUCCEEDED");
  const context = truncate(
    failed?.contexts.filter(Boolean).join("; ") || "no context message",
    MAX_CONTEXT_CHARS,
  );
  const phase = failed?.type ?? "UNKNOWN";
  const verb =
    failed?.status === "TIMED_OUT" ? "timed out" : failed?.status === "STOPPED" ? "stopped" : "failed";
  const logs = build.logsUrl ? ` — logs: ${build.logsUrl}` : ` — build ${build.id}`;
  const message = `${service}: ${phase} phase ${verb}: ${context}${logs}${lookup}`;

  const scannerCrashed =
    scanOnly ||
    phase === "INSTALL" ||
    new RegExp(`exit status ${SCANNER_ERROR_EXIT_CODE}\\b`).test(failed?.contexts.join(" ") ?? "");
  throw scannerCrashed ? new ScanFailedError(message) : new BuildFailedError(message);
}

/**
 * The build a failed `codebuild:startBuild.sync` task reports in its Cause: the Build JSON
 * (PascalCase keys, at the top or under `Build`). Anything else that names a build id or ARN still
 * yields the id, so BatchGetBuilds can fill in the rest.
 */
export function buildFromCause(cause: string): BuildInfo | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(cause);
  } catch {
    parsed = undefined;
  }
  if (parsed && typeof parsed === "object") {
    const root = parsed as Record<string, unknown>;
    const b = (root.Build && typeof root.Build === "object" ? root.Build : root) as Record<string, unknown>;
    const id = str(b.Id) ?? idFromArn(str(b.Arn));
    if (id) return normaliseBuild(b, id);
  }
  const arn = /arn:aws[a-z-]*:codebuild:[^:\s"]+:\d{12}:build\/([A-Za-z0-9._-]+:[A-Za-z0-9-]+)/.exec(cause);
  return arn?.[1] ? { id: arn[1], phases: [] } : null;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function idFromArn(arn: string | undefined): string | undefined {
  return arn ? /:build\/(.+)$/.exec(arn)?.[1] : undefined;
}

function truncate(s: string, max: number): string {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}
