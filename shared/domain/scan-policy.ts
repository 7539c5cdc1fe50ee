import type { ScanPolicy } from "../contracts/app-config.js";
import type { ScanFinding, ScanResult } from "../contracts/release.js";
import type { TrivyReport } from "./trivy-report.js";

/** Keeps the state payload far below Step Functions' 256 KB limit even for six services. */
export const MAX_BLOCKING_FINDINGS = 20;
const EXPIRY_WARNING_DAYS = 14;

export type PolicyVerdict = Pick<
  ScanResult,
  "verdict" | "counts" | "blocking" | "blockingOmitted" | "allowed" | "warnings"
>;

/**
 * Applies the app's scan policy to a parsed Trivy report. `today` is an ISO date (YYYY-MM-DD): an
 * allow-list entry allows up to and including its expiry date.
 */
export function applyScanPolicy(report: TrivyReport, policy: ScanPolicy, today: string): PolicyVerdict {
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

  const counts: Record<string, number> = {};
  const blocking: ScanFinding[] = [];
  const allowed = new Set<string>();
  const seen = new Set<string>();
  for (const result of report.Results ?? []) {
    for (const v of result.Vulnerabilities ?? []) {
      const severity = v.Severity.toUpperCase();
      const key = `${v.VulnerabilityID}|${v.PkgName}|${v.InstalledVersion}`;
      if (seen.has(key)) continue;
      seen.add(key);
      counts[severity] = (counts[severity] ?? 0) + 1;
      if (!failOn.has(severity as ScanPolicy["failOn"][number])) continue;
      if (policy.ignoreUnfixed && !v.FixedVersion) continue;
      if (activeAllow.has(v.VulnerabilityID)) {
        allowed.add(v.VulnerabilityID);
        continue;
      }
      blocking.push({
        id: v.VulnerabilityID,
        pkg: v.PkgName,
        installed: v.InstalledVersion,
        fixed: v.FixedVersion ?? "",
        severity,
        title: (v.Title ?? "").slice(0, 200),
      });
    }
  }
  const order = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"];
  blocking.sort((a, b) => order.indexOf(a.severity) - order.indexOf(b.severity) || a.id.localeCompare(b.id));
  return {
    verdict: blocking.length > 0 ? "REJECTED" : "PASSED",
    counts,
    blocking: blocking.slice(0, MAX_BLOCKING_FINDINGS),
    blockingOmitted: Math.max(0, blocking.length - MAX_BLOCKING_FINDINGS),
    allowed: [...allowed].sort(),
    warnings,
  };
}

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000);
}
