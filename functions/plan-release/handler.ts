import middy from "@middy/core";
import { firstUse } from "../../shared/adapters/first-use.js";
import { bundledAppConfig, requireEnv } from "../../shared/config/lambda-env.js";
import { powertools } from "../../shared/observability/powertools.js";
import type { ReleaseLedger } from "../../shared/ports/index.js";
import { planRelease } from "./plan-release.js";

const config = bundledAppConfig();
const env = requireEnv("LEDGER_TABLE_NAME");
const registry = firstUse(async () => {
  const [{ ECRClient }, { EcrImageRegistry }] = await Promise.all([
    import("../../shared/adapters/aws/clients/ecr.js"),
    import("../../shared/adapters/aws/ecr-registry.js"),
  ]);
  return new EcrImageRegistry(new ECRClient({}));
});
/** Only a rollback reads the ledger: the DynamoDB client is loaded then, not on every first event. */
const ledger = firstUse(async () => {
  const [{ DynamoDBClient }, { DynamoDbLedger }] = await Promise.all([
    import("../../shared/adapters/aws/clients/dynamodb.js"),
    import("../../shared/adapters/aws/dynamodb-ledger.js"),
  ]);
  return new DynamoDbLedger(new DynamoDBClient({}), env.LEDGER_TABLE_NAME);
});
const rollbackLedger: Pick<ReleaseLedger, "get"> = {
  get: async (app, tag) => (await ledger()).get(app, tag),
};

export const handler = middy()
  .use(powertools("pourover-plan-release").middleware)
  .handler(async (event: unknown) => {
    const images = await registry();
    return planRelease(event, config, { registry: images, rollback: { ledger: rollbackLedger, images } });
  });
