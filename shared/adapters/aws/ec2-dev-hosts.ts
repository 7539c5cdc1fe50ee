import { DescribeInstancesCommand, type EC2Client, StartInstancesCommand } from "@aws-sdk/client-ec2";
import { DescribeInstanceInformationCommand, type SSMClient } from "@aws-sdk/client-ssm";
import type { DevHost, DevHosts } from "../../ports/index.js";

/** Every state but terminated: a terminated instance can never host a deploy again. */
const LIVE_STATES: DevHost["state"][] = ["pending", "running", "stopping", "stopped", "shutting-down"];
const PING: DevHost["agent"][] = ["Online", "ConnectionLost", "Inactive"];
/** The InstanceIds filter of DescribeInstanceInformation takes at most 100 values. */
const SSM_IDS_PER_CALL = 100;

/** Dev hosts through EC2 (state, start) and SSM (agent PingStatus). */
export class Ec2DevHosts implements DevHosts {
  constructor(
    private readonly ec2: EC2Client,
    private readonly ssm: SSMClient,
  ) {}

  async list(targets: readonly { Key: string; Values: readonly string[] }[]): Promise<DevHost[]> {
    // The plan's SSM targets (`tag:<key>`) are valid EC2 filter names as they are.
    const Filters = [
      ...targets.map((t) => ({ Name: t.Key, Values: [...t.Values] })),
      { Name: "instance-state-name", Values: LIVE_STATES as string[] },
    ];
    const found: { instanceId: string; state: DevHost["state"] }[] = [];
    let NextToken: string | undefined;
    do {
      const out = await this.ec2.send(new DescribeInstancesCommand({ Filters, NextToken }));
      for (const reservation of out.Reservations ?? []) {
        for (const instance of reservation.Instances ?? []) {
          const state = instance.State?.Name as DevHost["state"] | undefined;
          if (instance.InstanceId && state && LIVE_STATES.includes(state))
            found.push({ instanceId: instance.InstanceId, state });
        }
      }
      NextToken = out.NextToken;
    } while (NextToken);
    if (found.length === 0) return [];
    const agents = await this.pingStatus(found.map((f) => f.instanceId));
    return found.map((f) => ({ ...f, agent: agents.get(f.instanceId) ?? null }));
  }

  async start(instanceIds: readonly string[]): Promise<void> {
    if (instanceIds.length === 0) return;
    await this.ec2.send(new StartInstancesCommand({ InstanceIds: [...instanceIds] }));
  }

  private async pingStatus(ids: string[]): Promise<Map<string, DevHost["agent"]>> {
    const agents = new Map<string, DevHost["agent"]>();
    for (let i = 0; i < ids.length; i += SSM_IDS_PER_CALL) {
      const Filters = [{ Key: "InstanceIds", Values: ids.slice(i, i + SSM_IDS_PER_CALL) }];
      let NextToken: string | undefined;
      do {
        const out = await this.ssm.send(new DescribeInstanceInformationCommand({ Filters, NextToken }));
        for (const info of out.InstanceInformationList ?? []) {
          const ping = info.PingStatus as DevHost["agent"];
          if (info.InstanceId) agents.set(info.InstanceId, PING.includes(ping) ? ping : null);
        }
        NextToken = out.NextToken;
      } while (NextToken);
    }
    return agents;
  }
}
