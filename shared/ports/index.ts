import type { ReleaseRequest } from "../contracts/release.js";

/** The release ledger: DynamoDB in AWS, SQLite locally. Keyed by `app#tag`. */
export interface ReleaseLedger {
  /** Conditional write; throws ReleaseAlreadyClaimedError when `app#tag` is already claimed. */
  claim(entry: ClaimEntry): Promise<void>;
  /** Sets the final status and a compact record of what the release did. */
  record(entry: OutcomeEntry): Promise<void>;
  get(app: string, tag: string): Promise<LedgerRecord | null>;
}

/**
 * Closing a release whose execution ended without reaching RecordOutcome (aborted, timed out,
 * killed): both ledgers implement it.
 */
export interface AbandonedReleaseLedger {
  /**
   * Sets the final status only while `app#tag` is still RUNNING and claimed by `executionId`;
   * false when another execution holds the claim or the outcome was already recorded.
   */
  finishAbandoned(entry: AbandonedEntry): Promise<boolean>;
  /**
   * Marks the failure email of this abandoned execution as being sent (a conditional write): true
   * once only, so a retried event never emails twice. `undo` clears it after a failed send.
   */
  markAbandonNotice(app: string, tag: string, executionId: string, at: string): Promise<boolean>;
  clearAbandonNotice(app: string, tag: string, executionId: string): Promise<void>;
}

export interface AbandonedEntry {
  app: string;
  tag: string;
  executionId: string;
  status: "ABORTED" | "TIMED_OUT" | "FAILED";
  finishedAt: string;
  summary: Record<string, unknown> & { abandoned: true };
}

/** Production feedback on the release record (Argo CD notifications); both ledgers implement it. */
export interface ProdLedger {
  /**
   * Sets the release's `prod` entry, touching nothing else of `app#tag`. "unchanged" when it already
   * holds the same revision and status (a repeated notification); "missing" when no release
   * `app#tag` is recorded (nothing is written then).
   */
  recordProd(app: string, tag: string, entry: ProdEntry): Promise<"recorded" | "unchanged" | "missing">;
}

/** What Argo CD last reported for a release in production. */
export interface ProdEntry {
  status: "DEPLOYED" | "DEGRADED";
  /** The manifests commit Argo CD synced. */
  revision: string;
  /** When Pourover received the notification (ISO). */
  at: string;
  /** Argo CD's health status: Healthy, Degraded, Progressing, ... */
  health: string;
  /** The Argo CD Application that reported it. */
  argoApp: string;
}

/** What the release record answers besides `get` ("what did v1.4.0 contain"). */
export interface ReleaseRecords {
  /** The SUCCEEDED release of the app that finished last: what is on dev now. */
  latestSucceeded(app: string): Promise<LedgerRecord | null>;
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
  /** ABORTED / TIMED_OUT: the execution stopped without recording its own outcome (it may be claimed again). */
  status: "RUNNING" | "SUCCEEDED" | "FAILED" | "ABORTED" | "TIMED_OUT";
  finishedAt?: string;
  summary?: Record<string, unknown>;
  /** Set once Argo CD reported the release in production (recordProd). */
  prod?: ProdEntry;
}

/** The image registry (ECR): which digest a tag points to, or null when it is not pushed yet. */
export interface ImageRegistry {
  digestOf(repository: string, tag: string): Promise<string | null>;
}

/** One tagged image of a repository, as the registry lists it. */
export interface TaggedImage {
  repository: string;
  digest: string;
  tags: string[];
  pushedAt: Date;
}

/** Lists the tagged images of a repository pushed at or after `since` (ECR DescribeImages in AWS). */
export interface ImageLister {
  recentImages(repository: string, since: Date): Promise<TaggedImage[]>;
}

/** Starts release executions (Step Functions StartExecution in AWS). */
export interface ReleaseStarter {
  /** `started: false` when an execution with this name already exists: names make starts idempotent. */
  start(name: string, request: ReleaseRequest): Promise<{ started: boolean; executionId: string | null }>;
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
  /** Close the open release PRs into baseBranch that this release supersedes. */
  supersede?: SupersedeInput;
}

