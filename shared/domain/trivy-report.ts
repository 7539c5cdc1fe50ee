import * as z from "zod";
import { lazySchema } from "../contracts/lazy-schema.js";
import { zodProblems } from "../contracts/zod-problems.js";
import { InvalidScanReportError } from "./errors.js";
import { type Projection, parseJsonProjection } from "./json-projection.js";

const vulnerabilitySchema = lazySchema(() =>
  z.object({
    VulnerabilityID: z.string().min(1),
    PkgName: z.string().default(""),
    InstalledVersion: z.string().default(""),
    FixedVersion: z.string().optional(),
    Status: z.string().optional(),
    /** Checked and normalised after parsing (see `normaliseSeverity`): never a pass by default. */
    Severity: z.string(),
    Title: z.string().optional(),
  }),
);

const resultSchema = lazySchema(() =>
  z.object({
    Target: z.string(),
    Class: z.string().optional(),
    Type: z.string().optional(),
    Vulnerabilities: z.array(vulnerabilitySchema()).nullish(),
  }),
);

/** Trivy's JSON output, schema version 2. `Results` may be missing or null for an empty image. */
export const trivyReportSchema = lazySchema(() =>
  z.looseObject({
    SchemaVersion: z.literal(2),
    ArtifactName: z.string(),
    ArtifactType: z.string().optional(),
    Metadata: z
      .looseObject({
        ImageID: z.string().optional(),
        RepoDigests: z.array(z.string()).nullish(),
      })
      .optional(),
    Results: z.array(resultSchema()).nullish(),
  }),
);

export type TrivyReport = z.infer<ReturnType<typeof trivyReportSchema>>;
export type TrivyVulnerability = z.infer<ReturnType<typeof vulnerabilitySchema>>;

/**
 * Trivy's severities, lowest first. Trivy's reporting documentation lists exactly these five in its
 * totals ("UNKNOWN: 2, LOW: 0, MEDIUM: 2, HIGH: 2, CRITICAL: 0") and fills `Severity` on every
 * vulnerability. Anything else is not a Trivy report: refusing it is what keeps the gate closed.
 */
export const TRIVY_SEVERITIES = ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"] as const;
export type TrivySeverity = (typeof TRIVY_SEVERITIES)[number];

/**
 * Invisible characters that would otherwise make "CRITICAL" compare unequal to "CRITICAL": control
 * characters (Cc), format characters (Cf: zero-width space/joiners, directional marks, word joiner,
 * soft hyphen, BOM) and the Hangul fillers that render as nothing.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\u115f\u1160\u3164\uffa0]/gu;

/**
 * The Trivy severity a report's `Severity` means, or null when it names none: trimmed (any Unicode
 * space), invisible characters removed, upper-cased.
 */
export function normaliseSeverity(raw: unknown): TrivySeverity | null {
  if (typeof raw !== "string") return null;
  const cleaned = raw.replace(INVISIBLE, "").trim().toUpperCase();
  return (TRIVY_SEVERITIES as readonly string[]).includes(cleaned) ? (cleaned as TrivySeverity) : null;
}

/** Rank of a normalised severity: higher is worse. */
export function severityRank(severity: TrivySeverity): number {
  return TRIVY_SEVERITIES.indexOf(severity);
}

/**
 * Largest report read: 64 MiB. A Trivy JSON report of a large image with every package listed is a
 * few MB; parsing one costs about five times its size in memory, so this bounds what a hostile or
 * runaway report can take (locally and in the EvaluateScan function) before it is refused.
 */
export const MAX_SCAN_REPORT_BYTES = 64 * 1024 * 1024;

/** What the gate reads of a report; descriptions, references, CVSS, layers and packages are never built. */
const REPORT_PROJECTION: Projection = {
  fields: {
    SchemaVersion: "all",
    ArtifactName: "all",
    ArtifactType: "all",
    Metadata: { fields: { ImageID: "all", RepoDigests: "all" } },
    Results: {
      items: {
        fields: {
          Target: "all",
          Class: "all",
          Type: "all",
          Vulnerabilities: {
            items: {
              fields: {
                VulnerabilityID: "all",
                PkgName: "all",
                InstalledVersion: "all",
                FixedVersion: "all",
                Status: "all",
                Severity: "all",
                Title: "all",
              },
            },
          },
        },
      },
    },
  },
};

export function parseTrivyReport(text: string, source = "scan report"): TrivyReport {
  // Every UTF-16 unit is at least one byte: a string longer than the cap is over it.
  if (text.length > MAX_SCAN_REPORT_BYTES)
    throw new InvalidScanReportError(
      `${source}: ${(text.length / 1024 / 1024).toFixed(0)} MiB or more, over the ${MAX_SCAN_REPORT_BYTES / 1024 / 1024} MiB cap for a scan report`,
    );
  let raw: unknown;
  try {
    // The whole text is checked as JSON; only what the schema below reads is built (a 50 MB report
    // took about 240 MB through JSON.parse, most of it descriptions nobody reads here).
    raw = parseJsonProjection(text, REPORT_PROJECTION);
  } catch {
    throw new InvalidScanReportError(`${source}: not JSON, so not a Trivy report`);
  }
  const result = trivyReportSchema().safeParse(raw);
  if (!result.success) {
    throw new InvalidScanReportError(
      `${source}: not a Trivy JSON report (schema version 2): ${zodProblems(result.error).slice(0, 3).join("; ")}`,
    );
  }
  const report = result.data;
  // Every severity is normalised in place, or the whole report is refused: a value the gate cannot
  // read must never count as "not blocking".
  for (const [r, res] of (report.Results ?? []).entries()) {
    for (const [i, v] of (res.Vulnerabilities ?? []).entries()) {
      const severity = normaliseSeverity(v.Severity);
      if (severity === null) {
        throw new InvalidScanReportError(
          `${source}: Results[${r}].Vulnerabilities[${i}] (${v.VulnerabilityID.slice(0, 80)}) has severity ${JSON.stringify(v.Severity.slice(0, 40))}, not one of Trivy's ${TRIVY_SEVERITIES.join(", ")}`,
        );
      }
      v.Severity = severity;
    }
  }
  return report;
}

/** The sha256 digest Trivy saw for the image, when the report carries one. */
export function reportDigest(report: TrivyReport): string | undefined {
  for (const ref of report.Metadata?.RepoDigests ?? []) {
    const at = ref.lastIndexOf("@");
    if (at > 0 && /^sha256:[a-f0-9]{64}$/.test(ref.slice(at + 1))) return ref.slice(at + 1);
  }
  return undefined;
}
