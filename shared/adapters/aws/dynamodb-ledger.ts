import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { ReleaseAlreadyClaimedError } from "../../domain/errors.js";
import type {
  AbandonedEntry,
  AbandonedReleaseLedger,
  ClaimEntry,
  LedgerRecord,
  OutcomeEntry,
  ProdEntry,
  ProdLedger,
  ReleaseLedger,
  ReleaseRecords,
} from "../../ports/index.js";
import { conditionHeld } from "./condition-held.js";

/** Release records are kept for two years; delivery dedupe keys share the table with a short TTL. */
const RECORD_TTL_SECONDS = 2 * 365 * 24 * 3600;

/**
 * "What is on dev now" is one item per app, `latest#<app>`, pointing at the SUCCEEDED release that
 * finished last. It is moved forward only (conditional on `finishedAt`), so an old execution that
 * records late cannot move it back. This answers the question with one GetItem and needs no index;
 * `latest#…` cannot collide with a release key, whose tag always starts with `v`.
 */
const latestKey = (app: string) => `latest#${app}`;

/**
 * Items are written in DynamoDB's own attribute-value form (`{ S: … }`), not through
 * `@aws-sdk/lib-dynamodb`'s document client: the workflow's `dynamodb:updateItem` states write the
 * same items in that form (and the API-model contract test checks them), so one notation describes
 * the table on both sides; and the document client adds about 22 KB minified to each bundle that
 * holds it (measured: a Put and a Get, 528 KB raw against 550 KB), while the webhook, which carries
 * the dedupe adapter, is already over its size budget. The attributes are few and flat.
 */