export interface SupersedeInput {
  /** Head branches of this app's release PRs start with it: `release/<app>/`. */
  branchPrefix: string;
  /** Whether the head branch of an open PR is a release older than this one (the core decides). */
  isOlder(headBranch: string): boolean;
  /** The comment left on each PR closed, pointing at this release's PR. */
  comment(pull: { number: number | null; url: string | null }): string;
}

export interface PublishResult {
  commit: string;
  url: string | null;
  number: number | null;
  /** True when the branch already held these contents: no commit was made. */
  unchanged: boolean;
  /** The older release PRs closed by this publish (none when not asked to supersede). */
  superseded?: { number: number; url: string; branch: string }[];
  /** Closing them failed (the commit and the PR stand; the release goes on): why, in one line. */
  supersedeError?: string;
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
  status:
    | "Pending"
    | "InProgress"
    | "Delayed"
    | "Success"
    | "Failed"
    | "TimedOut"
    | "DeliveryTimedOut"
    | "ExecutionTimedOut"
    | "Cancelled"
    | "Undeliverable"
    | "Terminated";
  /**
   * What the deploy ran on this host wrote to stdout (SSM `StandardOutputContent`), never stderr:
   * the deploy script's result line is the last line of it. Empty while the host is still running.
   */
  output: string;
};

/** The dev deploy command as a whole (SSM ListCommands): whether its tag targets are resolved yet. */
export interface DeployCommandStatus {
  /** `Pending`, `InProgress`, `Success`, `Failed`, `TimedOut`, `Cancelled`, `Cancelling`. */
  status: string;
  statusDetails: string;
  /** How many instances the targets resolved to; 0 while unresolved and when no instance matched. */
  targetCount: number;
  requestedAt: Date | null;
  /** SendCommand `TimeoutSeconds`: how long the command may wait to be delivered. */
  deliveryTimeoutSeconds: number | null;
}

/** The dev deploy command and its per-instance invocations, as SSM reports them right now. */
export interface DeployCommandView {
  /** null while SSM does not list the command yet (right after SendCommand). */
  command: DeployCommandStatus | null;
  invocations: InstanceDeployStatus[];
}

/** Reads and cancels the dev deploy command (SSM ListCommands, ListCommandInvocations, GetCommandInvocation, CancelCommand in AWS). */
export interface DeployStatusReader {
  read(commandId: string): Promise<DeployCommandView>;
  cancel(commandId: string): Promise<void>;
}

/**
 * The dev lock of an app (`devlock#<app>`): which release version holds or last held the dev deploy.
 * DynamoDB in AWS, SQLite locally. `rev` makes every write conditional on what was read.
 */
export interface DevLockRecord {
  app: string;
  /** The version of the release that holds or last held the lock. */
  version: string;
  /** The execution holding it; null once released. */
  holder: string | null;
  /** ISO time after which a holder that never released it (a crashed execution) no longer counts. */
  heldUntil: string | null;
  rev: number;
}

export interface DevLock {
  read(app: string): Promise<DevLockRecord | null>;
  /** Writes `next` only if the record is still at `expectedRev` (null: absent); false when it moved. */
  write(next: Omit<DevLockRecord, "rev">, expectedRev: number | null): Promise<boolean>;
  /** Clears the holder if `executionId` still holds it; false when it did not. */
  release(app: string, executionId: string): Promise<boolean>;
}

/** One dev host as EC2 and SSM see it; `agent` is the SSM PingStatus, null when SSM does not know it. */
export interface DevHost {
  instanceId: string;
  state: "pending" | "running" | "stopping" | "stopped" | "shutting-down";
  agent: "Online" | "ConnectionLost" | "Inactive" | null;
}

/** The dev hosts selected by tag (EC2 DescribeInstances + SSM DescribeInstanceInformation in AWS). */
export interface DevHosts {
  /** The non-terminated instances matching every `tag:<key>` target. */
  list(targets: readonly { Key: string; Values: readonly string[] }[]): Promise<DevHost[]>;
  start(instanceIds: readonly string[]): Promise<void>;
}

export interface Clock {
  now(): Date;
}
