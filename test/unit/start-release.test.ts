import { join } from "node:path";
import {
  ExecutionAlreadyExists,
  SFNClient,
  StartExecutionCommand,
  type StartExecutionCommandInput,
} from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { claimRelease } from "../../functions/claim-release/claim-release.js";
import { reconcileReleases } from "../../functions/reconcile-releases/reconcile-releases.js";
import { recordOutcome } from "../../functions/record-outcome/record-outcome.js";
import { startRelease } from "../../functions/start-release/start-release.js";
import { routeEvent } from "../../local/event-rules.js";
import { SfnReleaseStarter } from "../../shared/adapters/aws/sfn-release-starter.js";
import { SqliteLedger } from "../../shared/adapters/local/sqlite-ledger.js";
import { MAX_EXECUTION_NAME, releaseExecutionName } from "../../shared/domain/release-naming.js";
import { exampleConfig, tempDir } from "../helpers/local.js";

const config = exampleConfig();
const MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:pourover-coffeeshop-release";
const DIGEST = `sha256:${"b".repeat(64)}`;

/**
 * Step Functions' StartExecution as its API reference describes it for a Standard state machine: a
 * name is unique per state machine (for 90 days); a repeated name with identical input while the
 * first is still open returns that execution (idempotent); a different input, or a closed first
 * execution, fails with ExecutionAlreadyExists (HTTP 400).
 */
function fakeStepFunctions() {
  const sfn = mockClient(SFNClient);
  const executions = new Map<string, { input: string; open: boolean; arn: string; startDate: Date }>();
  let calls = 0;
  sfn.on(StartExecutionCommand).callsFake((input: StartExecutionCommandInput) => {
    calls++;
    const name = input.name ?? "";
    const existing = executions.get(name);
    if (existing) {
      if (existing.open && existing.input === input.input)
        return { executionArn: existing.arn, startDate: existing.startDate };
      throw new ExecutionAlreadyExists({
        message: `Execution Already Exists: '${existing.arn}'`,
        $metadata: {
          httpStatusCode: 400,
          requestId: "3f2f6c3e-0000-4000-8000-000000000000",
          attempts: 1,
          totalRetryDelay: 0,
        },
      });
    }
    const arn = `${MACHINE.replace(":stateMachine:", ":execution:")}:${name}`;
    executions.set(name, { input: input.input ?? "{}", open: true, arn, startDate: new Date() });
    return { executionArn: arn, startDate: new Date() };
  });
  return { sfn, executions, calls: () => calls };
}

