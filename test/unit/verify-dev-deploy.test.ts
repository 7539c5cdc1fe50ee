import {
  CancelCommandCommand,
  type Command,
  type CommandInvocation,
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import {
  DEV_DELIVERY_TIMEOUT_SECONDS,
  VERIFY_GRACE_SECONDS,
  verifyDevDeploy,
} from "../../functions/verify-dev-deploy/verify-dev-deploy.js";
import { SsmDeployStatusReader } from "../../shared/adapters/aws/ssm-deploy-status.js";
import type {
  DeployCommandStatus,
  DeployStatusReader,
  InstanceDeployStatus,
} from "../../shared/ports/index.js";

const SENT = new Date("2026-05-04T10:00:00.000Z");
const at = (seconds: number) => ({ now: () => new Date(SENT.getTime() + seconds * 1000) });
const input = { commandId: "c-1", app: "coffeeshop", tag: "v1.2.3", timeoutSeconds: 600 };
/** delivery + execution + grace: when VerifyDev stops waiting. */
const DEADLINE = DEV_DELIVERY_TIMEOUT_SECONDS + 600 + VERIFY_GRACE_SECONDS;

const resolved = (targets: number, status = "InProgress"): DeployCommandStatus => ({
  status,
  statusDetails: status,
  targetCount: targets,
  requestedAt: SENT,
  deliveryTimeoutSeconds: DEV_DELIVERY_TIMEOUT_SECONDS,
});

function fake(invocations: InstanceDeployStatus[], command: DeployCommandStatus | null = resolved(1)) {
  const cancelled: string[] = [];
  const reader: DeployStatusReader & { cancelled: string[] } = {
    cancelled,
    read: async () => ({ command, invocations }),
    cancel: async (id) => {
      cancelled.push(id);
    },
  };
  return reader;
}
const host = (
  instanceId: string,
  status: InstanceDeployStatus["status"],
  output = "",
): InstanceDeployStatus => ({ instanceId, status, output });
const line = (o: Record<string, string>) => JSON.stringify({ app: "coffeeshop", tag: "v1.2.3", ...o });

async function failure(
  reader: DeployStatusReader,
  clock = at(30),
  given: Parameters<typeof verifyDevDeploy>[0] = input,
): Promise<Error & { retryable?: boolean }> {
  return verifyDevDeploy(given, { reader, clock }).then(
    () => {
      throw new Error("expected a failure");
    },
    (e: Error) => e,
  );
}

describe("verifyDevDeploy: each outcome of the SSM command has its own named error", () => {
  it("deployed on every host: per-instance results with the script's JSON line", async () => {
    const ok = line({ status: "deployed" });
    const result = await verifyDevDeploy(input, {
      reader: fake([host("i-a", "Success", `${ok}\n`), host("i-b", "Success", ok)]),
      clock: at(60),
    });
    expect(result).toEqual({
      instances: [
        { instanceId: "i-a", status: "Success", summary: ok },
        { instanceId: "i-b", status: "Success", summary: ok },
      ],
      dryRun: false,
    });
  });

  it("a dry run is said to be one; DRY-RUN lines before the result line are not the result", async () => {
    const dry = line({ status: "dry-run" });
    const result = await verifyDevDeploy(input, {
      reader: fake([host("localhost", "Success", `DRY-RUN: docker compose pull\n${dry}\n`)]),
    });
    expect(result.dryRun).toBe(true);
    expect(result.instances[0]?.summary).toBe(dry);
  });

  it.each([["Pending"], ["InProgress"], ["Delayed"]] as const)(
    "%s on any host is 'running, retry after' (retryable)",
    async (status) => {
      const e = await failure(
        fake([host("i-a", "Success", line({ status: "deployed" })), host("i-b", status)]),
      );
      expect(e.name).toBe("DevDeployInProgressError");
      expect(e.retryable).toBe(true);
    },
  );

  it.each([
    ["Undeliverable", "DevAgentOfflineError", /stopped or its SSM agent is offline/],
    ["DeliveryTimedOut", "DevAgentOfflineError", /not delivered/],
    ["TimedOut", "DevDeployTimedOutError", /timed out/],
    ["ExecutionTimedOut", "DevDeployTimedOutError", /timed out/],
    ["Cancelled", "DevDeployFailedError", /dev deploy failed/],
  ] as const)("%s → %s", async (status, name, message) => {
    const e = await failure(fake([host("i-a", status)]));
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
    expect(e.message).toContain(`i-a ${status} `);
  });

  it("health failed, rolled back: DevDeployRolledBackError carrying the host's JSON summary", async () => {
    const summary = line({
      status: "rolled-back",
      step: "health",
      error: "health check failed: http://x:8888/",
      rollback: "ok",
    });
    const e = await failure(fake([host("i-a", "Failed", summary)]));
    expect(e.name).toBe("DevDeployRolledBackError");
    expect(e.message).toContain(`i-a Failed ${summary}`);
  });

  it("rollback failed: DevDeployRollbackFailedError; pull failed (nothing started): DevDeployFailedError", async () => {
    const broken = await failure(
      fake([host("i-a", "Failed", line({ status: "rollback-failed", rollback: "failed" }))]),
    );
    expect(broken.name).toBe("DevDeployRollbackFailedError");
    const pull = await failure(
      fake([host("i-a", "Failed", line({ status: "failed", step: "pull", rollback: "not-needed" }))]),
    );
    expect(pull.name).toBe("DevDeployFailedError");
  });

  it("env secret missing or empty: DevEnvSecretMissingError naming the secret and how to fill it", async () => {
    const summary = line({
      status: "failed",
      step: "env",
      reason: "env-secret-empty",
      secret: "pourover/coffeeshop/dev-env",
      error: "the app env secret pourover/coffeeshop/dev-env is empty: put the app's env file in it",
      rollback: "not-needed",
    });
    const e = await failure(fake([host("i-a", "Failed", summary)]));
    expect(e.name).toBe("DevEnvSecretMissingError");
    expect(e.message).toContain("the app env secret pourover/coffeeshop/dev-env is missing or empty");
    expect(e.message).toContain("put-secret-value --secret-id pourover/coffeeshop/dev-env");
    expect(e.message).toContain(`i-a Failed ${summary}`);
  });

  it("several hosts: the worst outcome names the error, every host is listed", async () => {
    const e = await failure(
      fake([
        host("i-a", "Success", line({ status: "deployed" })),
        host("i-b", "Undeliverable"),
        host("i-c", "Failed", line({ status: "rolled-back", rollback: "ok" })),
        host("i-d", "Failed", line({ status: "rollback-failed", rollback: "failed" })),
      ]),
    );
    expect(e.name).toBe("DevDeployRollbackFailedError");
    expect(e.message).toMatch(/on 3 of 4 dev instances/);
    expect(e.message.split("; ")).toHaveLength(4);
  });

  it("a host's output cannot break the `; ` host separator", async () => {
    const e = await failure(fake([host("i-a", "Failed", "oops; rm -rf")]));
    expect(e.message).toContain("i-a Failed oops, rm -rf");
  });

  it("commandId is required; timeoutSeconds must be a positive whole number", async () => {
    await expect(verifyDevDeploy({}, { reader: fake([]) })).rejects.toMatchObject({
      name: "InvalidInputError",
    });
    await expect(
      verifyDevDeploy({ commandId: "c", timeoutSeconds: -1 }, { reader: fake([]) }),
    ).rejects.toMatchObject({ name: "InvalidInputError" });
  });
});

describe("verifyDevDeploy: tag targets not resolved yet are not 'no instances' (Blocker 2)", () => {
  it("no invocation and the command not listed yet: running, retry after", async () => {
    const e = await failure(fake([], null), at(1));
    expect(e.name).toBe("DevDeployInProgressError");
    expect(e.message).toMatch(/has not resolved the dev instance targets yet/);
  });

  it("no invocation while the command is Pending with TargetCount 0: running, retry after", async () => {
    const e = await failure(fake([], resolved(0, "Pending")), at(2));
    expect(e.name).toBe("DevDeployInProgressError");
  });

  it.each([["Success"], ["Failed"]])(
    "no invocation and the command finished (%s, No Instances In Tag) with TargetCount 0: NoDevInstancesError",
    async (status) => {
      const reader = fake([], { ...resolved(0, status), statusDetails: "No Instances In Tag" });
      const e = await failure(reader);
      expect(e.name).toBe("NoDevInstancesError");
      expect(e.message).toMatch(/dev\.instanceTags/);
      expect(e.message).toContain("No Instances In Tag");
      expect(reader.cancelled).toEqual([]);
    },
  );

  it("targets still unresolved past the deadline: cancelled and timed out, not 'no instances'", async () => {
    const reader = fake([], resolved(0, "Pending"));
    const e = await failure(reader, at(DEADLINE + 1));
    expect(e.name).toBe("DevDeployTimedOutError");
    expect(e.message).toMatch(/dev instance targets never resolved/);
    expect(reader.cancelled).toEqual(["c-1"]);
  });
});

describe("verifyDevDeploy: waits dev.timeoutSeconds (plus delivery and grace), then cancels", () => {
  it("still running just before the deadline: retry after, nothing cancelled", async () => {
    const reader = fake([host("i-a", "InProgress")]);
    const e = await failure(reader, at(DEADLINE - 1));
    expect(e.name).toBe("DevDeployInProgressError");
    expect(reader.cancelled).toEqual([]);
  });

  it("still running at the deadline: CancelCommand, then DevDeployTimedOutError saying so", async () => {
    const reader = fake([host("i-a", "InProgress")]);
    const e = await failure(reader, at(DEADLINE));
    expect(reader.cancelled).toEqual(["c-1"]);
    expect(e.name).toBe("DevDeployTimedOutError");
    expect(e.message).toContain("still running on i-a InProgress");
    expect(e.message).toContain("dev.timeoutSeconds 600s");
    expect(e.message).toMatch(/cancelled it \(CancelCommand\) before giving the dev lock back/);
  });

  it("the deadline follows dev.timeoutSeconds: a 1800 s deploy is still waited for at 1000 s", async () => {
    const reader = fake([host("i-a", "InProgress")]);
    const e = await failure(reader, at(1000), { ...input, timeoutSeconds: 1800 });
    expect(e.name).toBe("DevDeployInProgressError");
    expect(reader.cancelled).toEqual([]);
  });

  it("a cancel that fails is reported, and the release still ends timed out", async () => {
    const reader: DeployStatusReader = {
      read: async () => ({ command: resolved(1), invocations: [host("i-a", "InProgress")] }),
      cancel: async () => {
        throw Object.assign(new Error("User is not authorized to perform: ssm:CancelCommand"), {
          name: "AccessDeniedException",
        });
      },
    };
    const e = await failure(reader, at(DEADLINE + 5));
    expect(e.name).toBe("DevDeployTimedOutError");
    expect(e.message).toMatch(/could not cancel it \(AccessDeniedException/);
  });
});

// --- SSM adapter: responses shaped as the SSM API returns them (API reference / SDK types). ---

const ssm = mockClient(SSMClient);
afterEach(() => ssm.reset());
const reader = () => new SsmDeployStatusReader(new SSMClient({ region: "us-east-1" }));

/** A ListCommands `Command` for DeployDev's SendCommand with tag targets. */
function command(o: Partial<Command>): Command {
  return {
    CommandId: "c-1",
    DocumentName: "Pourover-DeployDocument-AbCdEf",
    DocumentVersion: "$DEFAULT",
    Comment: "pourover coffeeshop v1.2.3",
    Parameters: { App: ["coffeeshop"], Tag: ["v1.2.3"], ExecutionTimeout: ["600"] },
    InstanceIds: [],
    Targets: [
      { Key: "tag:Environment", Values: ["dev"] },
      { Key: "tag:App", Values: ["coffeeshop"] },
    ],
    RequestedDateTime: SENT,
    Status: "Pending",
    StatusDetails: "Pending",
    MaxConcurrency: "50",
    MaxErrors: "0",
    TargetCount: 0,
    CompletedCount: 0,
    ErrorCount: 0,
    DeliveryTimedOutCount: 0,
    CloudWatchOutputConfig: {
      CloudWatchLogGroupName: "/pourover/coffeeshop/deploy-dev",
      CloudWatchOutputEnabled: true,
    },
    TimeoutSeconds: DEV_DELIVERY_TIMEOUT_SECONDS,
    ...o,
  };
}

/** A ListCommandInvocations entry (Details false: no CommandPlugins). */
function invocation(o: Partial<CommandInvocation>): CommandInvocation {
  return {
    CommandId: "c-1",
    InstanceId: "i-0123456789abcdef0",
    InstanceName: "",
    Comment: "pourover coffeeshop v1.2.3",
    DocumentName: "Pourover-DeployDocument-AbCdEf",
    DocumentVersion: "$DEFAULT",
    RequestedDateTime: SENT,
    Status: "InProgress",
    StatusDetails: "InProgress",
    StandardOutputUrl: "",
    StandardErrorUrl: "",
    CommandPlugins: [],
    ServiceRole: "",
    CloudWatchOutputConfig: {
      CloudWatchLogGroupName: "/pourover/coffeeshop/deploy-dev",
      CloudWatchOutputEnabled: true,
    },
    ...o,
  };
}

/** A GetCommandInvocation response for the one-step document. */
function stdoutOf(status: string, stdout: string, stderr: string) {
  return {
    CommandId: "c-1",
    InstanceId: "i-0123456789abcdef0",
    Comment: "pourover coffeeshop v1.2.3",
    DocumentName: "Pourover-DeployDocument-AbCdEf",
    DocumentVersion: "$DEFAULT",
    PluginName: "deployDev",
    ResponseCode: status === "Success" ? 0 : 1,
    ExecutionStartDateTime: "2026-05-04T10:00:03.120Z",
    ExecutionElapsedTime: "PT95.2S",
    ExecutionEndDateTime: "2026-05-04T10:01:38.320Z",
    Status: status as never,
    StatusDetails: status,
    // SSM keeps the first 24,000 characters of stdout and the first 8,000 of stderr.
    StandardOutputContent: stdout.slice(0, 24_000),
    StandardOutputUrl: "",
    StandardErrorContent: stderr.slice(0, 8_000),
    StandardErrorUrl: "",
    CloudWatchOutputConfig: {
      CloudWatchLogGroupName: "/pourover/coffeeshop/deploy-dev",
      CloudWatchOutputEnabled: true,
    },
  };
}

/** The deploy script's stderr: one log line per step, long enough to push stdout out of `Output`. */
const STDERR = Array.from(
  { length: 120 },
  (_, i) =>
    `deploy-dev: + docker compose --project-name coffeeshop pull (layer ${i} of 120: pulling fs layer)`,
).join("\n");

/**
 * What `CommandPlugins[].Output` holds: stdout, the agent's separator and stderr run together, cut
 * at 2,500 characters (API_CommandPlugin: Output, maximum length 2500).
 */
const combinedOutput = (stdout: string, stderr: string) =>
  `${stdout}\n----------ERROR-------\n${stderr}`.slice(0, 2_500);

describe("SsmDeployStatusReader + verifyDevDeploy, SSM responses as the API returns them", () => {
  it("right after SendCommand: empty invocations and a Pending command → retry; then InProgress; then Success read from stdout", async () => {
    const ok = line({ status: "deployed", healthUrls: "http://localhost:8888/" });
    ssm
      .on(ListCommandsCommand, { CommandId: "c-1" })
      .resolvesOnce({ Commands: [command({})] })
      .resolvesOnce({
        Commands: [command({ Status: "InProgress", StatusDetails: "InProgress", TargetCount: 1 })],
      })
      .resolvesOnce({
        Commands: [
          command({ Status: "Success", StatusDetails: "Success", TargetCount: 1, CompletedCount: 1 }),
        ],
      });
    ssm
      .on(ListCommandInvocationsCommand)
      .resolvesOnce({ CommandInvocations: [] })
      .resolvesOnce({ CommandInvocations: [invocation({})] })
      .resolvesOnce({ CommandInvocations: [invocation({ Status: "Success", StatusDetails: "Success" })] });
    ssm.on(GetCommandInvocationCommand).resolves(stdoutOf("Success", `${ok}\n`, STDERR));

    const deps = { reader: reader(), clock: at(5) };
    await expect(verifyDevDeploy(input, deps)).rejects.toMatchObject({ name: "DevDeployInProgressError" });
    await expect(verifyDevDeploy(input, deps)).rejects.toMatchObject({ name: "DevDeployInProgressError" });
    const result = await verifyDevDeploy(input, { ...deps, clock: at(100) });
    expect(result.instances).toEqual([{ instanceId: "i-0123456789abcdef0", status: "Success", summary: ok }]);
    // stdout is read only once the host has finished.
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(1);
    expect(ssm.commandCalls(GetCommandInvocationCommand)[0]?.args[0].input).toEqual({
      CommandId: "c-1",
      InstanceId: "i-0123456789abcdef0",
    });
    expect(ssm.commandCalls(CancelCommandCommand)).toHaveLength(0);
  });

  it("resolved to no instance (TargetCount 0, No Instances In Tag): NoDevInstancesError", async () => {
    ssm.on(ListCommandsCommand).resolves({
      Commands: [command({ Status: "Success", StatusDetails: "No Instances In Tag", TargetCount: 0 })],
    });
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [] });
    await expect(verifyDevDeploy(input, { reader: reader(), clock: at(20) })).rejects.toMatchObject({
      name: "NoDevInstancesError",
    });
  });

  it.each([
    [
      "rolled back",
      "DevDeployRolledBackError",
      line({
        status: "rolled-back",
        step: "health",
        error: "health check failed: http://x:8888/",
        rollback: "ok",
      }),
    ],
    [
      "rollback failed",
      "DevDeployRollbackFailedError",
      line({
        status: "rollback-failed",
        step: "up",
        error: "docker compose up did not become healthy",
        rollback: "failed",
      }),
    ],
  ])(
    "%s: classified from the stdout result line, not from the truncated stdout+stderr Output",
    async (_what, name, result) => {
      const stdout = `${result}\n`;
      // As the agent reports it, `Output` ends in stderr log lines cut mid-line: a reader taking its
      // last line would see no result at all.
      const output = combinedOutput(stdout, STDERR);
      expect(output.length).toBe(2_500);
      expect(output.trim().split("\n").at(-1)).toMatch(/^deploy-dev: \+ docker compose/);
      ssm.on(ListCommandsCommand).resolves({
        Commands: [
          command({
            Status: "Failed",
            StatusDetails: "Failed",
            TargetCount: 1,
            CompletedCount: 1,
            ErrorCount: 1,
          }),
        ],
      });
      ssm.on(ListCommandInvocationsCommand).resolves({
        CommandInvocations: [
          invocation({
            Status: "Failed",
            StatusDetails: "Failed",
            CommandPlugins: [{ Name: "deployDev", Status: "Failed", ResponseCode: 1, Output: output }],
          }),
        ],
      });
      ssm.on(GetCommandInvocationCommand).resolves(stdoutOf("Failed", stdout, STDERR));
      const e = await verifyDevDeploy(input, { reader: reader(), clock: at(200) }).catch((x: Error) => x);
      expect((e as Error).name).toBe(name);
      expect((e as Error).message).toContain(`i-0123456789abcdef0 Failed ${result}`);
    },
  );

  it("still running past dev.timeoutSeconds: CancelCommand on the command, then DevDeployTimedOutError", async () => {
    ssm.on(ListCommandsCommand).resolves({
      Commands: [command({ Status: "InProgress", StatusDetails: "InProgress", TargetCount: 1 })],
    });
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation({})] });
    ssm.on(CancelCommandCommand).resolves({});
    await expect(verifyDevDeploy(input, { reader: reader(), clock: at(DEADLINE) })).rejects.toMatchObject({
      name: "DevDeployTimedOutError",
    });
    expect(ssm.commandCalls(CancelCommandCommand).map((c) => c.args[0].input)).toEqual([
      { CommandId: "c-1" },
    ]);
  });

  it("maps Status/StatusDetails, pages through ListCommandInvocations, tolerates InvocationDoesNotExist", async () => {
    ssm.on(ListCommandsCommand).resolves({ Commands: [command({ Status: "Failed", TargetCount: 4 })] });
    ssm
      .on(ListCommandInvocationsCommand, { CommandId: "c-1", NextToken: undefined })
      .resolves({
        CommandInvocations: [
          invocation({ InstanceId: "i-a", Status: "Failed", StatusDetails: "Undeliverable" }),
          invocation({ InstanceId: "i-b", Status: "TimedOut", StatusDetails: "Delivery Timed Out" }),
        ],
        NextToken: "n",
      })
      .on(ListCommandInvocationsCommand, { CommandId: "c-1", NextToken: "n" })
      .resolves({
        CommandInvocations: [
          invocation({ InstanceId: "i-c", Status: "TimedOut", StatusDetails: "Execution Timed Out" }),
          invocation({ InstanceId: "i-d", Status: "Success", StatusDetails: "Success" }),
        ],
      });
    ssm
      .on(GetCommandInvocationCommand)
      .rejects(new InvocationDoesNotExist({ message: "", $metadata: {} }))
      .on(GetCommandInvocationCommand, { InstanceId: "i-d" })
      .resolves(stdoutOf("Success", '{"status":"deployed"}\n', ""));
    const view = await reader().read("c-1");
    expect(view.command).toMatchObject({ status: "Failed", targetCount: 4, requestedAt: SENT });
    expect(view.invocations.map((s) => [s.instanceId, s.status, s.output])).toEqual([
      ["i-a", "Undeliverable", ""],
      ["i-b", "DeliveryTimedOut", ""],
      ["i-c", "ExecutionTimedOut", ""],
      ["i-d", "Success", '{"status":"deployed"}\n'],
    ]);
    expect(ssm.commandCalls(ListCommandInvocationsCommand)).toHaveLength(2);
    for (const call of ssm.commandCalls(ListCommandInvocationsCommand))
      expect(call.args[0].input.Details).toBeUndefined();
  });
});
