import type { DescribeInstancesResult, StartInstancesResult } from "@aws-sdk/client-ec2";
import type { DescribeInstanceInformationResult } from "@aws-sdk/client-ssm";
import { describe, expect, it } from "vitest";
import { localDevHostTasks } from "../../local/local-tasks.js";
import type { DevHost, DevHosts } from "../../shared/ports/index.js";

/**
 * The local stand-in of the wake loop's service integrations: it takes the requests the ASL builds
 * (EC2 DescribeInstances / StartInstances, SSM DescribeInstanceInformation, PascalCase as Step
 * Functions sends them) and answers in the shape of the AWS responses (checked against the SDK's
 * response types), so the ASL's JSONPath selects from them as it does in AWS.
 */
const TAGS = [
  { Name: "tag:Environment", Values: ["dev"] },
  { Name: "tag:App", Values: ["coffeeshop"] },
];
const LIVE = {
  Name: "instance-state-name",
  Values: ["pending", "running", "stopping", "stopped", "shutting-down"],
};

function memoryHosts(hosts: DevHost[]): DevHosts & { asked: unknown[]; started: string[][] } {
  const asked: unknown[] = [];
  const started: string[][] = [];
  return {
    asked,
    started,
    list: async (targets) => {
      asked.push(targets);
      return hosts.map((h) => ({ ...h }));
    },
    start: async (ids) => {
      started.push([...ids]);
    },
  };
}

const host = (instanceId: string, state: DevHost["state"], agent: DevHost["agent"]): DevHost => ({
  instanceId,
  state,
  agent,
});

describe("localDevHostTasks (the wake loop's EC2/SSM integrations, locally)", () => {
  it("WakeDevHost: DescribeInstances by tag; the tags go to the stand-in as targets, the state filter applies", async () => {
    const hosts = memoryHosts([host("i-1", "running", "Online"), host("i-2", "stopped", "ConnectionLost")]);
    const tasks = localDevHostTasks(hosts);

    const all = (await tasks.WakeDevHost({ Filters: [...TAGS, LIVE] })) satisfies DescribeInstancesResult;
    expect(all.Reservations.flatMap((r) => r.Instances)).toEqual([
      { InstanceId: "i-1", State: { Code: 16, Name: "running" } },
      { InstanceId: "i-2", State: { Code: 80, Name: "stopped" } },
    ]);
    expect(hosts.asked).toEqual([
      [
        { Key: "tag:Environment", Values: ["dev"] },
        { Key: "tag:App", Values: ["coffeeshop"] },
      ],
    ]);

    const running = await tasks.WakeDevHost({
      Filters: [...TAGS, { Name: "instance-state-name", Values: ["running"] }],
    });
    expect(running.Reservations.flatMap((r) => r.Instances.map((i) => i.InstanceId))).toEqual(["i-1"]);
  });

  it("WakeDevHost: a filter the stand-in does not model is refused, not ignored", async () => {
    const tasks = localDevHostTasks(memoryHosts([]));
    await expect(
      tasks.WakeDevHost({ Filters: [{ Name: "vpc-id", Values: ["vpc-1"] }] }),
    ).rejects.toMatchObject({
      name: "Ec2.InvalidParameterValueException",
    });
    await expect(tasks.WakeDevHost({ Filters: [{ Name: "tag:App", Values: [] }] })).rejects.toThrow(
      /only tag:<key> and instance-state-name filters/,
    );
  });

  it("CheckDevHostAgents: only the asked instances whose agent is Online; stopped nodes are not returned", async () => {
    const tasks = localDevHostTasks(
      memoryHosts([
        host("i-1", "running", "Online"),
        host("i-2", "running", "ConnectionLost"),
        host("i-3", "stopped", "Online"),
        host("i-4", "running", null),
        host("i-5", "running", "Online"),
      ]),
    );
    await tasks.WakeDevHost({ Filters: [...TAGS, LIVE] });
    const out = (await tasks.CheckDevHostAgents({
      Filters: [
        { Key: "InstanceIds", Values: ["i-1", "i-2", "i-3", "i-4"] },
        { Key: "PingStatus", Values: ["Online"] },
      ],
      MaxResults: 50,
    })) satisfies DescribeInstanceInformationResult;
    expect(out.InstanceInformationList).toEqual([
      { InstanceId: "i-1", PingStatus: "Online", ResourceType: "EC2Instance" },
    ]);
  });

  it("CheckDevHostAgents: an InstanceIds filter without a value is refused (1 to 100 values), as SSM refuses it", async () => {
    const tasks = localDevHostTasks(memoryHosts([]));
    await tasks.WakeDevHost({ Filters: [...TAGS, LIVE] });
    await expect(
      tasks.CheckDevHostAgents({
        Filters: [
          { Key: "InstanceIds", Values: [] },
          { Key: "PingStatus", Values: ["Online"] },
        ],
      }),
    ).rejects.toMatchObject({ name: "Ssm.InvalidInstanceInformationFilterValueException" });
  });

  it("FindStoppedDevHosts then StartDevHosts: the stopped ones of the listed ids are started, answered as StartInstances does", async () => {
    const hosts = memoryHosts([
      host("i-1", "running", "Online"),
      host("i-2", "stopped", "ConnectionLost"),
      host("i-3", "stopping", "Online"),
    ]);
    const tasks = localDevHostTasks(hosts);
    await tasks.WakeDevHost({ Filters: [...TAGS, LIVE] });
    const stopped = await tasks.FindStoppedDevHosts({
      InstanceIds: ["i-1", "i-2", "i-3"],
      Filters: [{ Name: "instance-state-name", Values: ["stopped"] }],
    });
    const ids = stopped.Reservations.flatMap((r) => r.Instances.map((i) => i.InstanceId));
    expect(ids).toEqual(["i-2"]);

    const started = (await tasks.StartDevHosts({ InstanceIds: ids })) satisfies StartInstancesResult;
    expect(hosts.started).toEqual([["i-2"]]);
    expect(started).toEqual({
      StartingInstances: [
        {
          InstanceId: "i-2",
          CurrentState: { Code: 0, Name: "pending" },
          PreviousState: { Code: 80, Name: "stopped" },
        },
      ],
    });
  });
});
