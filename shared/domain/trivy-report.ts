import * as z from "zod";
import { zodProblems } from "../contracts/zod-problems.js";
import { InvalidScanReportError } from "./errors.js";

const VulnerabilitySchema = z.looseObject({
  VulnerabilityID: z.string().min(1),
  PkgName: z.string().default(""),
  InstalledVersion: z.string().default(""),
  FixedVersion: z.string().optional(),
  Status: z.string().optional(),
  /** Trivy may add severities we do not know: keep them, count them, never crash on them. */
  Severity: z.string().default("UNKNOWN"),
  Title: z.string().optional(),
});

const ResultSchema = z.looseObject({
  Target: z.string(),
  Class: z.string().optional(),
  Type: z.string().optional(),
  Vulnerabilities: z.array(VulnerabilitySchema).nullish(),
});

/** Trivy's JSON output, schema version 2. `Results` may be missing or null for an empty image. */
export const TrivyReportSchema = z.looseObject({
  SchemaVersion: z.literal(2),
  ArtifactName: z.string(),
  ArtifactType: z.string().optional(),
  Metadata: z
    .looseObject({
      ImageID: z.string().optional(),
      RepoDigests: z.array(z.string()).nullish(),
    })
    .optional(),
  Results: z.array(ResultSchema).nullish(),
});

export type TrivyReport = z.infer<typeof TrivyReportSchema>;
export type TrivyVulnerability = z.infer<typeof VulnerabilitySchema>;

export function parseTrivyReport(text: string, source = "scan report"): TrivyReport {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new InvalidScanReportError(`${source}: not JSON, so not a Trivy report`);
  }
  const result = TrivyReportSchema.safeParse(raw);
  if (!result.success) {
    throw new InvalidScanReportError(
      `${source}: not a Trivy JSON report (schema version 2): ${zodProblems(result.error).slice(0, 3).join("; ")}`,
    );
  }
  return result.data;
}

/** The sha256 digest Trivy saw for the image, when the report carries one. */
export function reportDigest(report: TrivyReport): string | undefined {
  for (const ref of report.Metadata?.RepoDigests ?? []) {
    const at = ref.lastIndexOf("@");
    if (at > 0 && /^sha256:[a-f0-9]{64}$/.test(ref.slice(at + 1))) return ref.slice(at + 1);
  }
  return undefined;
}
