import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { SESv2Client, SendEmailCommand } from "@aws-sdk/client-sesv2";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { acquireDevLock } from "../../functions/acquire-dev-lock/acquire-dev-lock.js";
import { claimRelease } from "../../functions/claim-release/claim-release.js";
import { finishAbandonedRelease } from "../../functions/finish-abandoned-release/finish-abandoned-release.js";
import { recordOutcome } from "../../functions/record-outcome/record-outcome.js";
import { DynamoDbLedger } from "../../shared/adapters/aws/dynamodb-ledger.js";
import { SqliteDevLock } from "../../shared/adapters/local/sqlite-dev-lock.js";
import { SqliteLedger } from "../../shared/adapters/local/sqlite-ledger.js";
import { ReleaseAlreadyClaimedError } from "../../shared/domain/errors.js";
import type { EmailMessage, Mailer } from "../../shared/ports/index.js";
import { exampleConfig, tempDir } from "../helpers/local.js";

const MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:pourover-coffeeshop-release";
const exec = (name: string) =>
  `arn:aws:states:us-east-1:123456789012:execution:pourover-coffeeshop-release:${name}`;
const request = (tag: string) => ({
  app: "coffeeshop",
  tag,
  trigger: {
    source: "github",
    repository: "thangchung/go-coffeeshop",
    commit: "0123456789abcdef0123456789abcdef01234567",
    pusher: "octocat",
    deliveryId: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
  },
  force: false,
});

/**
 * An "Step Functions Execution Status Change" event as the Step Functions developer guide shows it
 * (EventBridge events for execution status changes): the detail is what DescribeExecution returns,
 * `input` is the execution input as a JSON string, dates are epoch milliseconds.
 */
function statusChange(status: "ABORTED" | "TIMED_OUT" | "FAILED", executionArn: string, input: unknown) {
  const name = executionArn.split(":").pop();
  return {
    version: "0",
    id: "315c1398-40ff-a850-213b-158f73e60175",
    "detail-type": "Step Functions Execution Status Change",
    source: "aws.states",
    account: "123456789012",
    time: "2025-06-01T12:30:00Z",
    region: "us-east-1",
    resources: [executionArn],
    detail: {
      executionArn,
      stateMachineArn: MACHINE,
      name,
      status,
      startDate: 1748779200000,
      stopDate: 1748781000000,
      input: JSON.stringify(input),
      output: null,
      inputDetails: { included: true },
      outputDetails: null,
      ...(status === "FAILED"
        ? { error: "States.Runtime", cause: "An error occurred while executing the state 'X'." }
        : {}),
    },
  };
}

const NOW = new Date("2025-06-01T12:30:05.000Z");
// One mock per SDK client class for the whole file: a second mockClient() of a class replaces the first.
const ddb = mockClient(DynamoDBClient);
const ses = mockClient(SESv2Client);
const clock = { now: () => NOW };

function recordingMailer(failFirst = 0): Mailer & { sent: EmailMessage[] } {
  const sent: EmailMessage[] = [];
  let failures = failFirst;
  return {
    sent,
    send: async (message) => {
      if (failures-- > 0) throw Object.assign(new Error("Throttling"), { name: "TooManyRequestsException" });
      sent.push(message);
      return { messageId: `m-${sent.length}` };
    },
  };
}

