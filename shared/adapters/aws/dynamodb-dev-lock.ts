import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import type { DevLock, DevLockRecord } from "../../ports/index.js";
import { conditionHeld } from "./condition-held.js";

/** `devlock#<app>` in the release ledger table; release keys are `app#v…`, so the two never collide. */
const key = (app: string) => ({ pk: { S: `devlock#${app}` } });

export class DynamoDbDevLock implements DevLock {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async read(app: string): Promise<DevLockRecord | null> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: key(app), ConsistentRead: true }),
    );
    const item = out.Item;
    if (!item) return null;
    return {
      app,
      version: item.version?.S ?? "",
      holder: item.holder?.S ?? null,
      heldUntil: item.heldUntil?.S ?? null,
      rev: Number(item.rev?.N ?? "0"),
    };
  }

  async write(next: Omit<DevLockRecord, "rev">, expectedRev: number | null): Promise<boolean> {
    return conditionHeld(
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            ...key(next.app),
            app: { S: next.app },
            version: { S: next.version },
            ...(next.holder ? { holder: { S: next.holder } } : {}),
            ...(next.heldUntil ? { heldUntil: { S: next.heldUntil } } : {}),
            rev: { N: String((expectedRev ?? 0) + 1) },
          },
          ...(expectedRev === null
            ? { ConditionExpression: "attribute_not_exists(pk)" }
            : {
                ConditionExpression: "rev = :rev",
                ExpressionAttributeValues: { ":rev": { N: String(expectedRev) } },
              }),
        }),
      ),
    );
  }

  async release(app: string, executionId: string): Promise<boolean> {
    return conditionHeld(
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(app),
          UpdateExpression: "REMOVE holder, heldUntil SET rev = rev + :one",
          ConditionExpression: "holder = :me",
          ExpressionAttributeValues: { ":me": { S: executionId }, ":one": { N: "1" } },
        }),
      ),
    );
  }
}
