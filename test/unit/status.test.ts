import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  SFNClient,
} from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { listExecutions } from "../../local/runtime.js";
import { findReleaseStatus, stateTimeline, statusCommand } from "../../local/status.js";
import { startRuntime } from "../helpers/local.js";

const SM = "arn:aws:states:eu-west-1:123456789012:stateMachine:ReleaseStateMachineABC";
const exec = (name: string) =>
  `arn:aws:states:eu-west-1:123456789012:execution:ReleaseStateMachineABC:${name}`;
const t = (s: number) => new Date(Date.UTC(2026, 10, 26, 10, 0, s));
const input = (tag: string) =>
  JSON.stringify({ app: "coffeeshop", tag, trigger: { source: "cli", pusher: "me" } });

/** A history in the shape GetExecutionHistory returns: ids chained by previousEventId. */
function history(steps: [number, string, Record<string, unknown>?][]): HistoryEvent[] {
  return steps.map(([s, type, details], i) => ({
    id: i + 1,
    previousEventId: i,
    timestamp: t(s),
    type: type as HistoryEvent["type"],
    ...(details ?? {}),
  }));
}
const entered = (name: string) => ({ stateEnteredEventDetails: { name } });
const exited = (name: string) => ({ stateExitedEventDetails: { name } });

const ownerHistory = history([
  [0, "ExecutionStarted", { executionStartedEventDetails: { input: input("v1.4.0") } }],
  [0, "TaskStateEntered", entered("ClaimRelease")],
  [0, "LambdaFunctionScheduled"],
  [0, "LambdaFunctionStarted"],
  [1, "LambdaFunctionSucceeded"],
  [1, "TaskStateExited", exited("ClaimRelease")],
  [1, "TaskStateEntered", entered("NotifySuccess")],
  [1, "LambdaFunctionScheduled"],
  [
    2,
    "LambdaFunctionFailed",
    { lambdaFunctionFailedEventDetails: { error: "NotificationFailedError", cause: "throttled" } },
  ],
  [4, "LambdaFunctionScheduled"],
  [5, "LambdaFunctionSucceeded"],
  [5, "TaskStateExited", exited("NotifySuccess")],
  [5, "TaskStateEntered", entered("DeployDev")],
  [5, "TaskScheduled"],
  [6, "TaskFailed", { taskFailedEventDetails: { error: "Ssm.InvalidDocument", cause: "bad doc" } }],
  [6, "TaskStateExited", exited("DeployDev")],
  [6, "FailStateEntered", entered("ReleaseFailed")],
  [7, "ExecutionFailed", { executionFailedEventDetails: { error: "Ssm.InvalidDocument", cause: "bad doc" } }],
]);
const duplicateHistory = history([
  [30, "ExecutionStarted", { executionStartedEventDetails: { input: input("v1.4.0") } }],
  [30, "TaskStateEntered", entered("ClaimRelease")],
  [31, "TaskStateExited", exited("ClaimRelease")],
  [31, "SucceedStateEntered", entered("Duplicate")],
  [31, "ExecutionSucceeded"],
]);

