import * as z from "zod";
import { lazySchema } from "../../shared/contracts/lazy-schema.js";
import type { ScanResult } from "../../shared/contracts/release.js";
import type { GateResult } from "../../shared/contracts/release-state.js";
import { zodProblems } from "../../shared/contracts/zod-problems.js";
import { InvalidInputError, ScanPolicyRejectedError } from "../../shared/domain/errors.js";

const inputSchema = lazySchema(() =>
  z.object({
    // Each built by EvaluateScan in this same execution.
    scans: z
      .array(z.custom<ScanResult>((v) => typeof v === "object" && v !== null, "expected a scan result"))
      .min(1),
  }),
);

/** Rejected services the error message names one by one; the rest are counted. */
export const GATE_MESSAGE_SERVICES = 10;
/** CVE ids the error message lists per named service (the summaries and the email list more). */
export const GATE_MESSAGE_IDS_PER_SERVICE = 5;

/**
 * One rejected service rejects the release. The message names the blocking CVEs per service, capped:
 * Step Functions keeps at most 32,768 characters of a failure's cause, and the cause is carried in
 * the execution state up to the email.
 */
export function gateOnScan(raw: unknown): GateResult {
  const parsed = inputSchema().safeParse(raw);
  if (!parsed.success) throw new InvalidInputError("GateOnScan: no scan results", zodProblems(parsed.error));
  const scans = parsed.data.scans;
  const rejected = scans.filter((s) => s.verdict !== "PASSED");
  if (rejected.length > 0) {
    const lines = rejected.slice(0, GATE_MESSAGE_SERVICES).map((s) => {
      const listed = s.blockingIds.slice(0, GATE_MESSAGE_IDS_PER_SERVICE);
      const more = s.blockingIds.length - listed.length + s.blockingOmitted;
      const of = Object.entries(s.blockingCounts)
        .map(([severity, n]) => `${n} ${severity}`)
        .join(", ");
      return `${s.service}: ${listed.join(", ")}${more > 0 ? ` and ${more} more` : ""}${of ? ` (${of})` : ""}`;
    });
    const others = rejected.length - lines.length;
    throw new ScanPolicyRejectedError(
      `scan policy rejected ${rejected.length} of ${scans.length} images: ${lines.join("; ")}${
        others > 0 ? `; and ${others} more rejected services` : ""
      }`,
    );
  }
  return {
    images: scans.map((s) => ({ service: s.service, ...s.image })),
    // The warnings are about the app's allow-list, the same for every service: once each.
    warnings: [...new Set(scans.flatMap((s) => s.warnings))],
  };
}