describe("release executions are named after what they are, and a duplicate trigger starts none", () => {
  let dir: ReturnType<typeof tempDir>;
  let ledger: SqliteLedger;
  let fake: ReturnType<typeof fakeStepFunctions>;
  beforeEach(() => {
    dir = tempDir();
    ledger = new SqliteLedger(join(dir.path, "ledger.sqlite"));
    fake = fakeStepFunctions();
  });
  afterEach(() => {
    fake.sfn.restore();
    ledger.close();
    dir.cleanup();
  });

  const tagPush = {
    source: "pourover.webhook",
    "detail-type": "Release Tag Pushed",
    detail: {
      app: "coffeeshop",
      tag: "v1.4.0",
      repository: "thangchung/go-coffeeshop",
      commit: "a".repeat(40),
      pusher: "alice",
      deliveryId: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    },
  };
  const ecrPush = (service: string) => ({
    version: "0",
    id: "c8b133b1-6029-ee73-e2a1-4f466b8ba999",
    "detail-type": "ECR Image Action",
    source: "aws.ecr",
    account: "123456789012",
    time: "2026-12-01T12:00:00Z",
    region: "us-east-1",
    resources: [],
    detail: {
      result: "SUCCESS",
      "repository-name": config.services.find((s) => s.name === service)?.repository,
      "image-digest": DIGEST,
      "action-type": "PUSH",
      "image-tag": "v1.4.0",
    },
  });

  it("a tag push, an ECR push and the reconciler for the same release: one execution, coffeeshop-v1.4.0-1", async () => {
    const starter = new SfnReleaseStarter(new SFNClient({ region: "us-east-1" }), MACHINE);
    const route = route2;
    // Both deliveries arrive before the first execution has claimed the release.
    const fromTag = await startRelease(route(tagPush), { ledger, starter });
    const fromEcr = await startRelease(route(ecrPush("web")), { ledger, starter });
    expect(fromTag).toMatchObject({ started: true, name: "coffeeshop-v1.4.0-1" });
    expect(fromEcr).toEqual({ started: false, name: "coffeeshop-v1.4.0-1", reason: "execution-exists" });

    // The execution claims the release; a redelivered event and the reconciler then start nothing.
    const arn = [...fake.executions.values()][0]?.arn as string;
    await claimRelease(
      { request: route(tagPush), executionId: arn },
      {
        ledger,
        clock: { now: () => new Date() },
      },
    );
    const callsBefore = fake.calls();
    expect(await startRelease(route(ecrPush("counter")), { ledger, starter })).toMatchObject({
      started: false,
      reason: "already-claimed",
      status: "RUNNING",
    });
    const reconciled = await reconcileReleases(
      config,
      { lookbackHours: 24, settleMinutes: 10, maxStarts: 10 },
      {
        images: {
          recentImages: async (repository) => [
            { repository, digest: DIGEST, tags: ["v1.4.0"], pushedAt: new Date(Date.now() - 3_600_000) },
          ],
        },
        ledger,
        starter,
        clock: { now: () => new Date() },
      },
    );
    expect(reconciled.started).toEqual([]);
    expect(reconciled.alreadyClaimed).toBe(1);
    expect(fake.calls()).toBe(callsBefore);
    expect([...fake.executions.keys()]).toEqual(["coffeeshop-v1.4.0-1"]);
  });

  it("the reconciler alone (the events were lost) names the execution as a trigger would", async () => {
    const starter = new SfnReleaseStarter(new SFNClient({ region: "us-east-1" }), MACHINE);
    const out = await reconcileReleases(
      config,
      { lookbackHours: 24, settleMinutes: 10, maxStarts: 10 },
      {
        images: {
          recentImages: async (repository) => [
            { repository, digest: DIGEST, tags: ["v1.4.0"], pushedAt: new Date(Date.now() - 3_600_000) },
          ],
        },
        ledger,
        starter,
        clock: { now: () => new Date() },
      },
    );
    expect(out.started.map((s) => s.executionName)).toEqual(["coffeeshop-v1.4.0-1"]);
    // A late ECR event for it: same name, different input, so Step Functions refuses it.
    expect(await startRelease(route2(ecrPush("web")), { ledger, starter })).toMatchObject({
      started: false,
      reason: "execution-exists",
    });
    expect(fake.executions.size).toBe(1);
  });

  it("after a FAILED attempt the next trigger starts attempt 2; identical input while open is idempotent", async () => {
    const starter = new SfnReleaseStarter(new SFNClient({ region: "us-east-1" }), MACHINE);
    const request = route2(tagPush);
    const first = await startRelease(request, { ledger, starter });
    // The same delivery again while the first is open (same name, same input): no new execution.
    const again = await startRelease(request, { ledger, starter });
    expect(again).toMatchObject({
      started: true,
      name: "coffeeshop-v1.4.0-1",
      executionId: (first as { executionId: string }).executionId,
    });
    expect(fake.executions.size).toBe(1);
    const arn = (first as { executionId: string }).executionId;
    await claimRelease({ request, executionId: arn }, { ledger, clock: { now: () => new Date() } });
    await recordOutcome(
      {
        release: { ...request, error: { Error: "BuildFailedError", Cause: "web: build failed" } },
        executionId: arn,
      },
      { ledger, events: { publish: async () => {} }, clock: { now: () => new Date() } },
    );
    (fake.executions.get("coffeeshop-v1.4.0-1") as { open: boolean }).open = false;
    expect(await startRelease(request, { ledger, starter })).toMatchObject({
      started: true,
      name: "coffeeshop-v1.4.0-2",
    });
  });

  it("names stay within Step Functions' rules (1-80 characters, none of the forbidden ones) and distinct", () => {
    const long = `v1.0.0-${"a".repeat(20)}.${"b".repeat(20)}.${"c".repeat(20)}.${"d".repeat(20)}`;
    const names = [
      releaseExecutionName({ app: "coffeeshop", tag: long }, 1),
      releaseExecutionName({ app: "coffeeshop", tag: `${long.slice(0, -1)}e` }, 1),
      releaseExecutionName(
        {
          app: "coffeeshop",
          tag: "v1.2.2",
          rollback: { requestedAt: "2026-12-01T12:03:04.567Z", requestedBy: "a", from: null },
        },
        1,
      ),
    ];
    for (const name of names) {
      expect(name.length).toBeGreaterThan(0);
      expect(name.length).toBeLessThanOrEqual(MAX_EXECUTION_NAME);
      expect(name).not.toMatch(/[\s<>{}[\]?*"#%\\^|~`$&,;:/]/);
    }
    expect(new Set(names).size).toBe(3);
    expect(names[2]).toBe("coffeeshop-rollback-v1.2.2-20261201T120304Z");
  });
});

function route2(event: unknown) {
  const routed = routeEvent(event, config);
  if (!routed) throw new Error("no rule matched");
  return routed.request;
}