export class DynamoDbLedger implements ReleaseLedger, ReleaseRecords, ProdLedger, AbandonedReleaseLedger {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async claim(entry: ClaimEntry): Promise<void> {
    const claimed = await conditionHeld(
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            pk: { S: `${entry.app}#${entry.tag}` },
            app: { S: entry.app },
            tag: { S: entry.tag },
            executionId: { S: entry.executionId },
            status: { S: "RUNNING" },
            claimedAt: { S: entry.claimedAt },
            trigger: { S: JSON.stringify(entry.trigger) },
            expiresAt: { N: String(Math.floor(Date.parse(entry.claimedAt) / 1000) + RECORD_TTL_SECONDS) },
          },
          // A release that ended without succeeding may be released again; anything else is a duplicate.
          ConditionExpression: "attribute_not_exists(pk) OR #status IN (:failed, :aborted, :timedOut)",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: {
            ":failed": { S: "FAILED" },
            ":aborted": { S: "ABORTED" },
            ":timedOut": { S: "TIMED_OUT" },
          },
        }),
      ),
    );
    if (!claimed)
      throw new ReleaseAlreadyClaimedError(
        `${entry.app} ${entry.tag} is already claimed by another execution`,
      );
  }

  async record(entry: OutcomeEntry): Promise<void> {
    const applied = await conditionHeld(
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: `${entry.app}#${entry.tag}` } },
          UpdateExpression:
            "SET #status = :status, finishedAt = :finishedAt, summary = :summary, app = :app, tag = :tag, executionId = if_not_exists(executionId, :executionId)",
          // Only the owner of the claim (or nobody, for an invalid request) sets the outcome.
          ConditionExpression: "attribute_not_exists(pk) OR executionId = :executionId",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: {
            ":status": { S: entry.status },
            ":finishedAt": { S: entry.finishedAt },
            ":summary": { S: JSON.stringify(entry.summary) },
            ":app": { S: entry.app },
            ":tag": { S: entry.tag },
            ":executionId": { S: entry.executionId },
          },
        }),
      ),
    );
    if (!applied) return;
    // A superseded release was pinned but never deployed: it is not what runs on dev.
    if (
      entry.status === "SUCCEEDED" &&
      (entry.summary.deploy as { superseded?: boolean } | null)?.superseded !== true
    )
      await this.moveLatest(entry);
  }

  async finishAbandoned(entry: AbandonedEntry): Promise<boolean> {
    return conditionHeld(
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: `${entry.app}#${entry.tag}` } },
          UpdateExpression: "SET #status = :status, finishedAt = :finishedAt, summary = :summary",
          // Only the claim's owner, and only while nothing recorded its outcome.
          ConditionExpression: "executionId = :executionId AND #status = :running",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: {
            ":status": { S: entry.status },
            ":finishedAt": { S: entry.finishedAt },
            ":summary": { S: JSON.stringify(entry.summary) },
            ":executionId": { S: entry.executionId },
            ":running": { S: "RUNNING" },
          },
        }),
      ),
    );
  }

  async markAbandonNotice(app: string, tag: string, executionId: string, at: string): Promise<boolean> {
    return conditionHeld(
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: `${app}#${tag}` } },
          UpdateExpression: "SET abandonNoticeAt = :at",
          ConditionExpression: "executionId = :executionId AND attribute_not_exists(abandonNoticeAt)",
          ExpressionAttributeValues: { ":at": { S: at }, ":executionId": { S: executionId } },
        }),
      ),
    );
  }

  async clearAbandonNotice(app: string, tag: string, executionId: string): Promise<void> {
    await conditionHeld(
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: `${app}#${tag}` } },
          UpdateExpression: "REMOVE abandonNoticeAt",
          ConditionExpression: "executionId = :executionId",
          ExpressionAttributeValues: { ":executionId": { S: executionId } },
        }),
      ),
    );
  }

  private async moveLatest(entry: OutcomeEntry): Promise<void> {
    // A condition that fails means a release that finished later is already the latest: nothing to move.
    await conditionHeld(
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: latestKey(entry.app) } },
          UpdateExpression:
            "SET app = :app, tag = :tag, executionId = :executionId, finishedAt = :finishedAt",
          ConditionExpression: "attribute_not_exists(pk) OR finishedAt < :finishedAt",
          ExpressionAttributeValues: {
            ":app": { S: entry.app },
            ":tag": { S: entry.tag },
            ":executionId": { S: entry.executionId },
            ":finishedAt": { S: entry.finishedAt },
          },
        }),
      ),
    );
  }

  async recordProd(
    app: string,
    tag: string,
    entry: ProdEntry,
  ): Promise<"recorded" | "unchanged" | "missing"> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: `${app}#${tag}` } },
          // Only `prod`: the claim and the outcome belong to the release execution.
          UpdateExpression: "SET prod = :prod",
          ConditionExpression:
            "attribute_exists(pk) AND (attribute_not_exists(prod) OR prod.revision <> :revision OR prod.#status <> :status)",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: {
            ":prod": {
              M: {
                status: { S: entry.status },
                revision: { S: entry.revision },
                at: { S: entry.at },
                health: { S: entry.health },
                argoApp: { S: entry.argoApp },
              },
            },
            ":revision": { S: entry.revision },
            ":status": { S: entry.status },
          },
          // Tells "no such release" from "already recorded" without a second read.
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return "recorded";
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return error.Item ? "unchanged" : "missing";
      throw error;
    }
  }

  async latestSucceeded(app: string): Promise<LedgerRecord | null> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { pk: { S: latestKey(app) } },
        ConsistentRead: true,
      }),
    );
    const tag = out.Item?.tag?.S;
    return tag ? this.get(app, tag) : null;
  }

  async get(app: string, tag: string): Promise<LedgerRecord | null> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { pk: { S: `${app}#${tag}` } },
        ConsistentRead: true,
      }),
    );
    const item = out.Item;
    if (!item) return null;
    return {
      app: item.app?.S ?? app,
      tag: item.tag?.S ?? tag,
      executionId: item.executionId?.S ?? "",
      claimedAt: item.claimedAt?.S ?? "",
      status: (item.status?.S ?? "RUNNING") as LedgerRecord["status"],
      trigger: JSON.parse(item.trigger?.S ?? "{}"),
      ...(item.finishedAt?.S ? { finishedAt: item.finishedAt.S } : {}),
      ...(item.summary?.S ? { summary: JSON.parse(item.summary.S) } : {}),
      ...(item.prod?.M ? { prod: prodFrom(item.prod.M) } : {}),
    };
  }
}

function prodFrom(m: Record<string, { S?: string }>): ProdEntry {
  return {
    status: m.status?.S === "DEGRADED" ? "DEGRADED" : "DEPLOYED",
    revision: m.revision?.S ?? "",
    at: m.at?.S ?? "",
    health: m.health?.S ?? "",
    argoApp: m.argoApp?.S ?? "",
  };
}