describe("pourover status <tag> (SFN client mocked at the SDK boundary)", () => {
  const sfn = mockClient(SFNClient);
  beforeEach(() => {
    sfn.reset();
    // Newest first over two pages, as ListExecutions returns them.
    sfn
      .on(ListExecutionsCommand, { stateMachineArn: SM })
      .resolves({
        executions: [
          {
            executionArn: exec("dup"),
            name: "dup",
            stateMachineArn: SM,
            status: "SUCCEEDED",
            startDate: t(30),
            stopDate: t(31),
          },
          {
            executionArn: exec("other"),
            name: "other",
            stateMachineArn: SM,
            status: "SUCCEEDED",
            startDate: t(20),
            stopDate: t(25),
          },
        ],
        nextToken: "page2",
      })
      .on(ListExecutionsCommand, { stateMachineArn: SM, nextToken: "page2" })
      .resolves({
        executions: [
          {
            executionArn: exec("owner"),
            name: "owner",
            stateMachineArn: SM,
            status: "FAILED",
            startDate: t(0),
            stopDate: t(7),
          },
        ],
      });
    sfn.on(DescribeExecutionCommand, { executionArn: exec("dup") }).resolves({ input: input("v1.4.0") });
    sfn.on(DescribeExecutionCommand, { executionArn: exec("other") }).resolves({ input: input("v1.3.0") });
    sfn.on(DescribeExecutionCommand, { executionArn: exec("owner") }).resolves({ input: input("v1.4.0") });
    sfn.on(GetExecutionHistoryCommand, { executionArn: exec("owner") }).resolves({ events: ownerHistory });
    sfn.on(GetExecutionHistoryCommand, { executionArn: exec("dup") }).resolves({ events: duplicateHistory });
  });

  it("finds the execution by its input's tag, skips the duplicate delivery, prints timeline and console URL", async () => {
    const s = await findReleaseStatus(new SFNClient({ region: "eu-west-1" }), {
      stateMachineArn: SM,
      app: "coffeeshop",
      tag: "v1.4.0",
    });
    expect(s.executionArn).toBe(exec("owner"));
    expect(s.status).toBe("FAILED");
    expect(s.durationMs).toBe(7000);
    expect(s.duplicates).toEqual([exec("dup")]);
    expect(s.consoleUrl).toBe(
      `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${encodeURIComponent(exec("owner"))}`,
    );
    expect(s.error).toEqual({ error: "Ssm.InvalidDocument", cause: "bad doc" });
    expect(s.input).toMatchObject({ app: "coffeeshop", tag: "v1.4.0" });
    expect(s.states.map((x) => [x.name, x.status, x.durationMs, x.attempts, x.error ?? null])).toEqual([
      ["ClaimRelease", "SUCCEEDED", 1000, 1, null],
      ["NotifySuccess", "SUCCEEDED", 4000, 2, "NotificationFailedError"],
      ["DeployDev", "CAUGHT", 1000, 1, "Ssm.InvalidDocument"],
      ["ReleaseFailed", "FAILED", null, 0, null],
    ]);
    // Both pages listed; each execution described once; histories read only for the matches.
    expect(sfn.commandCalls(ListExecutionsCommand)).toHaveLength(2);
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(3);
    expect(sfn.commandCalls(GetExecutionHistoryCommand).map((c) => c.args[0].input.executionArn)).toEqual([
      exec("dup"),
      exec("owner"),
    ]);
  });

  it("an execution named <app>-<tag>-… matches on its name, without DescribeExecution", async () => {
    sfn.reset();
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        {
          executionArn: exec("coffeeshop-v1.4.0-ab12"),
          name: "coffeeshop-v1.4.0-ab12",
          stateMachineArn: SM,
          status: "RUNNING",
          startDate: t(0),
        },
      ],
    });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: ownerHistory.slice(0, 8) });
    const s = await findReleaseStatus(new SFNClient({ region: "eu-west-1" }), {
      stateMachineArn: SM,
      app: "coffeeshop",
      tag: "v1.4.0",
    });
    expect(s.status).toBe("RUNNING");
    expect(s.stopDate).toBeNull();
    expect(s.states.at(-1)).toMatchObject({ name: "NotifySuccess", status: "RUNNING", durationMs: null });
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
  });

  it("the CLI: text timeline with the console URL; JSON; exit 1 for a failed release", async () => {
    let out = "";
    const code = await statusCommand(
      ["v1.4.0"],
      { "state-machine-arn": SM },
      { client: new SFNClient({ region: "eu-west-1" }), write: (x) => (out += x), env: {} },
    );
    expect(code).toBe(1);
    expect(out).toContain("owner  FAILED  started 2026-11-26T10:00:00.000Z, took 7s");
    expect(out).toContain("console: https://eu-west-1.console.aws.amazon.com/states/home");
    expect(out).toMatch(
      /\+1\.0s\s+SUCCEEDED\s+NotifySuccess\s+4000 ms, 2 attempts\s+NotificationFailedError/,
    );
    expect(out).toContain("1 duplicate delivery ended as Duplicate");
    out = "";
    await statusCommand(
      ["v1.4.0"],
      { json: true },
      {
        client: new SFNClient({ region: "eu-west-1" }),
        write: (x) => (out += x),
        env: { POUROVER_STATE_MACHINE_ARN: SM },
      },
    );
    expect(JSON.parse(out)).toMatchObject({ executionArn: exec("owner"), status: "FAILED" });
  });

  it("bad usage and a tag with no execution are clear one-line errors", async () => {
    const client = new SFNClient({ region: "eu-west-1" });
    await expect(statusCommand(["v1.4.0"], {}, { client, env: {} })).rejects.toThrow(/--state-machine-arn/);
    await expect(
      statusCommand(["v1.4.0"], { "state-machine-arn": "arn:aws:s3:::bucket" }, { client, env: {} }),
    ).rejects.toThrow(/not a Step Functions state machine ARN/);
    await expect(statusCommand([], {}, { client, env: {} })).rejects.toMatchObject({
      name: "InvalidInputError",
    });
    await expect(
      findReleaseStatus(client, { stateMachineArn: SM, app: "coffeeshop", tag: "v9.9.9" }),
    ).rejects.toThrow(/no execution of coffeeshop v9\.9\.9/);
  });

  it("a real local execution's history (GetExecutionHistory shape) reads as the same timeline", async () => {
    const env = await startRuntime();
    try {
      const out = await env.runtime.release({ tag: "v1.0.0" });
      const [record] = await listExecutions(env.runtime.options.stateDir);
      const spans = stateTimeline(record?.history.events as unknown as HistoryEvent[]);
      // The Map's iterations (BuildOrScan is chosen once per release, at the top level).
      const top = spans.filter((x) => !["BuildScanPush", "EvaluateScan"].includes(x.name));
      expect(top.map((x) => x.name)).toEqual(
        out.states.filter((x) => x.iteration === undefined).map((x) => x.name),
      );
      expect(spans.every((x) => x.status === "SUCCEEDED" && x.durationMs !== null)).toBe(true);
    } finally {
      await env.stop();
    }
  });
});
