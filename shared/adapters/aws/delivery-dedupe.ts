import { DeleteItemCommand, type DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import type { DedupeKey, DeliveryDedupe } from "../../ports/delivery-dedupe.js";
import { conditionHeld } from "./condition-held.js";

export interface DynamoDeliveryDedupeOptions {
  /** Partition key attribute of the ledger table. @default "pk" */
  keyAttribute?: string;
  /** TTL attribute (epoch seconds) enabled on the ledger table. @default "expiresAt" */
  ttlAttribute?: string;
  /** How long a delivery id or body digest is remembered. GitHub redelivers up to 3 days back. @default 7 days */
  ttlSeconds?: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Webhook delivery dedupe in the release ledger table: one item keyed `delivery#<X-GitHub-Delivery>`
 * and one keyed `delivery-body#<sha256 of the signed body>`, each written with a conditional put and
 * expired by DynamoDB TTL. Needs dynamodb:PutItem and dynamodb:DeleteItem on the table (the webhook's
 * existing grant; neither prefix is a release item `<app>#v…`, the dev lock or `latest#…`).
 *
 * DynamoDB's TTL deletes expired items in the background, typically within a few days, and until
 * then they still show up in reads and writes ("Working with expired items", DynamoDB developer
 * guide). So the condition also accepts an item whose expiry has passed: the window is the TTL, not
 * the TTL plus however long the background deletion takes.
 *
 * Why not Powertools Idempotency: it keeps one record per event, keyed by a hash of (part of) the
 * payload, and answers a repeat with the stored result. A delivery here is a duplicate when either
 * of two keys was seen (its delivery id, which the signature does not cover, or its signed body),
 * and a repeat is answered "duplicate", not with the first response; its records (status, stored
 * response, in-progress expiry) would also share the ledger table under another schema.
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

  static key(key: DedupeKey | string): string {
    if (typeof key === "string") return `delivery#${key}`;
    return key.kind === "delivery" ? `delivery#${key.id}` : `delivery-body#${key.sha256}`;
  }

  async firstTime(key: DedupeKey): Promise<boolean> {
    const nowMs = this.now();
    const nowSeconds = Math.floor(nowMs / 1000);
    return conditionHeld(
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            [this.keyAttribute]: { S: DynamoDeliveryDedupe.key(key) },
            kind: { S: key.kind === "delivery" ? "webhook-delivery" : "webhook-body" },
            receivedAt: { S: new Date(nowMs).toISOString() },
            [this.ttlAttribute]: { N: String(nowSeconds + this.ttlSeconds) },
          },
          ConditionExpression: "attribute_not_exists(#pk) OR #ttl <= :now",
          ExpressionAttributeNames: { "#pk": this.keyAttribute, "#ttl": this.ttlAttribute },
          ExpressionAttributeValues: { ":now": { N: String(nowSeconds) } },
        }),
      ),
    );
  }

  async forget(key: DedupeKey): Promise<void> {
    await this.client.send(
      new DeleteItemCommand({
        TableName: this.tableName,
        Key: { [this.keyAttribute]: { S: DynamoDeliveryDedupe.key(key) } },
      }),
    );
  }
}