describe("finishAbandonedRelease (core, real SQLite ledger and dev lock)", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });
  function setup(mailer = recordingMailer()) {
    const dir = tempDir();
    const file = `${dir.path}/ledger.sqlite`;
    const ledger = new SqliteLedger(file);
    const lock = new SqliteDevLock(file);
    cleanups.push(() => {
      ledger.close();
      lock.close();
      dir.cleanup();
    });
    const deps = {
      config: exampleConfig(),
      ledger,
      lock,
      mailer,
      executionUrl: (id: string) => `https://console/${id}`,
      clock,
    };
    return { ledger, lock, mailer, deps };
  }
  async function startRelease(s: ReturnType<typeof setup>, tag: string, name: string, takeLock = true) {
    await claimRelease({ request: request(tag), executionId: exec(name) }, { ledger: s.ledger, clock });
    if (takeLock)
      await acquireDevLock(
        { app: "coffeeshop", tag, executionId: exec(name), timeoutSeconds: 600 },
        { lock: s.lock, clock },
      );
  }

  it("ABORTED while holding claim and dev lock: records ABORTED, frees both, emails once; the tag may be released again", async () => {
    const s = setup();
    await startRelease(s, "v1.2.3", "run-1");
    const event = statusChange("ABORTED", exec("run-1"), request("v1.2.3"));
    const result = await finishAbandonedRelease(event, s.deps);
    expect(result).toEqual({
      finished: true,
      app: "coffeeshop",
      tag: "v1.2.3",
      status: "ABORTED",
      lockFreed: true,
      emailed: true,
    });
    const record = await s.ledger.get("coffeeshop", "v1.2.3");
    expect(record).toMatchObject({
      status: "ABORTED",
      executionId: exec("run-1"),
      finishedAt: "2025-06-01T12:30:00.000Z",
    });
    expect(record?.summary).toMatchObject({ abandoned: true, error: { name: "ExecutionAborted" } });
    expect(await s.lock.read("coffeeshop")).toMatchObject({ holder: null, version: "v1.2.3" });
    expect(s.mailer.sent).toHaveLength(1);
    expect(s.mailer.sent[0]?.subject).toContain("v1.2.3");
    expect(s.mailer.sent[0]?.text).toContain("ExecutionAborted");
    expect(s.mailer.sent[0]?.to).toEqual(
      expect.arrayContaining(["dev-team@example.com", "oncall@example.com"]),
    );

    // EventBridge delivers at least once: the same event again sends nothing more.
    const again = await finishAbandonedRelease(event, s.deps);
    expect(again).toMatchObject({ finished: true, emailed: false, lockFreed: false });
    expect(s.mailer.sent).toHaveLength(1);

    // The claim is given back: a new execution may claim the tag.
    await expect(
      claimRelease({ request: request("v1.2.3"), executionId: exec("run-2") }, { ledger: s.ledger, clock }),
    ).resolves.toBeDefined();
  });

  it("TIMED_OUT: recorded as TIMED_OUT with ExecutionTimedOut in the email", async () => {
    const s = setup();
    await startRelease(s, "v1.2.4", "run-t");
    const result = await finishAbandonedRelease(
      statusChange("TIMED_OUT", exec("run-t"), request("v1.2.4")),
      s.deps,
    );
    expect(result).toMatchObject({ finished: true, status: "TIMED_OUT", emailed: true });
    expect((await s.ledger.get("coffeeshop", "v1.2.4"))?.status).toBe("TIMED_OUT");
    expect(s.mailer.sent[0]?.text).toContain("ExecutionTimedOut");
  });

  it("a FAILED execution that went through RecordOutcome (its Catch path) is not emailed twice and stays as recorded", async () => {
    const s = setup();
    await startRelease(s, "v1.3.0", "run-f", false);
    const events = { publish: async () => {} };
    await recordOutcome(
      {
        release: {
          ...request("v1.3.0"),
          trigger: request("v1.3.0").trigger as never,
          error: { Error: "ScanPolicyRejectedError", Cause: "web: CVE-1" },
        },
        executionId: exec("run-f"),
      } as never,
      { ledger: s.ledger, events, clock },
    );
    const result = await finishAbandonedRelease(
      statusChange("FAILED", exec("run-f"), request("v1.3.0")),
      s.deps,
    );
    expect(result).toEqual({
      finished: false,
      reason: "outcome-already-recorded",
      lockFreed: false,
      emailed: false,
    });
    expect(s.mailer.sent).toHaveLength(0);
    expect((await s.ledger.get("coffeeshop", "v1.3.0"))?.summary).toMatchObject({
      error: { name: "ScanPolicyRejectedError" },
    });
  });

  it("a FAILED execution outside any Catch (States.Runtime) is closed and emailed with that error", async () => {
    const s = setup();
    await startRelease(s, "v1.3.1", "run-r");
    const result = await finishAbandonedRelease(
      statusChange("FAILED", exec("run-r"), request("v1.3.1")),
      s.deps,
    );
    expect(result).toMatchObject({ finished: true, status: "FAILED", lockFreed: true, emailed: true });
    expect(s.mailer.sent[0]?.text).toContain("States.Runtime");
  });

  it("claim and dev lock held by another execution are left alone, and nobody is emailed", async () => {
    const s = setup();
    // run-old claimed v2.0.0 and was aborted after run-new took the dev lock with v2.1.0.
    await startRelease(s, "v2.0.0", "run-old", false);
    await startRelease(s, "v2.1.0", "run-new");
    const result = await finishAbandonedRelease(
      statusChange("ABORTED", exec("run-old"), request("v2.0.0")),
      s.deps,
    );
    expect(result.lockFreed).toBe(false);
    expect(await s.lock.read("coffeeshop")).toMatchObject({ holder: exec("run-new"), version: "v2.1.0" });
    // And an execution that never held the claim of v2.1.0 (a duplicate) does not free it.
    const stranger = await finishAbandonedRelease(
      statusChange("ABORTED", exec("dup"), request("v2.1.0")),
      s.deps,
    );
    expect(stranger).toEqual({
      finished: false,
      reason: "not-claimed-by-this-execution",
      lockFreed: false,
      emailed: false,
    });
    expect(await s.ledger.get("coffeeshop", "v2.1.0")).toMatchObject({
      status: "RUNNING",
      executionId: exec("run-new"),
    });
    expect(await s.lock.read("coffeeshop")).toMatchObject({ holder: exec("run-new") });
    await expect(
      claimRelease({ request: request("v2.1.0"), executionId: exec("x") }, { ledger: s.ledger, clock }),
    ).rejects.toBeInstanceOf(ReleaseAlreadyClaimedError);
  });

  it("a failed send is unmarked and thrown (the event is retried), and the retry emails exactly once", async () => {
    const s = setup(recordingMailer(1));
    await startRelease(s, "v3.0.0", "run-m");
    const event = statusChange("ABORTED", exec("run-m"), request("v3.0.0"));
    await expect(finishAbandonedRelease(event, s.deps)).rejects.toThrow("Throttling");
    expect(s.mailer.sent).toHaveLength(0);
    await expect(finishAbandonedRelease(event, s.deps)).resolves.toMatchObject({ emailed: true });
    await expect(finishAbandonedRelease(event, s.deps)).resolves.toMatchObject({ emailed: false });
    expect(s.mailer.sent).toHaveLength(1);
  });

  it("another app's execution, or a status outside ABORTED/TIMED_OUT/FAILED, is refused or ignored", async () => {
    const s = setup();
    const other = await finishAbandonedRelease(
      statusChange("ABORTED", exec("o"), { ...request("v1.0.0"), app: "other" }),
      s.deps,
    );
    expect(other).toMatchObject({ finished: false, reason: "not-this-app" });
    const succeeded = statusChange("ABORTED", exec("o"), request("v1.0.0"));
    (succeeded.detail as { status: string }).status = "SUCCEEDED";
    await expect(finishAbandonedRelease(succeeded, s.deps)).rejects.toThrow(/status/);
    const noInput = statusChange("ABORTED", exec("o"), request("v1.0.0"));
    (noInput.detail as { input: string | null }).input = null;
    await expect(finishAbandonedRelease(noInput, s.deps)).rejects.toThrow(/no execution input/);
  });
});

