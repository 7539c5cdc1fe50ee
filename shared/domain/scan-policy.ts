import type { ScanPolicy } from "../contracts/app-config.js";
import type { ScanFinding, ScanResult } from "../contracts/release.js";
import { InvalidScanReportError } from "./errors.js";
import {
  normaliseSeverity,
  severityRank,
  type TrivyReport,
  type TrivyVulnerability,
} from "./trivy-report.js";

/** Keeps the state payload far below Step Functions' 256 KB limit even for six services. */
export const MAX_BLOCKING_FINDINGS = 20;
const EXPIRY_WARNING_DAYS = 14;

export type PolicyVerdict = Pick<
  ScanResult,
  "verdict" | "counts" | "blockingOmitted" | "allowed" | "warnings"
> & { blocking: ScanFinding[] };

/**
 * Applies the app's scan policy to a parsed Trivy report. `today` is an ISO date (YYYY-MM-DD): an
 * allow-list entry allows up to and including its expiry date. `maxBlocking` caps the blocking list
 * (the rest is counted); EvaluateScan asks for all of them, as it stores them outside the state.
 */
export function applyScanPolicy(
  report: TrivyReport,
  policy: ScanPolicy,
  today: string,
  maxBlocking = MAX_BLOCKING_FINDINGS,
): PolicyVerdict {
  const failOn = new Set(policy.failOn);
  const activeAllow = new Map(policy.allow.filter((a) => a.expires >= today).map((a) => [a.id, a]));
  const warnings: string[] = [];
  for (const entry of policy.allow) {
    if (entry.expires < today) {
      warnings.push(`allow-list entry ${entry.id} expired on ${entry.expires} and no longer allows`);
    } else if (daysBetween(today, entry.expires) <= EXPIRY_WARNING_DAYS) {
      warnings.push(`allow-list entry ${entry.id} expires on ${entry.expires}`);
    }
  }

  // One finding per (id, package, version) across every target, at the highest severity any target
  // gave it: Trivy reports the same package once per layer or file, and the order must not matter.
  const findings = new Map<
    string,
    { v: TrivyVulnerability; severity: string; rank: number; fixed: string }
  >();
  for (const result of report.Results ?? []) {
    for (const v of result.Vulnerabilities ?? []) {
      const severity = normaliseSeverity(v.Severity);
      if (severity === null) {
        // parseTrivyReport refuses these; a report built another way is refused here too.
        throw new InvalidScanReportError(
          `${v.VulnerabilityID}: severity ${JSON.stringify(String(v.Severity).slice(0, 40))} is not a Trivy severity`,
        );
      }
      const key = `${v.VulnerabilityID}|${v.PkgName}|${v.InstalledVersion}`;
      const rank = severityRank(severity);
      const seen = findings.get(key);
      // A fix any target knows of counts (ignoreUnfixed must not hide a fixable finding either).
      const fixed = seen?.fixed || v.FixedVersion || "";
      if (seen === undefined || rank > seen.rank) findings.set(key, { v, severity, rank, fixed });
      else seen.fixed = fixed;
    }
  }

  const counts: Record<string, number> = {};
  const blocking: ScanFinding[] = [];
  const allowed = new Set<string>();
  for (const { v, severity, fixed } of findings.values()) {
    counts[severity] = (counts[severity] ?? 0) + 1;
    if (!failOn.has(severity as ScanPolicy["failOn"][number])) continue;
    if (policy.ignoreUnfixed && !fixed) continue;
    if (activeAllow.has(v.VulnerabilityID)) {
      allowed.add(v.VulnerabilityID);
      continue;
    }
    blocking.push({
      id: v.VulnerabilityID,
      pkg: v.PkgName,
      installed: v.InstalledVersion,
      fixed,
      severity,
      title: (v.Title ?? "").slice(0, 200),
    });
  }
  const order = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"];
  blocking.sort((a, b) => order.indexOf(a.severity) - order.indexOf(b.severity) || a.id.localeCompare(b.id));
  return {
    verdict: blocking.length > 0 ? "REJECTED" : "PASSED",
    counts,
    blocking: blocking.slice(0, maxBlocking),
    blockingOmitted: Math.max(0, blocking.length - maxBlocking),
    allowed: [...allowed].sort(),
    warnings,
  };
}

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000);
}
