import { DescribeInstancesCommand, EC2Client, StartInstancesCommand } from "@aws-sdk/client-ec2";
import { DescribeInstanceInformationCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { wakeDevHost } from "../../functions/wake-dev-host/wake-dev-host.js";
import { Ec2DevHosts } from "../../shared/adapters/aws/ec2-dev-hosts.js";
import { DevHostStartingError, NoDevInstancesError } from "../../shared/domain/errors.js";
import type { DevHost, DevHosts } from "../../shared/ports/index.js";

const TARGETS = [{ Key: "tag:Environment", Values: ["dev"] }];
const input = { app: "coffeeshop", tag: "v1.0.0", targets: TARGETS };

/** Dev hosts in memory: what EC2/SSM would report, and which instances were asked to start. */
function memoryHosts(hosts: DevHost[]): DevHosts & { started: string[][]; asked: unknown[] } {
  const started: string[][] = [];
  const asked: unknown[] = [];
  return {
    started,
    asked,
    list: async (targets) => {
      asked.push(targets);
      return hosts.map((h) => ({ ...h }));
    },
    start: async (ids) => {
      started.push([...ids]);
    },
  };
}

const host = (id: string, state: DevHost["state"], agent: DevHost["agent"] = null): DevHost => ({
  instanceId: id,
  state,
  agent,
});

describe("wakeDevHost (core, in-memory hosts)", () => {
  it("all running with the agent Online: returns the instances, starts nothing", async () => {
    const hosts = memoryHosts([host("i-1", "running", "Online"), host("i-2", "running", "Online")]);
    await expect(wakeDevHost(input, { hosts })).resolves.toEqual({ instances: ["i-1", "i-2"], started: [] });
    expect(hosts.started).toEqual([]);
    expect(hosts.asked).toEqual([TARGETS]);
  });

  it("a stopped host: starts it, then says 'running, retry after' naming it", async () => {
    const hosts = memoryHosts([
      host("i-0abc", "stopped", "ConnectionLost"),
      host("i-1", "running", "Online"),
    ]);
    const error = await wakeDevHost(input, { hosts }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DevHostStartingError);
    expect((error as DevHostStartingError).retryable).toBe(true);
    expect((error as Error).message).toBe(
      "dev hosts for coffeeshop v1.0.0 not online yet (1 of 2): i-0abc was stopped: started, waiting for the SSM agent",
    );
    expect(hosts.started).toEqual([["i-0abc"]]);
  });

  it("a host still booting (pending): DevHostStartingError, nothing started again", async () => {
    const hosts = memoryHosts([host("i-1", "pending", "ConnectionLost")]);
    await expect(wakeDevHost(input, { hosts })).rejects.toThrow(
      /^dev host for coffeeshop v1\.0\.0 not online yet \(1 of 1\): i-1 starting: waiting for the SSM agent$/,
    );
    expect(hosts.started).toEqual([]);
  });

  it("running but the agent is not Online (or not registered yet): DevHostStartingError", async () => {
    const hosts = memoryHosts([host("i-1", "running", "ConnectionLost"), host("i-2", "running", null)]);
    const error = (await wakeDevHost(input, { hosts }).catch((e: unknown) => e)) as Error;
    expect(error.name).toBe("DevHostStartingError");
    expect(error.message).toContain(
      "i-1 running, SSM agent ConnectionLost; i-2 running, SSM agent not registered yet",
    );
    expect(hosts.started).toEqual([]);
  });

  it("stopping or shutting down: DevHostStartingError, not started (it will be, once stopped)", async () => {
    const hosts = memoryHosts([host("i-1", "stopping", "Online"), host("i-2", "shutting-down")]);
    const error = (await wakeDevHost(input, { hosts }).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(DevHostStartingError);
    expect(error.message).toContain("i-1 stopping: will be started once stopped");
    expect(error.message).toContain("i-2 shutting-down: will be started once stopped");
    expect(hosts.started).toEqual([]);
  });

  it("no instance matched: NoDevInstancesError naming the tags", async () => {
    const hosts = memoryHosts([]);
    const error = (await wakeDevHost(input, { hosts }).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(NoDevInstancesError);
    expect(error.message).toBe(
      "no dev instance matched the configured dev.instanceTags (tag:Environment=dev) for coffeeshop v1.0.0: nothing was deployed",
    );
  });

  it("bad input (no targets, a non-tag target): InvalidInputError naming the field, EC2 never asked", async () => {
    const hosts = memoryHosts([host("i-1", "running", "Online")]);
    await expect(wakeDevHost({ app: "coffeeshop", tag: "v1.0.0", targets: [] }, { hosts })).rejects.toThrow(
      /^WakeDevHost: targets: /,
    );
    await expect(
      wakeDevHost({ ...input, targets: [{ Key: "InstanceIds", Values: ["i-1"] }] }, { hosts }),
    ).rejects.toMatchObject({
      name: "InvalidInputError",
      message: expect.stringContaining("targets[0].Key"),
    });
    expect(hosts.asked).toEqual([]);
  });
});

describe("Ec2DevHosts (EC2 + SSM through aws-sdk-client-mock)", () => {
  const ec2 = mockClient(EC2Client);
  const ssm = mockClient(SSMClient);
  beforeEach(() => {
    ec2.reset();
    ssm.reset();
  });
  afterEach(() => {
    ec2.reset();
    ssm.reset();
  });
  const adapter = () =>
    new Ec2DevHosts(new EC2Client({ region: "us-east-1" }), new SSMClient({ region: "us-east-1" }));

  it("filters by the plan's tag targets and every state but terminated, pages both APIs, joins PingStatus", async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce({
        Reservations: [{ Instances: [{ InstanceId: "i-1", State: { Name: "running" } }] }],
        NextToken: "page-2",
      })
      .resolvesOnce({
        Reservations: [
          {
            Instances: [
              { InstanceId: "i-2", State: { Name: "stopped" } },
              { InstanceId: "i-3", State: { Name: "pending" } },
            ],
          },
        ],
      });
    ssm
      .on(DescribeInstanceInformationCommand)
      .resolvesOnce({
        InstanceInformationList: [{ InstanceId: "i-1", PingStatus: "Online" }],
        NextToken: "n",
      })
      .resolvesOnce({ InstanceInformationList: [{ InstanceId: "i-2", PingStatus: "ConnectionLost" }] });

    const hosts = await adapter().list(TARGETS);

    expect(hosts).toEqual([
      { instanceId: "i-1", state: "running", agent: "Online" },
      { instanceId: "i-2", state: "stopped", agent: "ConnectionLost" },
      { instanceId: "i-3", state: "pending", agent: null },
    ]);
    const describes = ec2.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input);
    expect(describes).toHaveLength(2);
    expect(describes[0]).toEqual({
      Filters: [
        { Name: "tag:Environment", Values: ["dev"] },
        {
          Name: "instance-state-name",
          Values: ["pending", "running", "stopping", "stopped", "shutting-down"],
        },
      ],
      NextToken: undefined,
    });
    expect(describes[1]?.NextToken).toBe("page-2");
    const infos = ssm.commandCalls(DescribeInstanceInformationCommand).map((c) => c.args[0].input);
    expect(infos).toHaveLength(2);
    expect(infos[0]?.Filters).toEqual([{ Key: "InstanceIds", Values: ["i-1", "i-2", "i-3"] }]);
    expect(infos[1]?.NextToken).toBe("n");
  });

  it("no instance matched: one DescribeInstances call, SSM never asked", async () => {
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    await expect(adapter().list(TARGETS)).resolves.toEqual([]);
    expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(1);
    expect(ssm.commandCalls(DescribeInstanceInformationCommand)).toHaveLength(0);
  });

  it("start sends one StartInstances with the ids; an empty list sends nothing", async () => {
    ec2.on(StartInstancesCommand).resolves({});
    await adapter().start(["i-2", "i-4"]);
    await adapter().start([]);
    const calls = ec2.commandCalls(StartInstancesCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({ InstanceIds: ["i-2", "i-4"] });
  });

  it("the core over the adapter: a stopped host is started and the call says retry after", async () => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: [{ InstanceId: "i-0abc", State: { Name: "stopped" } }] }],
    });
    ssm.on(DescribeInstanceInformationCommand).resolves({
      InstanceInformationList: [{ InstanceId: "i-0abc", PingStatus: "ConnectionLost" }],
    });
    ec2.on(StartInstancesCommand).resolves({});
    await expect(wakeDevHost(input, { hosts: adapter() })).rejects.toBeInstanceOf(DevHostStartingError);
    expect(ec2.commandCalls(StartInstancesCommand)[0]?.args[0].input).toEqual({ InstanceIds: ["i-0abc"] });
  });
});
