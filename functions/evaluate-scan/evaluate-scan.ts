import * as z from "zod";
import { appConfigSchemas } from "../../shared/contracts/app-config.js";
import { lazySchema } from "../../shared/contracts/lazy-schema.js";
import type { ScanResult } from "../../shared/contracts/release.js";
import type { ScanFindingsDocument } from "../../shared/contracts/release-state.js";
import { parseInput } from "../../shared/contracts/zod-problems.js";
import { InvalidInputError, InvalidScanReportError, ScanFailedError } from "../../shared/domain/errors.js";
import { applyScanPolicy } from "../../shared/domain/scan-policy.js";
import { parseTrivyReport, reportDigest } from "../../shared/domain/trivy-report.js";
import type { FindingsStore } from "../../shared/ports/findings-store.js";
import type { Clock, ReportStore } from "../../shared/ports/index.js";

const inputSchema = lazySchema(() =>
  z.object({
    app: z.string(),
    tag: z.string(),
    service: z.object({
      name: z.string(),
      repository: z.string(),
      tag: z.string(),
      digest: z.string().optional(),
    }),
    scan: appConfigSchemas().AppConfigSchema.shape.scan,
    build: z.object({
      buildId: z.string(),
      status: z.string(),
      exported: z.array(z.object({ Name: z.string(), Value: z.string() })).nullish(),
    }),
  }),
);

/**
 * How many blocking CVE ids one service's summary lists. Step Functions fails an execution outright
 * (States.DataLimitExceeded, which no Catch can handle) when a state's input or output passes
 * 256 KiB, and the Map collects one summary per service: a summary must stay small whatever the
 * report holds. Every finding is in the stored findings document.
 */
export const SUMMARY_BLOCKING_IDS = 10;

/** One path segment of a findings key: no separator, no dot segment, nothing empty. */
const SEGMENT = /^(?!\.{1,2}$)[^/\\]+$/;

/** `<app>/<tag>/<service>/findings.json`: next to the service's report, under the app's prefix. */
export function findingsKey(app: string, tag: string, service: string): string {
  for (const [what, part] of Object.entries({ app, tag, service })) {
    if (!SEGMENT.test(part))
      throw new InvalidInputError(`EvaluateScan: ${what} ${JSON.stringify(part)} is not one path segment`);
  }
  return `${app}/${tag}/${service}/findings.json`;
}

/** The part of the findings document the execution state carries. */
export function summarizeFindings(document: ScanFindingsDocument, location: string): ScanResult {
  const blockingCounts: Record<string, number> = {};
  for (const f of document.blocking) blockingCounts[f.severity] = (blockingCounts[f.severity] ?? 0) + 1;
  const listed = document.blocking.slice(0, SUMMARY_BLOCKING_IDS);
  return {
    service: document.service,
    image: document.image,
    verdict: document.verdict,
    counts: document.counts,
    blockingIds: listed.map((f) => f.id),
    blockingOmitted: document.blocking.length - listed.length,
    blockingCounts,
    allowed: document.allowed,
    warnings: document.warnings,
    report: document.report,
    findings: location,
    scannedBy: document.scannedBy,
  };
}

/**
 * Reads the Trivy report CodeBuild (or the local stand-in) produced for one service, applies the
 * policy, stores the full findings next to the report and returns a summary. A missing report or a
 * scanner exit code other than 0/1 is a crash, not a verdict.
 */
export async function evaluateScan(
  rawInput: unknown,
  deps: { reports: ReportStore; findings: FindingsStore; clock: Clock },
): Promise<ScanResult> {
  const input = parseInput(inputSchema(), rawInput, "EvaluateScan input");
  const exported = new Map((input.build.exported ?? []).map((v) => [v.Name, v.Value]));
  const reportUri = exported.get("REPORT_URI");
  const exitCode = exported.get("SCAN_EXIT_CODE");
  if (!reportUri || (exitCode !== undefined && exitCode !== "0" && exitCode !== "1")) {
    throw new ScanFailedError(
      `${input.service.name}: the scan of build ${input.build.buildId} produced no usable report (scanner exit code ${exitCode ?? "unknown"})`,
    );
  }
  const text = await deps.reports.read(reportUri);
  const now = deps.clock.now();
  // Fail closed: a report the gate cannot read (not Trivy's schema, a severity Trivy never writes) is a
  // scanner failure, never a verdict, so it takes the same path and email as a crashed scan.
  let report: ReturnType<typeof parseTrivyReport>;
  let verdict: ReturnType<typeof applyScanPolicy>;
  try {
    report = parseTrivyReport(text, `${input.service.name} report ${reportUri}`);
    verdict = applyScanPolicy(report, input.scan, now.toISOString().slice(0, 10), Number.POSITIVE_INFINITY);
  } catch (error) {
    if (error instanceof InvalidScanReportError) throw new ScanFailedError(error.message);
    throw error;
  }
  // An image scanned in ECR keeps the digest it was planned with; a built one has the pushed digest.
  const digest = input.service.digest || exported.get("IMAGE_DIGEST") || reportDigest(report);
  const scannedBy = exported.get("SCANNED_BY");
  const document: ScanFindingsDocument = {
    app: input.app,
    tag: input.tag,
    service: input.service.name,
    image: { repository: input.service.repository, tag: input.service.tag, ...(digest ? { digest } : {}) },
    verdict: verdict.verdict,
    counts: verdict.counts,
    blocking: verdict.blocking,
    allowed: verdict.allowed,
    warnings: verdict.warnings,
    report: reportUri,
    scannedBy:
      scannedBy === "report-file" || scannedBy === "sample-report" || scannedBy === "trivy-local"
        ? scannedBy
        : "trivy",
    evaluatedAt: now.toISOString(),
  };
  // The key depends only on the release and the service: a retried task overwrites the same object.
  const location = await deps.findings.put(findingsKey(input.app, input.tag, input.service.name), document);
  return summarizeFindings(document, location);
}
