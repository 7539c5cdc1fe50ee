import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import middy from "@middy/core";
import { DynamoDbDevLock } from "../../shared/adapters/aws/dynamodb-dev-lock.js";
import { requireEnv } from "../../shared/config/lambda-env.js";
import { acquireDevLock } from "./acquire-dev-lock.js";

const env = requireEnv("LEDGER_TABLE_NAME");
const deps = {
  lock: new DynamoDbDevLock(new DynamoDBClient({}), env.LEDGER_TABLE_NAME),
  clock: { now: () => new Date() },
};

export const handler = middy<unknown>().handler((event) => acquireDevLock(event, deps));
