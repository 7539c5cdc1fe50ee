/**
 * Tag → dev time model: how long a tag push takes to reach the dev host in AWS, from what this
 * machine measures (cold starts, the workflow's own work, GitHub call counts) plus what only AWS
 * can show, stated as assumptions. Builds of all services run at once (the Map's MaxConcurrency),
 * so the critical path holds one service's build, not the sum.
 */

export interface ModelPart {
  readonly part: string;
  readonly seconds: number;
  readonly source: "measured" | "stated" | "derived";
  readonly note: string;
}

/** A Retry entry of the ASL (the one VerifyDev uses while the deploy is in progress). */
export interface PollRetry {
  readonly IntervalSeconds: number;
  readonly BackoffRate: number;
  readonly MaxDelaySeconds?: number;
}

/**
 * When VerifyDev first sees a deploy of `deploySeconds` finished: it runs right after SendCommand,
 * then after each retry interval (IntervalSeconds × BackoffRate^n, capped at MaxDelaySeconds).
 */
export function verifyDetectionSeconds(deploySeconds: number, retry: PollRetry): number {
  let at = 0;
  for (let n = 0; at < deploySeconds; n++) {
    const interval = retry.IntervalSeconds * retry.BackoffRate ** n;
    at += Math.min(interval, retry.MaxDelaySeconds ?? Number.POSITIVE_INFINITY);
  }
  return at;
}

/** AWS-side durations no local run can show (p50 guesses for a small Go service; see notes). */
export const STATED_AWS_SECONDS = {
  eventDelivery: 1,
  codeBuildQueueAndProvisioning: 30,
  codeBuildSourceAndInstall: 10,
  imageBuildWithLayerCache: 45,
  trivyScanOffline: 15,
  pushAndCacheExport: 10,
  codeBuildFinalizing: 5,
  githubCallSeconds: 0.3,
  devDeploy: 40,
  stateTransitionSeconds: 0.05,
} as const;

export interface TimeModelInput {
  /** Node 24 cold imports (ms) of the Lambdas on the path, each counted once. */
  readonly coldImportMs: Readonly<Record<string, number>>;
  /** The local execution's duration (ms): every Lambda core's work, AWS parts stood in for. */
  readonly localExecutionMs: number;
  /** State transitions of the 6-service happy path. */
  readonly transitions: number;
  /** GitHub calls of the write-back plus the dev result. */
  readonly githubCalls: number;
  /** VerifyDev's in-progress Retry, read from the ASL. */
  readonly verifyRetry: PollRetry;
}

export function tagToDevModel(input: TimeModelInput): { parts: ModelPart[]; totalSeconds: number } {
  const s = STATED_AWS_SECONDS;
  const coldMs = Object.values(input.coldImportMs).reduce((a, b) => a + b, 0);
  const verifyAt = verifyDetectionSeconds(s.devDeploy, input.verifyRetry);
  const parts: ModelPart[] = [
    {
      part: "trigger",
      seconds: s.eventDelivery,
      source: "stated",
      note: "GitHub delivery or ECR event → EventBridge → start-release → StartExecution",
    },
    {
      part: "Lambda cold starts",
      seconds: coldMs / 1000,
      source: "measured",
      note: `Node 24 cold imports of ${Object.keys(input.coldImportMs).length} functions, each once`,
    },
    {
      part: "workflow work",
      seconds: input.localExecutionMs / 1000,
      source: "measured",
      note: "the local execution of the real ASL (Lambda cores; CodeBuild, SSM, SES stood in for)",
    },
    {
      part: "state transitions",
      seconds: input.transitions * s.stateTransitionSeconds,
      source: "stated",
      note: `${input.transitions} transitions × ${s.stateTransitionSeconds * 1000} ms`,
    },
    {
      part: "CodeBuild queue + provisioning",
      seconds: s.codeBuildQueueAndProvisioning,
      source: "stated",
      note: "on-demand Linux x86 small/medium; arm64 images have been reported at 3 min",
    },
    {
      part: "source + install",
      seconds: s.codeBuildSourceAndInstall,
      source: "stated",
      note: "clone, Trivy and its DB restored from the S3 cache",
    },
    {
      part: "image build",
      seconds: s.imageBuildWithLayerCache,
      source: "stated",
      note: "BuildKit with the ECR registry layer cache: only the changed Go layers rebuild",
    },
    {
      part: "Trivy scan",
      seconds: s.trivyScanOffline,
      source: "stated",
      note: "offline (--skip-db-update), one image",
    },
    {
      part: "push + cache export",
      seconds: s.pushAndCacheExport,
      source: "stated",
      note: "new layers only",
    },
    {
      part: "CodeBuild finalizing",
      seconds: s.codeBuildFinalizing,
      source: "stated",
      note: "S3 cache save, logs; .sync sees the end through EventBridge",
    },
    {
      part: "GitHub write-back + dev result",
      seconds: input.githubCalls * s.githubCallSeconds,
      source: "derived",
      note: `${input.githubCalls} calls measured × ${s.githubCallSeconds * 1000} ms stated`,
    },
    {
      part: "dev deploy, as VerifyDev sees it",
      seconds: verifyAt,
      source: "derived",
      note: `a ${s.devDeploy} s SSM deploy (pull new layers, up, health) is seen at the first poll after it: ${verifyAt.toFixed(1)} s with the ASL's retry (${input.verifyRetry.IntervalSeconds} s × ${input.verifyRetry.BackoffRate}^n, ≤ ${input.verifyRetry.MaxDelaySeconds ?? "∞"} s)`,
    },
  ];
  return { parts, totalSeconds: parts.reduce((a, p) => a + p.seconds, 0) };
}
