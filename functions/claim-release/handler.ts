import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import middy from "@middy/core";
import { DynamoDbLedger } from "../../shared/adapters/aws/dynamodb-ledger.js";
import { requireEnv } from "../../shared/config/lambda-env.js";
import { powertools } from "../../shared/observability/powertools.js";
import { type ClaimReleaseInput, claimRelease } from "./claim-release.js";

const env = requireEnv("LEDGER_TABLE_NAME");
const deps = {
  ledger: new DynamoDbLedger(new DynamoDBClient({}), env.LEDGER_TABLE_NAME),
  clock: { now: () => new Date() },
};

export const handler = middy<ClaimReleaseInput>()
  .use(powertools("pourover-claim-release").middleware)
  .handler((event) => claimRelease(event, deps));