describe("DynamoDbLedger: the abandoned-release writes are conditional on the claim's owner", () => {
  afterEach(() => ddb.reset());

  it("finishAbandoned: UpdateItem only where executionId is this execution and status RUNNING; false on ConditionalCheckFailed", async () => {
    const ledger = new DynamoDbLedger(new DynamoDBClient({ region: "us-east-1" }), "ledger");
    ddb
      .on(UpdateItemCommand)
      .resolvesOnce({})
      .rejectsOnce(
        new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} }),
      );
    const entry = {
      app: "coffeeshop",
      tag: "v1.0.0",
      executionId: exec("a"),
      status: "ABORTED" as const,
      finishedAt: NOW.toISOString(),
      summary: { abandoned: true as const },
    };
    expect(await ledger.finishAbandoned(entry)).toBe(true);
    expect(await ledger.finishAbandoned(entry)).toBe(false);
    const input = ddb.commandCalls(UpdateItemCommand)[0]?.args[0].input;
    expect(input?.Key).toEqual({ pk: { S: "coffeeshop#v1.0.0" } });
    expect(input?.ConditionExpression).toBe("executionId = :executionId AND #status = :running");
    expect(input?.ExpressionAttributeValues?.[":executionId"]).toEqual({ S: exec("a") });
    expect(input?.ExpressionAttributeValues?.[":status"]).toEqual({ S: "ABORTED" });
  });

  it("markAbandonNotice is a set-once conditional write; claim may take over ABORTED and TIMED_OUT releases", async () => {
    const ledger = new DynamoDbLedger(new DynamoDBClient({ region: "us-east-1" }), "ledger");
    ddb
      .on(UpdateItemCommand)
      .resolvesOnce({})
      .rejectsOnce(
        new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} }),
      );
    expect(await ledger.markAbandonNotice("coffeeshop", "v1.0.0", exec("a"), NOW.toISOString())).toBe(true);
    expect(await ledger.markAbandonNotice("coffeeshop", "v1.0.0", exec("a"), NOW.toISOString())).toBe(false);
    expect(ddb.commandCalls(UpdateItemCommand)[0]?.args[0].input.ConditionExpression).toBe(
      "executionId = :executionId AND attribute_not_exists(abandonNoticeAt)",
    );
    ddb.on(PutItemCommand).resolves({});
    await ledger.claim({
      app: "coffeeshop",
      tag: "v1.0.0",
      executionId: exec("b"),
      claimedAt: NOW.toISOString(),
      trigger: request("v1.0.0").trigger as never,
    });
    const put = ddb.commandCalls(PutItemCommand)[0]?.args[0].input;
    expect(put?.ConditionExpression).toBe(
      "attribute_not_exists(pk) OR #status IN (:failed, :aborted, :timedOut)",
    );
    expect(put?.ExpressionAttributeValues).toMatchObject({
      ":aborted": { S: "ABORTED" },
      ":timedOut": { S: "TIMED_OUT" },
    });
  });
});

