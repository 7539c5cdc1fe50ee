import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import middy from "@middy/core";
import { DynamoDbLedger } from "../../shared/adapters/aws/dynamodb-ledger.js";
import { EventBridgePublisher } from "../../shared/adapters/aws/eventbridge-publisher.js";
import { requireEnv } from "../../shared/config/lambda-env.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import { powertools } from "../../shared/observability/powertools.js";
import { publishReleaseMetrics } from "../../shared/observability/release-metrics.js";
import { recordOutcome } from "./record-outcome.js";

const env = requireEnv("LEDGER_TABLE_NAME", "EVENT_BUS_NAME");
const deps = {
  ledger: new DynamoDbLedger(new DynamoDBClient({}), env.LEDGER_TABLE_NAME),
  events: new EventBridgePublisher(new EventBridgeClient({}), env.EVENT_BUS_NAME),
  clock: { now: () => new Date() },
};
const tools = powertools("pourover-record-outcome");

export const handler = middy<{ release: ReleaseState; executionId: string }>()
  .use(tools.middleware)
  .handler(async (event) => {
    const result = await recordOutcome(event, deps);
    // Lead time, failure stage and scan rejections feed the dashboard and the alarms.
    publishReleaseMetrics(tools.metrics, { release: event.release, ...result });
    return result;
  });
