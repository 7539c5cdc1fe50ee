import { ListCommandInvocationsCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import { verifyDevDeploy } from "../../functions/verify-dev-deploy/verify-dev-deploy.js";
import { SsmDeployStatusReader } from "../../shared/adapters/aws/ssm-deploy-status.js";
import type { InstanceDeployStatus } from "../../shared/ports/index.js";

const input = { commandId: "c-1", app: "coffeeshop", tag: "v1.2.3" };
const reader = (results: InstanceDeployStatus[]) => ({ reader: { read: async () => results } });
const host = (
  instanceId: string,
  status: InstanceDeployStatus["status"],
  output = "",
): InstanceDeployStatus => ({
  instanceId,
  status,
  output,
});
const line = (o: Record<string, string>) => JSON.stringify({ app: "coffeeshop", tag: "v1.2.3", ...o });

async function failure(results: InstanceDeployStatus[]): Promise<Error> {
  return verifyDevDeploy(input, reader(results)).then(
    () => {
      throw new Error("expected a failure");
    },
    (e: Error) => e,
  );
}

describe("verifyDevDeploy: each outcome of the SSM command has its own named error", () => {
  it("deployed on every host: per-instance results with the script's JSON line", async () => {
    const ok = line({ status: "deployed" });
    const result = await verifyDevDeploy(
      input,
      reader([host("i-a", "Success", `deploy-dev: healthy\n${ok}\n`), host("i-b", "Success", ok)]),
    );
    expect(result).toEqual({
      instances: [
        { instanceId: "i-a", status: "Success", summary: ok },
        { instanceId: "i-b", status: "Success", summary: ok },
      ],
      dryRun: false,
    });
  });

  it("a dry run is said to be one", async () => {
    const result = await verifyDevDeploy(
      input,
      reader([host("localhost", "Success", line({ status: "dry-run" }))]),
    );
    expect(result.dryRun).toBe(true);
  });

  it.each([["Pending"], ["InProgress"], ["Delayed"]] as const)(
    "%s on any host is 'running, retry after' (retryable)",
    async (status) => {
      const e = await failure([host("i-a", "Success", line({ status: "deployed" })), host("i-b", status)]);
      expect(e.name).toBe("DevDeployInProgressError");
      expect((e as Error & { retryable: boolean }).retryable).toBe(true);
    },
  );

  it("no invocation: NoDevInstancesError", async () => {
    expect((await failure([])).name).toBe("NoDevInstancesError");
  });

  it.each([
    ["Undeliverable", "DevAgentOfflineError", /stopped or its SSM agent is offline/],
    ["DeliveryTimedOut", "DevAgentOfflineError", /not delivered/],
    ["TimedOut", "DevDeployTimedOutError", /timed out/],
    ["ExecutionTimedOut", "DevDeployTimedOutError", /timed out/],
    ["Cancelled", "DevDeployFailedError", /dev deploy failed/],
  ] as const)("%s → %s", async (status, name, message) => {
    const e = await failure([host("i-a", status)]);
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
    const e = await failure([host("i-a", "Failed", `deploy-dev: rolling back\n${summary}`)]);
    expect(e.name).toBe("DevDeployRolledBackError");
    expect(e.message).toContain(`i-a Failed ${summary}`);
  });

  it("rollback failed: DevDeployRollbackFailedError; pull failed (nothing started): DevDeployFailedError", async () => {
    const broken = await failure([
      host("i-a", "Failed", line({ status: "rollback-failed", rollback: "failed" })),
    ]);
    expect(broken.name).toBe("DevDeployRollbackFailedError");
    const pull = await failure([
      host("i-a", "Failed", line({ status: "failed", step: "pull", rollback: "not-needed" })),
    ]);
    expect(pull.name).toBe("DevDeployFailedError");
  });

  it("several hosts: the worst outcome names the error, every host is listed", async () => {
    const e = await failure([
      host("i-a", "Success", line({ status: "deployed" })),
      host("i-b", "Undeliverable"),
      host("i-c", "Failed", line({ status: "rolled-back", rollback: "ok" })),
      host("i-d", "Failed", line({ status: "rollback-failed", rollback: "failed" })),
    ]);
    expect(e.name).toBe("DevDeployRollbackFailedError");
    expect(e.message).toMatch(/on 3 of 4 dev instances/);
    expect(e.message.split("; ")).toHaveLength(4);
  });

  it("a host's output cannot break the `; ` host separator", async () => {
    const e = await failure([host("i-a", "Failed", "oops; rm -rf")]);
    expect(e.message).toContain("i-a Failed oops, rm -rf");
  });

  it("commandId is required", async () => {
    await expect(verifyDevDeploy({}, reader([]))).rejects.toMatchObject({ name: "InvalidInputError" });
  });
});

describe("SsmDeployStatusReader: StatusDetails tells delivery and execution timeouts and an offline agent apart", () => {
  it("maps Status/StatusDetails and pages through ListCommandInvocations", async () => {
    const ssm = mockClient(SSMClient);
    ssm
      .on(ListCommandInvocationsCommand, { CommandId: "c-1", Details: true, NextToken: undefined })
      .resolves({
        CommandInvocations: [
          { InstanceId: "i-a", Status: "Failed", StatusDetails: "Undeliverable" },
          { InstanceId: "i-b", Status: "TimedOut", StatusDetails: "Delivery Timed Out" },
        ],
        NextToken: "n",
      })
      .on(ListCommandInvocationsCommand, { CommandId: "c-1", Details: true, NextToken: "n" })
      .resolves({
        CommandInvocations: [
          { InstanceId: "i-c", Status: "TimedOut", StatusDetails: "Execution Timed Out" },
          {
            InstanceId: "i-d",
            Status: "Success",
            StatusDetails: "Success",
            CommandPlugins: [{ Output: '{"status":"deployed"}' }],
          },
        ],
      });
    const statuses = await new SsmDeployStatusReader(new SSMClient({ region: "us-east-1" })).read("c-1");
    expect(statuses.map((s) => [s.instanceId, s.status])).toEqual([
      ["i-a", "Undeliverable"],
      ["i-b", "DeliveryTimedOut"],
      ["i-c", "ExecutionTimedOut"],
      ["i-d", "Success"],
    ]);
    expect(statuses[3]?.output).toBe('{"status":"deployed"}');
    expect(ssm.commandCalls(ListCommandInvocationsCommand)).toHaveLength(2);
    ssm.restore();
  });
});
