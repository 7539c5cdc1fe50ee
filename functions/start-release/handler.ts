/**
 * Lambda target of the trigger rules (tag push, ECR push): EventBridge cannot name the executions it
 * starts, this function can. Wiring only.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SFNClient } from "@aws-sdk/client-sfn";
import middy from "@middy/core";
import { DynamoDbLedger } from "../../shared/adapters/aws/dynamodb-ledger.js";
import { SfnReleaseStarter } from "../../shared/adapters/aws/sfn-release-starter.js";
import { requireEnv } from "../../shared/config/lambda-env.js";
import { startRelease } from "./start-release.js";

const env = requireEnv("LEDGER_TABLE_NAME", "STATE_MACHINE_ARN");
const deps = {
  ledger: new DynamoDbLedger(new DynamoDBClient({}), env.LEDGER_TABLE_NAME),
  starter: new SfnReleaseStarter(new SFNClient({}), env.STATE_MACHINE_ARN),
};

export const handler = middy().handler(async (event: unknown) => {
  const result = await startRelease(event, deps);
  console.log(JSON.stringify({ msg: "start-release", ...result }));
  return result;
});
