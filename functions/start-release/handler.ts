/**
 * Lambda target of the trigger rules (tag push, ECR push): EventBridge cannot name the executions it
 * starts, this function can. Wiring only; the SDK clients are loaded on the first event.
 */
import middy from "@middy/core";
import { firstUse } from "../../shared/adapters/first-use.js";
import { requireEnv } from "../../shared/config/lambda-env.js";
import { powertools } from "../../shared/observability/powertools.js";
import { startRelease } from "./start-release.js";

const env = requireEnv("LEDGER_TABLE_NAME", "STATE_MACHINE_ARN");
const adapters = firstUse(async () => {
  const [{ DynamoDBClient }, { SFNClient }, { DynamoDbLedger }, { SfnReleaseStarter }] = await Promise.all([
    import("../../shared/adapters/aws/clients/dynamodb.js"),
    import("../../shared/adapters/aws/clients/sfn.js"),
    import("../../shared/adapters/aws/dynamodb-ledger.js"),
    import("../../shared/adapters/aws/sfn-release-starter.js"),
  ]);
  return {
    ledger: new DynamoDbLedger(new DynamoDBClient({}), env.LEDGER_TABLE_NAME),
    starter: new SfnReleaseStarter(new SFNClient({}), env.STATE_MACHINE_ARN),
  };
});

const tools = powertools("pourover-start-release");

export const handler = middy()
  .use(tools.middleware)
  .handler(async (event: unknown) => {
    const result = await startRelease(event, await adapters());
    tools.logger.info("start-release", { ...result });
    return result;
  });
