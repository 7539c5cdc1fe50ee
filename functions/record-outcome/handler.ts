import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import middy from "@middy/core";
import { DynamoDbLedger } from "../../shared/adapters/aws/dynamodb-ledger.js";
import { requireEnv } from "../../shared/config/lambda-env.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import { recordOutcome } from "./record-outcome.js";

const env = requireEnv("LEDGER_TABLE_NAME", "EVENT_BUS_NAME");
const events = new EventBridgeClient({});
const deps = {
  ledger: new DynamoDbLedger(new DynamoDBClient({}), env.LEDGER_TABLE_NAME),
  clock: { now: () => new Date() },
  events: {
    async publish(e: { source: string; detailType: string; detail: Record<string, unknown> }) {
      const out = await events.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: env.EVENT_BUS_NAME,
              Source: e.source,
              DetailType: e.detailType,
              Detail: JSON.stringify(e.detail),
            },
          ],
        }),
      );
      if (out.FailedEntryCount)
        throw new Error(`EventBridge rejected the outcome event: ${out.Entries?.[0]?.ErrorCode}`);
    },
  },
};

export const handler = middy<{ release: ReleaseState; executionId: string }>().handler((event) =>
  recordOutcome(event, deps),
);
