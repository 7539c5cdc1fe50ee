/**
 * The release metrics RecordOutcome publishes (lead time, failure stage, scan rejections), computed
 * from the final execution state. Kept out of powertools.ts so that it costs no tracer to import.
 */
import type { Metrics } from "@aws-lambda-powertools/metrics";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { ReleaseState } from "../contracts/release-state.js";
import { APP_DIMENSION, type FailureStage, METRIC_NAMES, STAGE_DIMENSION } from "./metric-names.js";

export interface ReleaseOutcome {
  release: ReleaseState;
  status: "SUCCEEDED" | "FAILED";
  /** ISO time RecordOutcome wrote the outcome. */
  finishedAt: string;
}

export interface ReleaseMetric {
  name: (typeof METRIC_NAMES)[keyof typeof METRIC_NAMES];
  unit: "Seconds" | "Count";
  value: number;
  dimensions: Record<string, string>;
}

/**
 * The ASL state a failed release stopped in, read from which results it carries (each state writes
 * its own ResultPath: claim, plan, scans, gate, pullRequest, deploy, deploy.result).
 */
export function failureStage(release: ReleaseState): FailureStage {
  if (release.error?.Error === "ScanPolicyRejectedError") return "GateOnScan";
  if (!release.claim) return "ClaimRelease";
  if (!release.plan) return "PlanRelease";
  if (!release.scans) return "ScanImages";
  if (!release.gate) return "GateOnScan";
  if (!release.pullRequest) return "UpdateManifests";
  if (!release.deploy) return "DeployDev";
  return "VerifyDev";
}

/** The data points of one outcome; pure, so the rules are testable without a metrics sink. */
export function releaseMetrics(outcome: ReleaseOutcome): ReleaseMetric[] {
  const { release } = outcome;
  const app = { [APP_DIMENSION]: release.app };
  const points: ReleaseMetric[] = [];
  const claimedAt = Date.parse(release.claim?.claimedAt ?? "");
  const finishedAt = Date.parse(outcome.finishedAt);
  const reachedDev = release.deploy?.result !== undefined && release.deploy.result.dryRun !== true;
  if (outcome.status === "SUCCEEDED" && reachedDev && Number.isFinite(claimedAt) && finishedAt >= claimedAt) {
    points.push({
      name: METRIC_NAMES.leadTimeSeconds,
      unit: "Seconds",
      value: (finishedAt - claimedAt) / 1000,
      dimensions: app,
    });
  }
  if (outcome.status === "FAILED") {
    points.push({
      name: METRIC_NAMES.releaseFailed,
      unit: "Count",
      value: 1,
      dimensions: { ...app, [STAGE_DIMENSION]: failureStage(release) },
    });
  }
  const rejected =
    release.error?.Error === "ScanPolicyRejectedError" ||
    (release.scans ?? []).some((s) => s.verdict === "REJECTED");
  if (rejected) {
    points.push({ name: METRIC_NAMES.scanRejections, unit: "Count", value: 1, dimensions: app });
  }
  return points;
}

/**
 * Publishes metric points, each as its own EMF line with exactly the dimensions the alarms and
 * dashboard use (infra/constructs/pipeline-observability.ts): Powertools' default `service`
 * dimension is dropped, because CloudWatch matches a metric on its full dimension set.
 */
export function publishMetrics(metrics: Metrics, points: readonly ReleaseMetric[]): void {
  for (const point of points) {
    const single = metrics.singleMetric();
    single.clearDefaultDimensions();
    single.addDimensions(point.dimensions);
    single.addMetric(
      point.name,
      point.unit === "Seconds" ? MetricUnit.Seconds : MetricUnit.Count,
      point.value,
    );
  }
}

/** Publishes the outcome's metrics (releaseMetrics) and returns them. */
export function publishReleaseMetrics(metrics: Metrics, outcome: ReleaseOutcome): ReleaseMetric[] {
  const points = releaseMetrics(outcome);
  publishMetrics(metrics, points);
  return points;
}
