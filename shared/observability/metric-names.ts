/**
 * The custom metrics Pourover publishes and alarms on. One module shared by the functions that emit
 * them (through Powertools, see powertools.ts) and the CDK construct that graphs and alarms on them
 * (infra/constructs/pipeline-observability.ts): a CloudWatch alarm matches a metric only on the exact
 * namespace, name and dimension set, so both sides must agree to the letter. No dependencies.
 */

/** CloudWatch namespace of every custom metric (`POWERTOOLS_METRICS_NAMESPACE` in each function). */
export const METRICS_NAMESPACE = "Pourover";

/** Dimension naming the app (`config.app`); every custom metric carries it and nothing else but Stage. */
export const APP_DIMENSION = "App";
/** Dimension of `ReleaseFailed`: the ASL state where the release failed (state names are an API). */
export const STAGE_DIMENSION = "Stage";

export const METRIC_NAMES = {
  /** Seconds from the ledger claim (execution start) to RecordOutcome, for releases that reached dev. */
  leadTimeSeconds: "LeadTimeSeconds",
  /** 1 per failed release, dimensions App and Stage. */
  releaseFailed: "ReleaseFailed",
  /** 1 per release blocked by the scan policy (ScanPolicyRejectedError). */
  scanRejections: "ScanRejections",
  /** Releases the reconciler (functions/reconcile-releases) found missed and started again. */
  lostEventsRecovered: "LostEventsRecovered",
  /** Releases the reconciler started in one run (the lost ones it found, up to its per-run cap). */
  reconcilerReleasesStarted: "ReconcilerReleasesStarted",
  /** Images or tags the reconciler could not check or start in one run. */
  reconcilerFailures: "ReconcilerFailures",
} as const;

/**
 * The stages a release can fail in, named after the ASL states that own them, in flow order.
 * `ScanImages` is the Map state (build, scan and EvaluateScan of every service).
 */
export const FAILURE_STAGES = [
  "ClaimRelease",
  "PlanRelease",
  "ScanImages",
  "GateOnScan",
  "UpdateManifests",
  "DeployDev",
  "VerifyDev",
] as const;

export type FailureStage = (typeof FAILURE_STAGES)[number];
