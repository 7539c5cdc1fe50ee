/**
 * Lambda entry of the scheduled reconciler (EventBridge Scheduler). Wiring only: env and the bundled
 * config at cold start; ECR, the DynamoDB ledger and Step Functions loaded on the first event.
 */
import middy from "@middy/core";
import { firstUse } from "../../shared/adapters/first-use.js";
import { bundledAppConfig, requireEnv } from "../../shared/config/lambda-env.js";
import { powertools, publishMetrics } from "../../shared/observability/powertools.js";
import { type ReconcileOptions, reconcileReleases, reconcilerMetrics } from "./reconcile-releases.js";

const env = requireEnv(
  "LEDGER_TABLE_NAME",
  "STATE_MACHINE_ARN",
  "LOOKBACK_HOURS",
  "SETTLE_MINUTES",
  "MAX_STARTS",
);
const config = bundledAppConfig();
const options: ReconcileOptions = {
  lookbackHours: positiveInteger("LOOKBACK_HOURS", env.LOOKBACK_HOURS),
  settleMinutes: positiveInteger("SETTLE_MINUTES", env.SETTLE_MINUTES),
  maxStarts: positiveInteger("MAX_STARTS", env.MAX_STARTS),
};
const clock = { now: () => new Date() };
const adapters = firstUse(async () => {
  const [
    { DynamoDBClient },
    { ECRClient },
    { SFNClient },
    { DynamoDbLedger },
    { EcrImageLister },
    { SfnReleaseStarter },
  ] = await Promise.all([
    import("../../shared/adapters/aws/clients/dynamodb.js"),
    import("../../shared/adapters/aws/clients/ecr.js"),
    import("../../shared/adapters/aws/clients/sfn.js"),
    import("../../shared/adapters/aws/dynamodb-ledger.js"),
    import("../../shared/adapters/aws/ecr-image-lister.js"),
    import("../../shared/adapters/aws/sfn-release-starter.js"),
  ]);
  return {
    images: new EcrImageLister(new ECRClient({})),
    ledger: new DynamoDbLedger(new DynamoDBClient({}), env.LEDGER_TABLE_NAME),
    starter: new SfnReleaseStarter(new SFNClient({}), env.STATE_MACHINE_ARN),
  };
});

function positiveInteger(name: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

const tools = powertools("pourover-reconcile-releases");

export const handler = middy()
  .use(tools.middleware)
  .handler(async () => {
    const result = await reconcileReleases(config, options, { ...(await adapters()), clock });
    publishMetrics(tools.metrics, reconcilerMetrics(result));
    tools.logger.info("reconcile-releases", {
      app: result.app,
      tagsSeen: result.tagsSeen,
      alreadyClaimed: result.alreadyClaimed,
      lostEventsFound: result.lostEventsFound,
      started: result.started.map((s) => ({ tag: s.tag, execution: s.executionName })),
      alreadyStarted: result.alreadyStarted,
      deferred: result.deferred,
      failures: result.failures,
    });
    // What could be done was done; failing the invocation makes the rest visible (Lambda Errors) and
    // the retry is harmless because execution names are deterministic.
    if (result.failures.length > 0) {
      throw new Error(
        `reconcile-releases: ${result.failures.length} failure(s): ${result.failures
          .map((f) => `${f.repository ?? f.tag}: ${f.error}`)
          .join("; ")}`,
      );
    }
    return result;
  });
