import middy from "@middy/core";
import { firstUse } from "../../shared/adapters/first-use.js";
import { requireEnv } from "../../shared/config/lambda-env.js";
import { powertools } from "../../shared/observability/powertools.js";
import { acquireDevLock } from "./acquire-dev-lock.js";

const env = requireEnv("LEDGER_TABLE_NAME");
const clock = { now: () => new Date() };
const lock = firstUse(async () => {
  const [{ DynamoDBClient }, { DynamoDbDevLock }] = await Promise.all([
    import("../../shared/adapters/aws/clients/dynamodb.js"),
    import("../../shared/adapters/aws/dynamodb-dev-lock.js"),
  ]);
  return new DynamoDbDevLock(new DynamoDBClient({}), env.LEDGER_TABLE_NAME);
});

export const handler = middy<unknown>()
  .use(powertools("pourover-acquire-dev-lock").middleware)
  .handler(async (event) => acquireDevLock(event, { lock: await lock(), clock }));
