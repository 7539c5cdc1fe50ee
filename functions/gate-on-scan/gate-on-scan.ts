import type { ScanResult } from "../../shared/contracts/release.js";
import type { GateResult } from "../../shared/contracts/release-state.js";
import { InvalidInputError, ScanPolicyRejectedError } from "../../shared/domain/errors.js";

/** One rejected service rejects the release; the message names every blocking CVE per service. */
export function gateOnScan(input: { scans?: ScanResult[] }): GateResult {
  const scans = input.scans;
  if (!Array.isArray(scans) || scans.length === 0) throw new InvalidInputError("GateOnScan: no scan results");
  const rejected = scans.filter((s) => s.verdict !== "PASSED");
  if (rejected.length > 0) {
    const lines = rejected.map((s) => {
      const ids = s.blocking.map(
        (f) => `${f.id} (${f.severity}, ${f.pkg} ${f.installed}${f.fixed ? ` → ${f.fixed}` : ""})`,
      );
      const more = s.blockingOmitted > 0 ? ` and ${s.blockingOmitted} more` : "";
      return `${s.service}: ${ids.join(", ")}${more}`;
    });
    throw new ScanPolicyRejectedError(
      `scan policy rejected ${rejected.length} of ${scans.length} images: ${lines.join("; ")}`,
    );
  }
  return {
    images: scans.map((s) => ({ service: s.service, ...s.image })),
    warnings: scans.flatMap((s) => s.warnings.map((w) => `${s.service}: ${w}`)),
  };
}
