import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { DynamoDeliveryDedupe } from "../../shared/adapters/aws/delivery-dedupe.js";

const dynamo = mockClient(DynamoDBClient);

beforeEach(() => {
  dynamo.reset();
});

describe("DynamoDeliveryDedupe", () => {
  const now = () => Date.parse("2025-01-01T00:00:00Z");

  it("first time: conditional put of delivery#<id> with a TTL; true", async () => {
    dynamo.on(PutItemCommand).resolves({});
    const dedupe = new DynamoDeliveryDedupe(new DynamoDBClient({}), "ledger", { now });
    expect(await dedupe.firstTime({ kind: "delivery", id: "abc" })).toBe(true);
    expect(dynamo.commandCalls(PutItemCommand)[0]?.args[0].input).toEqual({
      TableName: "ledger",
      Item: {
        pk: { S: "delivery#abc" },
        kind: { S: "webhook-delivery" },
        receivedAt: { S: "2025-01-01T00:00:00.000Z" },
        expiresAt: { N: String(now() / 1000 + 7 * 24 * 3600) },
      },
      // An expired item not yet deleted by TTL does not count as seen.
      ConditionExpression: "attribute_not_exists(#pk) OR #ttl <= :now",
      ExpressionAttributeNames: { "#pk": "pk", "#ttl": "expiresAt" },
      ExpressionAttributeValues: { ":now": { N: String(now() / 1000) } },
    });
  });

  it("a body digest: its own key prefix (never a delivery id, a release or the dev lock), same window", async () => {
    dynamo.on(PutItemCommand).resolves({});
    const dedupe = new DynamoDeliveryDedupe(new DynamoDBClient({}), "ledger", { now });
    expect(await dedupe.firstTime({ kind: "body", sha256: "ab".repeat(32) })).toBe(true);
    expect(dynamo.commandCalls(PutItemCommand)[0]?.args[0].input.Item).toEqual({
      pk: { S: `delivery-body#${"ab".repeat(32)}` },
      kind: { S: "webhook-body" },
      receivedAt: { S: "2025-01-01T00:00:00.000Z" },
      expiresAt: { N: String(now() / 1000 + 7 * 24 * 3600) },
    });
  });

  it("ConditionalCheckFailed → false (seen before)", async () => {
    dynamo
      .on(PutItemCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} }),
      );
    expect(
      await new DynamoDeliveryDedupe(new DynamoDBClient({}), "ledger").firstTime({
        kind: "delivery",
        id: "abc",
      }),
    ).toBe(false);
  });

  it("other errors propagate (the core answers 500 and GitHub can redeliver)", async () => {
    dynamo.on(PutItemCommand).rejects(new Error("ProvisionedThroughputExceededException"));
    await expect(
      new DynamoDeliveryDedupe(new DynamoDBClient({}), "ledger").firstTime({ kind: "delivery", id: "abc" }),
    ).rejects.toThrow();
  });

  it("forget deletes the item; key and TTL attribute names are configurable", async () => {
    dynamo.on(DeleteItemCommand).resolves({});
    const dedupe = new DynamoDeliveryDedupe(new DynamoDBClient({}), "ledger", { keyAttribute: "id" });
    await dedupe.forget({ kind: "delivery", id: "abc" });
    expect(dynamo.commandCalls(DeleteItemCommand)[0]?.args[0].input).toEqual({
      TableName: "ledger",
      Key: { id: { S: "delivery#abc" } },
    });
  });
});
