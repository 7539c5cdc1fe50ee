import * as z from "zod";
import { AppConfigSchema } from "../../shared/contracts/app-config.js";
import type { ScanResult } from "../../shared/contracts/release.js";
import { zodProblems } from "../../shared/contracts/zod-problems.js";
import { InvalidInputError, ScanFailedError } from "../../shared/domain/errors.js";
import { applyScanPolicy } from "../../shared/domain/scan-policy.js";
import { parseTrivyReport, reportDigest } from "../../shared/domain/trivy-report.js";
import type { Clock, ReportStore } from "../../shared/ports/index.js";

const InputSchema = z.object({
  app: z.string(),
  tag: z.string(),
  service: z.object({
    name: z.string(),
    repository: z.string(),
    tag: z.string(),
    digest: z.string().optional(),
  }),
  scan: AppConfigSchema.shape.scan,
  build: z.object({
    buildId: z.string(),
    status: z.string(),
    exported: z.array(z.object({ Name: z.string(), Value: z.string() })).nullish(),
  }),
});

/**
 * Reads the Trivy report CodeBuild (or the local stand-in) produced for one service and applies the
 * policy. A missing report or a scanner exit code other than 0/1 is a crash, not a verdict.
 */
export async function evaluateScan(
  rawInput: unknown,
  deps: { reports: ReportStore; clock: Clock },
): Promise<ScanResult> {
  const parsed = InputSchema.safeParse(rawInput);
  if (!parsed.success)
    throw new InvalidInputError(`EvaluateScan input: ${zodProblems(parsed.error).join("; ")}`);
  const input = parsed.data;
  const exported = new Map((input.build.exported ?? []).map((v) => [v.Name, v.Value]));
  const reportUri = exported.get("REPORT_URI");
  const exitCode = exported.get("SCAN_EXIT_CODE");
  if (!reportUri || (exitCode !== undefined && exitCode !== "0" && exitCode !== "1")) {
    throw new ScanFailedError(
      `${input.service.name}: the scan of build ${input.build.buildId} produced no usable report (scanner exit code ${exitCode ?? "unknown"})`,
    );
  }
  const report = parseTrivyReport(
    await deps.reports.read(reportUri),
    `${input.service.name} report ${reportUri}`,
  );
  const today = deps.clock.now().toISOString().slice(0, 10);
  const verdict = applyScanPolicy(report, input.scan, today);
  // An image scanned in ECR keeps the digest it was planned with; a built one has the pushed digest.
  const digest = input.service.digest || exported.get("IMAGE_DIGEST") || reportDigest(report);
  const scannedBy = exported.get("SCANNED_BY");
  return {
    service: input.service.name,
    image: { repository: input.service.repository, tag: input.service.tag, ...(digest ? { digest } : {}) },
    ...verdict,
    report: reportUri,
    scannedBy:
      scannedBy === "report-file" || scannedBy === "sample-report" || scannedBy === "trivy-local"
        ? scannedBy
        : "trivy",
  };
}