describe("functions/finish-abandoned-release/handler (the Lambda entry, SDK clients mocked as AWS answers)", () => {
  beforeEach(() => {
    vi.resetModules();
    vi.stubEnv("LEDGER_TABLE_NAME", "pourover-ledger");
    vi.stubEnv("POUROVER_CONFIG", JSON.stringify(exampleConfig()));
    vi.stubEnv("AWS_REGION", "us-east-1");
    vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "true");
  });
  afterEach(() => {
    ddb.reset();
    ses.reset();
    vi.unstubAllEnvs();
  });

  it("an ABORTED status-change event frees the lock, records ABORTED and sends one SES email", async () => {
    const arn = exec("aborted-1");
    ddb.on(UpdateItemCommand).resolves({});
    ddb.on(GetItemCommand, { Key: { pk: { S: "coffeeshop#v4.0.0" } } }).resolves({
      Item: {
        pk: { S: "coffeeshop#v4.0.0" },
        app: { S: "coffeeshop" },
        tag: { S: "v4.0.0" },
        executionId: { S: arn },
        status: { S: "ABORTED" },
        claimedAt: { S: "2025-06-01T12:00:00.000Z" },
        trigger: { S: JSON.stringify(request("v4.0.0").trigger) },
        summary: { S: JSON.stringify({ abandoned: true }) },
      },
    });
    ses.on(SendEmailCommand).resolves({ MessageId: "0100018f-abc" });
    const { handler } = await import("../../functions/finish-abandoned-release/handler.js");
    const result = await handler(statusChange("ABORTED", arn, request("v4.0.0")), {
      functionName: "finish-abandoned-release",
      awsRequestId: "req-1",
    } as never);
    expect(result).toMatchObject({ finished: true, status: "ABORTED", lockFreed: true, emailed: true });
    const updates = ddb.commandCalls(UpdateItemCommand).map((c) => c.args[0].input);
    // The dev lock: released only where this execution is the holder.
    expect(updates[0]).toMatchObject({
      Key: { pk: { S: "devlock#coffeeshop" } },
      ConditionExpression: "holder = :me",
    });
    expect(updates[0]?.ExpressionAttributeValues?.[":me"]).toEqual({ S: arn });
    expect(updates[1]).toMatchObject({ Key: { pk: { S: "coffeeshop#v4.0.0" } } });
    expect(updates[2]?.UpdateExpression).toBe("SET abandonNoticeAt = :at");
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(1);
  });
});
