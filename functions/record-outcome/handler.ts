import middy from "@middy/core";
import { firstUse } from "../../shared/adapters/first-use.js";
import { requireEnv } from "../../shared/config/lambda-env.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import { powertools } from "../../shared/observability/powertools.js";
import { publishReleaseMetrics } from "../../shared/observability/release-metrics.js";
import { recordOutcome } from "./record-outcome.js";

const env = requireEnv("LEDGER_TABLE_NAME", "EVENT_BUS_NAME");
const clock = { now: () => new Date() };
const adapters = firstUse(async () => {
  const [{ DynamoDBClient }, { EventBridgeClient }, { DynamoDbLedger }, { EventBridgePublisher }] =
    await Promise.all([
      import("../../shared/adapters/aws/clients/dynamodb.js"),
      import("../../shared/adapters/aws/clients/eventbridge.js"),
      import("../../shared/adapters/aws/dynamodb-ledger.js"),
      import("../../shared/adapters/aws/eventbridge-publisher.js"),
    ]);
  return {
    ledger: new DynamoDbLedger(new DynamoDBClient({}), env.LEDGER_TABLE_NAME),
    events: new EventBridgePublisher(new EventBridgeClient({}), env.EVENT_BUS_NAME),
  };
});
const tools = powertools("pourover-record-outcome");

export const handler = middy<{ release: ReleaseState; executionId: string }>()
  .use(tools.middleware)
  .handler(async (event) => {
    const result = await recordOutcome(event, { ...(await adapters()), clock });
    // Lead time, failure stage and scan rejections feed the dashboard and the alarms.
    publishReleaseMetrics(tools.metrics, { release: event.release, ...result });
    return result;
  });
