import middy from "@middy/core";
import { firstUse } from "../../shared/adapters/first-use.js";
import { bundledAppConfig, requireEnv } from "../../shared/config/lambda-env.js";
import { executionConsoleUrl } from "../../shared/domain/console-url.js";
import { powertools } from "../../shared/observability/powertools.js";
import { finishAbandonedRelease } from "./finish-abandoned-release.js";

const env = requireEnv("LEDGER_TABLE_NAME");
const config = bundledAppConfig();
const clock = { now: () => new Date() };
const adapters = firstUse(async () => {
  const [{ DynamoDBClient }, { SESv2Client }, { DynamoDbDevLock }, { DynamoDbLedger }, { SesMailer }] =
    await Promise.all([
      import("../../shared/adapters/aws/clients/dynamodb.js"),
      import("../../shared/adapters/aws/clients/sesv2.js"),
      import("../../shared/adapters/aws/dynamodb-dev-lock.js"),
      import("../../shared/adapters/aws/dynamodb-ledger.js"),
      import("../../shared/adapters/aws/ses-mailer.js"),
    ]);
  const dynamodb = new DynamoDBClient({});
  return {
    ledger: new DynamoDbLedger(dynamodb, env.LEDGER_TABLE_NAME),
    lock: new DynamoDbDevLock(dynamodb, env.LEDGER_TABLE_NAME),
    mailer: new SesMailer(new SESv2Client({})),
  };
});

export const handler = middy<unknown>()
  .use(powertools("pourover-finish-abandoned-release").middleware)
  .handler(async (event) =>
    finishAbandonedRelease(event, {
      config,
      ...(await adapters()),
      executionUrl: executionConsoleUrl,
      clock,
    }),
  );
