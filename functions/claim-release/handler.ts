import middy from "@middy/core";
import { firstUse } from "../../shared/adapters/first-use.js";
import { requireEnv } from "../../shared/config/lambda-env.js";
import { powertools } from "../../shared/observability/powertools.js";
import { type ClaimReleaseInput, claimRelease } from "./claim-release.js";

const env = requireEnv("LEDGER_TABLE_NAME");
const clock = { now: () => new Date() };
const ledger = firstUse(async () => {
  const [{ DynamoDBClient }, { DynamoDbLedger }] = await Promise.all([
    import("../../shared/adapters/aws/clients/dynamodb.js"),
    import("../../shared/adapters/aws/dynamodb-ledger.js"),
  ]);
  return new DynamoDbLedger(new DynamoDBClient({}), env.LEDGER_TABLE_NAME);
});

export const handler = middy<ClaimReleaseInput>()
  .use(powertools("pourover-claim-release").middleware)
  .handler(async (event) => claimRelease(event, { ledger: await ledger(), clock }));
