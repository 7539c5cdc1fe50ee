import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import middy from "@middy/core";
import { DynamoDbDevLock } from "../../shared/adapters/aws/dynamodb-dev-lock.js";
import { requireEnv } from "../../shared/config/lambda-env.js";
import { releaseDevLock } from "./release-dev-lock.js";

const env = requireEnv("LEDGER_TABLE_NAME");
const deps = { lock: new DynamoDbDevLock(new DynamoDBClient({}), env.LEDGER_TABLE_NAME) };

export const handler = middy<unknown>().handler((event) => releaseDevLock(event, deps));
