import { randomUUID } from "node:crypto";
import { chmod, copyFile, mkdir, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { SCANNER_ERROR_EXIT_CODE } from "../functions/describe-build-failure/describe-build-failure.js";
import type { AppConfig } from "../shared/contracts/app-config.js";
import { parseTrivyReport, reportDigest } from "../shared/domain/trivy-report.js";
import {
  buildAndScanLocally,
  type LocalTools,
  planBuilds,
  TRIVY_VULN_EXIT_CODE,
  whyNoRealBuild,
} from "./local-build.js";

/** A CodeBuild `.sync` result, as the ASL's ResultSelector reads it. */
export interface BuildOutput {
  Build: { Id: string; BuildStatus: string; ExportedEnvironmentVariables: { Name: string; Value: string }[] };
}

/** The `EnvironmentVariablesOverride` of a StartBuild request (the ASL's Parameters, resolved). */
function environmentOf(input: unknown): Map<string, string> {
  const list =
    typeof input === "object" && input !== null && "EnvironmentVariablesOverride" in input
      ? input.EnvironmentVariablesOverride
      : undefined;
  const env = new Map<string, string>();
  for (const v of Array.isArray(list) ? list : []) {
    if (typeof v?.Name === "string" && typeof v.Value === "string") env.set(v.Name, v.Value);
  }
  return env;
}

/** Test knobs of the stand-in, per service: the exit code its "scanner" reports. */
export interface LocalBuildOverride {
  /** 0 passes, 10 is Trivy's policy exit code; anything else is a scanner crash and the build FAILS. */
  scannerExitCode: number;
}

/**
 * A failed CodeBuild `.sync` task carries the Build JSON in its Cause; the stand-in fails the same way,
 * saying in the phase context that nothing ran in CodeBuild.
 */
function failedBuild(service: string, phase: "BUILD", message: string): Error {
  const cause = {
    Id: `local:${randomUUID()}`,
    BuildStatus: "FAILED",
    Phases: [
      {
        PhaseType: phase,
        PhaseStatus: "FAILED",
        Contexts: [{ StatusCode: "COMMAND_EXECUTION_ERROR", Message: message }],
      },
    ],
    Environment: { EnvironmentVariables: [{ Name: "POUROVER_SERVICE", Value: service }] },
    Logs: {},
  };
  return Object.assign(new Error(JSON.stringify(cause)), { name: "States.TaskFailed" });
}

/**
 * Stands in for CodeBuild's build+scan. With a docker engine, trivy and a --source checkout, a service
 * without a --scan-report is built and scanned on this machine (nothing is pushed); otherwise the verdict
 * comes from the Trivy report given with --scan-report or the example's labelled sample report, and the
 * output says which (see `planBuilds`).
 */
export function localBuildAndScan(opts: {
  config: AppConfig;
  configDir: string;
  reportsDir: string;
  scanReports: Record<string, string>;
  overrides?: Record<string, LocalBuildOverride>;
  /** Detected once per runtime; without it nothing is built. */
  tools?: LocalTools;
  /** A local clone of the app's source repository: without it nothing is built. */
  source?: string;
}) {
  const tools = opts.tools ?? { docker: false, trivy: false };
  const plans = new Map(
    planBuilds(opts.config, opts.scanReports, tools, opts.source).map((p) => [p.service, p]),
  );
  return async (input: unknown): Promise<BuildOutput> => {
    const env = environmentOf(input);
    const service = env.get("POUROVER_SERVICE") ?? "";
    const target = join(
      opts.reportsDir,
      env.get("POUROVER_APP") ?? "",
      env.get("POUROVER_TAG") ?? "",
      service,
      "trivy.json",
    );
    // Only ScanImage passes IMAGE_DIGEST: that image is in ECR, not on this machine, so it is never built here.
    const scansEcrImage = env.has("IMAGE_DIGEST");
    const configured = opts.config.services.find((s) => s.name === service);
    if (plans.get(service)?.mode === "trivy-local" && !scansEcrImage && configured && opts.source) {
      return realBuild(service, env, configured, opts.source, tools, target);
    }
    const given = opts.scanReports[service];
    const sample = configured?.sampleScanReport;
    const source = given ? resolve(given) : sample ? resolve(opts.configDir, sample) : null;
    if (!source) {
      throw Object.assign(
        new Error(
          `${service}: nothing to scan with (${whyNoRealBuild(tools, opts.source) ?? "an ECR image is not on this machine"}) and no --scan-report ${service}=<file>`,
        ),
        { name: "States.TaskFailed" },
      );
    }
    const exitCode = opts.overrides?.[service]?.scannerExitCode ?? 0;
    if (exitCode !== 0 && exitCode !== TRIVY_VULN_EXIT_CODE) {
      // As the buildspecs do: a scanner failure exits SCANNER_ERROR_EXIT_CODE and fails the build.
      throw failedBuild(
        service,
        "BUILD",
        `local stand-in (nothing was scanned): the scanner exit code was overridden to ${exitCode}, a scanner error. Reason: exit status ${SCANNER_ERROR_EXIT_CODE}`,
      );
    }
    await mkdir(dirname(target), { recursive: true });
    await copyFile(source, target);
    // copyFile keeps the source's mode; reports stay owner-only like the rest of the state dir.
    await chmod(target, 0o600);
    const digest = reportDigest(parseTrivyReport(await readFile(target, "utf8"), source));
    return succeeded([
      { Name: "REPORT_URI", Value: pathToFileURL(target).href },
      { Name: "SCAN_EXIT_CODE", Value: exitCode === TRIVY_VULN_EXIT_CODE ? "1" : "0" },
      { Name: "SCANNED_BY", Value: given ? "report-file" : "sample-report" },
      ...(digest ? [{ Name: "IMAGE_DIGEST", Value: digest }] : []),
    ]);
  };
}

function succeeded(exported: { Name: string; Value: string }[]): BuildOutput {
  return {
    Build: { Id: `local:${randomUUID()}`, BuildStatus: "SUCCEEDED", ExportedEnvironmentVariables: exported },
  };
}

/** docker build + trivy on this machine; a crash fails the task with the Build JSON CodeBuild would give. */
async function realBuild(
  service: string,
  env: Map<string, string>,
  configured: AppConfig["services"][number],
  sourceDir: string,
  tools: LocalTools,
  target: string,
): Promise<BuildOutput> {
  const tag = env.get("POUROVER_TAG") ?? "";
  const image = `${env.get("IMAGE_REPOSITORY") || configured.repository}:${tag}`;
  const result = await buildAndScanLocally({
    tools,
    source: sourceDir,
    dockerfile: env.get("DOCKERFILE") || configured.dockerfile,
    context: env.get("BUILD_CONTEXT") || configured.context,
    image,
    tag,
    severity: env.get("TRIVY_SEVERITY") || "CRITICAL,HIGH",
    ignoreUnfixed: env.get("TRIVY_IGNORE_UNFIXED") === "true",
    reportPath: target,
    scannerErrorExitCode: SCANNER_ERROR_EXIT_CODE,
  });
  if (!result.ok) throw failedBuild(service, "BUILD", result.message);
  try {
    parseTrivyReport(await readFile(target, "utf8"), target);
  } catch (error) {
    throw failedBuild(
      service,
      "BUILD",
      `local trivy left no usable report (${(error as Error).message.slice(0, 200)}): this is a scanner error, not a verdict. Reason: exit status ${SCANNER_ERROR_EXIT_CODE}`,
    );
  }
  // No IMAGE_DIGEST: nothing is pushed locally, and a local image id is not a registry digest, so
  // pinning it would name an image no cluster can pull. The manifests get the tag only.
  return succeeded([
    { Name: "REPORT_URI", Value: pathToFileURL(target).href },
    { Name: "SCAN_EXIT_CODE", Value: String(result.scanExitCode) },
    { Name: "SCANNED_BY", Value: "trivy-local" },
  ]);
}
