import type { ReleaseRequest } from "../contracts/release.js";

/** The release ledger: DynamoDB in AWS, SQLite locally. Keyed by `app#tag`. */
export interface ReleaseLedger {
  /** Conditional write; throws ReleaseAlreadyClaimedError when `app#tag` is already claimed. */
  claim(entry: ClaimEntry): Promise<void>;
  /** Sets the final status and a compact record of what the release did. */
  record(entry: OutcomeEntry): Promise<void>;
  get(app: string, tag: string): Promise<LedgerRecord | null>;
}

export interface ClaimEntry {
  app: string;
  tag: string;
  executionId: string;
  claimedAt: string;
  trigger: ReleaseRequest["trigger"];
}

export interface OutcomeEntry {
  app: string;
  tag: string;
  executionId: string;
  status: "SUCCEEDED" | "FAILED";
  finishedAt: string;
  /** Compact JSON-able summary: images, PR, failing state, error. */
  summary: Record<string, unknown>;
}

export interface LedgerRecord extends ClaimEntry {
  status: "RUNNING" | "SUCCEEDED" | "FAILED";
  finishedAt?: string;
  summary?: Record<string, unknown>;
}

/** The image registry (ECR): which digest a tag points to, or null when it is not pushed yet. */
export interface ImageRegistry {
  digestOf(repository: string, tag: string): Promise<string | null>;
}

/** Publishes events on the pipeline's bus. */
export interface EventPublisher {
  publish(event: { source: string; detailType: string; detail: Record<string, unknown> }): Promise<void>;
}

/** Reads scan reports by location (s3://bucket/key in AWS, file:// locally). */
export interface ReportStore {
  read(location: string): Promise<string>;
}

/** Stores release artifacts the dev host fetches (the compose file of the release commit). */
export interface ArtifactStore {
  put(key: string, body: string): Promise<string>;
}

/** The GitOps manifests repository: GitHub through Octokit in AWS, a real git repo locally. */
export interface ManifestRepository {
  /** The head of the base branch and the text of each path there (null when the file is missing). */
  readFiles(input: { baseBranch: string; paths: string[] }): Promise<{
    baseCommit: string;
    files: Record<string, string | null>;
  }>;
  /**
   * Puts all files in one commit on `branch` whose parent is `baseCommit`, then creates or updates
   * the one pull request from `branch` into `baseBranch`. A branch that already holds exactly these
   * contents gets no new commit. Throws ManifestConflictError when the base moved meanwhile.
   */
  publish(input: PublishInput): Promise<PublishResult>;
}

export interface PublishInput {
  baseBranch: string;
  baseCommit: string;
  branch: string;
  message: string;
  files: { path: string; content: string }[];
  pullRequest: { title: string; body: string };
}

export interface PublishResult {
  commit: string;
  url: string | null;
  number: number | null;
  /** True when the branch already held these contents: no commit was made. */
  unchanged: boolean;
}

export interface EmailMessage {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
}

/** Sends email: SES v2 in AWS, `aws-ses-v2-local` (same SDK) locally. */
export interface Mailer {
  send(message: EmailMessage): Promise<{ messageId: string }>;
}

export type InstanceDeployStatus = {
  instanceId: string;
  status: "Pending" | "InProgress" | "Success" | "Failed" | "TimedOut" | "Cancelled" | "Undeliverable";
  output: string;
};

/** Reads the result of the dev deploy command (SSM ListCommandInvocations in AWS). */
export interface DeployStatusReader {
  read(commandId: string): Promise<InstanceDeployStatus[]>;
}

export interface Clock {
  now(): Date;
}
