import * as z from "zod";
import { InvalidInputError } from "../domain/errors.js";
import type { ScanPolicy } from "./app-config.js";
import { zodProblems } from "./zod-problems.js";

/** A `v`-prefixed semantic version tag: v1.2.3, v1.2.3-rc.1. */
export const TAG_PATTERN =
  /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

export const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

export const TriggerSchema = z.discriminatedUnion("source", [
  z.object({
    source: z.literal("github"),
    repository: z.string(),
    /** null for a `create` event, whose payload has no sha: CodeBuild then builds the tag itself. */
    commit: z
      .string()
      .regex(/^[a-f0-9]{40}$/)
      .nullable(),
    pusher: z.string(),
    deliveryId: z.string(),
  }),
  z.object({
    source: z.literal("ecr"),
    repository: z.string(),
    digest: z.string().regex(DIGEST_PATTERN),
  }),
  z.object({
    source: z.literal("cli"),
    pusher: z.string(),
    commit: z.string().optional(),
  }),
]);

/** The execution input: what both triggers are normalised into. */
export const ReleaseRequestSchema = z.object({
  app: z.string().min(1),
  tag: z.string().regex(TAG_PATTERN, "must be a v-prefixed semantic version such as v1.2.3"),
  trigger: TriggerSchema,
  /** Allow a version older than what the manifests hold. @default false */
  force: z.boolean().default(false),
});

export type ReleaseRequest = z.infer<typeof ReleaseRequestSchema>;
export type Trigger = z.infer<typeof TriggerSchema>;

/** One image of the release as planned: where it comes from and where it goes. */
export interface PlannedService {
  name: string;
  /** Full image repository, registry host included: 123.dkr.ecr.us-east-1.amazonaws.com/web */
  repository: string;
  /** ECR repository name (no host), what CodeBuild pushes to. */
  ecrRepository: string;
  tag: string;
  dockerfile: string;
  context: string;
  /** Known up front for ECR-triggered releases only. */
  digest?: string;
}

export interface ReleasePlan {
  app: string;
  tag: string;
  services: PlannedService[];
  /** HTTPS clone URL of the source repo and the commit (or tag) CodeBuild builds. */
  sourceRepo: string;
  sourceVersion: string;
  scan: ScanPolicy;
  /** The policy flattened into CodeBuild environment variables (strings only). */
  scanEnv: { severity: string; ignoreUnfixed: string; allowIds: string };
  dev: {
    targets: { Key: string; Values: string[] }[];
    composeFile: string;
    healthUrls: string;
    timeoutSeconds: number;
  };
}

export interface ScanFinding {
  id: string;
  pkg: string;
  installed: string;
  fixed: string;
  severity: string;
  title: string;
}

/** EvaluateScan's output for one service. */
export interface ScanResult {
  service: string;
  image: { repository: string; tag: string; digest?: string };
  verdict: "PASSED" | "REJECTED";
  counts: Record<string, number>;
  blocking: ScanFinding[];
  /** How many blocking findings were left out to keep the state payload small. */
  blockingOmitted: number;
  allowed: string[];
  warnings: string[];
  report: string;
  /** What produced the verdict: a real scan (in CodeBuild, or on a local machine), a given report, or a labelled sample. */
  scannedBy: "trivy" | "trivy-local" | "report-file" | "sample-report";
}

export interface PullRequestRef {
  branch: string;
  commit: string | null;
  url: string | null;
  number: number | null;
  changedFiles: string[];
  /** Where the release's compose file was put for the dev host. */
  composeObject: string;
  /** The update changed nothing (a re-run): no commit was made. */
  unchanged: boolean;
  /** Open release PRs of older versions, closed with a comment pointing at this one. */
  superseded?: { number: number; url: string; branch: string }[];
  /** Why older release PRs were left open; the release itself went on. */
  supersedeError?: string;
}

export function parseReleaseRequest(raw: unknown): ReleaseRequest {
  const result = ReleaseRequestSchema.safeParse(raw);
  if (!result.success) {
    const problems = zodProblems(result.error);
    throw new InvalidInputError(`invalid release request: ${problems.join("; ")}`, problems);
  }
  return result.data;
}

/** Parses the major.minor.patch(-pre) of a tag for ordering; null when it is not semver. */
export function parseVersion(
  tag: string,
): { major: number; minor: number; patch: number; pre: string } | null {
  const m = TAG_PATTERN.exec(tag);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), pre: m[4] ?? "" };
}
