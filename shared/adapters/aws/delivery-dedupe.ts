import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import type { DeliveryDedupe } from "../../../functions/receive-github-webhook/receive-github-webhook.js";

export interface DynamoDeliveryDedupeOptions {
  /** Partition key attribute of the ledger table. @default "pk" */
  keyAttribute?: string;
  /** TTL attribute (epoch seconds) enabled on the ledger table. @default "expiresAt" */
  ttlAttribute?: string;
  /** How long a delivery id is remembered. GitHub redelivers up to 3 days back. @default 7 days */
  ttlSeconds?: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Webhook delivery dedupe in the release ledger table: one item keyed `delivery#<X-GitHub-Delivery>`,
 * written with a conditional put, expired by DynamoDB TTL. Needs dynamodb:PutItem and
 * dynamodb:DeleteItem on the table.
 */
export class DynamoDeliveryDedupe implements DeliveryDedupe {
  private readonly keyAttribute: string;
  private readonly ttlAttribute: string;
  private readonly ttlSeconds: number;
  private readonly now: () => number;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoDeliveryDedupeOptions = {},
  ) {
    this.keyAttribute = options.keyAttribute ?? "pk";
    this.ttlAttribute = options.ttlAttribute ?? "expiresAt";
    this.ttlSeconds = options.ttlSeconds ?? 7 * 24 * 3600;
    this.now = options.now ?? Date.now;
  }

  static key(deliveryId: string): string {
    return `delivery#${deliveryId}`;
  }

  async firstTime(deliveryId: string): Promise<boolean> {
    const nowMs = this.now();
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            [this.keyAttribute]: { S: DynamoDeliveryDedupe.key(deliveryId) },
            kind: { S: "webhook-delivery" },
            receivedAt: { S: new Date(nowMs).toISOString() },
            [this.ttlAttribute]: { N: String(Math.floor(nowMs / 1000) + this.ttlSeconds) },
          },
          ConditionExpression: "attribute_not_exists(#pk)",
          ExpressionAttributeNames: { "#pk": this.keyAttribute },
        }),
      );
      return true;
    } catch (error) {
      if (
        error instanceof ConditionalCheckFailedException ||
        (error as { name?: string } | null)?.name === "ConditionalCheckFailedException"
      ) {
        return false;
      }
      throw error;
    }
  }

  async forget(deliveryId: string): Promise<void> {
    await this.client.send(
      new DeleteItemCommand({
        TableName: this.tableName,
        Key: { [this.keyAttribute]: { S: DynamoDeliveryDedupe.key(deliveryId) } },
      }),
    );
  }
}
