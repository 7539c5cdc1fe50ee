import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import middy from "@middy/core";
import { DynamoDbDevLock } from "../../shared/adapters/aws/dynamodb-dev-lock.js";
import { DynamoDbLedger } from "../../shared/adapters/aws/dynamodb-ledger.js";
import { SesMailer } from "../../shared/adapters/aws/ses-mailer.js";
import { bundledAppConfig, requireEnv } from "../../shared/config/lambda-env.js";
import { executionConsoleUrl } from "../../shared/domain/console-url.js";
import { powertools } from "../../shared/observability/powertools.js";
import { finishAbandonedRelease } from "./finish-abandoned-release.js";

const env = requireEnv("LEDGER_TABLE_NAME");
const dynamodb = new DynamoDBClient({});
const deps = {
  config: bundledAppConfig(),
  ledger: new DynamoDbLedger(dynamodb, env.LEDGER_TABLE_NAME),
  lock: new DynamoDbDevLock(dynamodb, env.LEDGER_TABLE_NAME),
  mailer: new SesMailer(new SESv2Client({})),
  executionUrl: executionConsoleUrl,
  clock: { now: () => new Date() },
};

export const handler = middy<unknown>()
  .use(powertools("pourover-finish-abandoned-release").middleware)
  .handler((event) => finishAbandonedRelease(event, deps));
