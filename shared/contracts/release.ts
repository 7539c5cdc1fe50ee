import * as z from "zod";
import { InvalidInputError } from "../domain/errors.js";
import type { ScanPolicy } from "./app-config.js";
import { lazySchema } from "./lazy-schema.js";
import { zodProblems } from "./zod-problems.js";

/**
 * The tag policy, one rule everywhere: a `v`-prefixed semantic version, v1.2.3 or v1.2.3-rc.1, with
 * no build metadata. A release tag is also a docker image tag, which may hold only letters, digits,
 * `_`, `.` and `-` and at most 128 characters (docker image tag reference): `v1.2.3+x` is refused
 * here, with that reason, rather than failing later at the push or the dev deploy. Numbers have at
 * most 9 digits and the pre-release at most 4 dot-separated parts of 20 characters, so every accepted
 * tag is at most 114 characters. The dev deploy document's `Tag` allowedPattern is this same
 * expression (DEPLOY_PARAMETER_PATTERNS.Tag), written without `\d` or look-arounds.
 */
export const TAG_PATTERN =
  /^v(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})(?:-([0-9A-Za-z-]{1,20}(?:\.[0-9A-Za-z-]{1,20}){0,3}))?$/;

/** Why a tag is not a release tag under the policy, in one line; null when it is one. */
export function tagPolicyProblem(tag: string): string | null {
  if (TAG_PATTERN.test(tag)) return null;
  if (tag.includes("+"))
    return `"${tag}" has build metadata (+...): a release tag is also a docker image tag, which cannot hold "+"; tag v1.2.3 or v1.2.3-rc.1`;
  return `"${tag}" is not a release tag: expected vMAJOR.MINOR.PATCH or vMAJOR.MINOR.PATCH-PRERELEASE (numbers of at most 9 digits, at most 4 pre-release parts of 20 characters)`;
}

export const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

export const triggerSchema = lazySchema(() =>
  z.discriminatedUnion("source", [
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
  ]),
);

/** The execution input: what both triggers are normalised into. */
export const releaseRequestSchema = lazySchema(() =>
  z.object({
    app: z.string().min(1),
    tag: z.string().regex(TAG_PATTERN, "must be a v-prefixed semantic version such as v1.2.3"),
    trigger: triggerSchema(),
    /** Allow a version older than what the manifests hold. @default false */
    force: z.boolean().default(false),
    /**
     * A rollback to the earlier SUCCEEDED release `tag`: its recorded digests are pinned again, with no
     * build and no scan. `requestedAt` makes each rollback request its own (ledger key, execution name).
     */
    rollback: z
      .object({
        requestedAt: z.iso.datetime(),
        requestedBy: z.string().min(1),
        /** What dev ran when the rollback was asked for, when the requester knew it. */
        from: z.string().nullable().default(null),
      })
      .optional(),
  }),
);

export type ReleaseRequest = z.infer<ReturnType<typeof releaseRequestSchema>>;
export type Trigger = z.infer<ReturnType<typeof triggerSchema>>;

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
  /** Known up front for ECR-triggered releases and rollbacks only. */
  digest?: string;
  /** A rollback: the scan summary recorded for this image when it was released (no new scan). */
  recordedScan?: ScanResult;
}

export interface ReleasePlan {
  app: string;
  tag: string;
  services: PlannedService[];
  /** HTTPS clone URL of the source repo and the commit (or tag) CodeBuild builds. */
  sourceRepo: string;
  sourceVersion: string;
  scan: ScanPolicy;
  /** Set for a rollback (null otherwise, so the workflow can always pass it on). */
  rollback: { from: string | null; requestedAt: string } | null;
  /** The policy flattened into CodeBuild environment variables (strings only). */
  scanEnv: { severity: string; ignoreUnfixed: string; allowIds: string };
  dev: {
    targets: { Key: string; Values: string[] }[];
    /** The same tag selection as EC2 DescribeInstances `Filters`, terminated instances left out (WakeDevHost). */
    instanceFilters: { Name: string; Values: string[] }[];
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

/**
 * EvaluateScan's output for one service: a summary sized for the execution state, whatever the
 * report holds. The full evaluated findings are in the object `findings` names.
 */
export interface ScanResult {
  service: string;
  image: { repository: string; tag: string; digest?: string };
  verdict: "PASSED" | "REJECTED";
  /** Every finding of the report, blocking or not, by severity. */
  counts: Record<string, number>;
  /** The ids of the most severe blocking findings: a capped list, most severe first. */
  blockingIds: string[];
  /** How many blocking findings `blockingIds` leaves out. */
  blockingOmitted: number;
  /** Every blocking finding by severity, the listed ones and the left-out ones. */
  blockingCounts: Record<string, number>;
  allowed: string[];
  warnings: string[];
  report: string;
  /** Where the full evaluated findings are: s3://bucket/key in AWS, file:// locally. */
  findings: string;
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
  /** The PR body as written, so the dev result can rewrite its dev section with one call. */
  body?: string;
}

export function parseReleaseRequest(raw: unknown): ReleaseRequest {
  const result = releaseRequestSchema().safeParse(raw);
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
