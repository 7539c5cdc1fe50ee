import { ECRClient } from "@aws-sdk/client-ecr";
import middy from "@middy/core";
import { EcrImageRegistry } from "../../shared/adapters/aws/ecr-registry.js";
import { bundledAppConfig, requireEnv } from "../../shared/config/lambda-env.js";
import { powertools } from "../../shared/observability/powertools.js";
import type { ReleaseLedger } from "../../shared/ports/index.js";
import { planRelease } from "./plan-release.js";

const config = bundledAppConfig();
const env = requireEnv("LEDGER_TABLE_NAME");
const registry = new EcrImageRegistry(new ECRClient({}));
let ledger: Pick<ReleaseLedger, "get"> | undefined;

/** Only a rollback reads the ledger: the DynamoDB client is loaded then, not at every cold start. */
const rollbackLedger: Pick<ReleaseLedger, "get"> = {
  get: async (app, tag) => {
    if (!ledger) {
      const [{ DynamoDBClient }, { DynamoDbLedger }] = await Promise.all([
        import("@aws-sdk/client-dynamodb"),
        import("../../shared/adapters/aws/dynamodb-ledger.js"),
      ]);
      ledger = new DynamoDbLedger(new DynamoDBClient({}), env.LEDGER_TABLE_NAME);
    }
    return ledger.get(app, tag);
  },
};
const deps = { registry, rollback: { ledger: rollbackLedger, images: registry } };

export const handler = middy()
  .use(powertools("pourover-plan-release").middleware)
  .handler(async (event: unknown) => planRelease(event, config, deps));
