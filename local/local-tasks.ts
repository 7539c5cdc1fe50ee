import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { AppConfig } from "../shared/contracts/app-config.js";
import { parseTrivyReport, reportDigest } from "../shared/domain/trivy-report.js";
import type { DevHost, DevHosts, ImageRegistry } from "../shared/ports/index.js";

export { type BuildOutput, type LocalBuildOverride, localBuildAndScan } from "./build-stand-in.js";
export { type DeployRunner, LocalDeployCommands, scriptDeployRunner } from "./dev-deploy-stand-in.js";

/**
 * Stands in for ECR: digests of images pushed in ECR events fed to `pourover event`, else the digest
 * recorded in the service's labelled sample report (no registry is asked).
 */
export class LocalImageRegistry implements ImageRegistry {
  private readonly pushed = new Map<string, string>();

  constructor(
    private readonly config: AppConfig,
    private readonly configDir: string,
  ) {}

  record(repository: string, tag: string, digest: string): void {
    this.pushed.set(`${repository}:${tag}`, digest);
  }

  async digestOf(repository: string, tag: string): Promise<string | null> {
    const pushed = this.pushed.get(`${repository}:${tag}`);
    if (pushed) return pushed;
    const sample = this.config.services.find((s) => s.repository === repository)?.sampleScanReport;
    if (!sample) return null;
    return (
      reportDigest(parseTrivyReport(await readFile(resolve(this.configDir, sample), "utf8"), sample)) ?? null
    );
  }
}

/** The request ReleaseDevLock sends to DynamoDB UpdateItem (the ASL's Parameters, resolved). */
interface DevLockUpdateItem {
  TableName: string;
  Key: { pk: { S: string } };
  UpdateExpression: string;
  ConditionExpression: string;
  ExpressionAttributeValues: { ":me": { S: string }; ":one": { N: string } };
}

/** What the ASL's ReleaseDevLock UpdateItem says; anything else is a change this stand-in must follow. */
const DEV_LOCK_RELEASE = {
  UpdateExpression: "REMOVE holder, heldUntil SET rev = rev + :one",
  ConditionExpression: "holder = :me",
};

/**
 * Stands in for the `dynamodb:updateItem` integration of ReleaseDevLock(AfterFailure) on the SQLite dev
 * lock: the same conditional release (only while `:me` holds `devlock#<app>`). As the integration
 * does, it resolves with UpdateItem's response (no ReturnValues: no attributes) and fails with
 * `DynamoDB.ConditionalCheckFailedException` when the condition does not hold.
 */
export function localDevLockRelease(lock: { release(app: string, executionId: string): Promise<boolean> }) {
  return async (params: unknown): Promise<Record<string, never>> => {
    const p = params as DevLockUpdateItem;
    const key = p?.Key?.pk?.S ?? "";
    const holder = p?.ExpressionAttributeValues?.[":me"]?.S ?? "";
    if (
      !key.startsWith("devlock#") ||
      !holder ||
      p.UpdateExpression !== DEV_LOCK_RELEASE.UpdateExpression ||
      p.ConditionExpression !== DEV_LOCK_RELEASE.ConditionExpression
    ) {
      throw Object.assign(
        new Error(`the local dev lock does not model this UpdateItem: ${JSON.stringify(params)}`),
        {
          name: "DynamoDB.ValidationException",
        },
      );
    }
    if (!(await lock.release(key.slice("devlock#".length), holder))) {
      // DynamoDB's own message for a failed ConditionExpression.
      throw Object.assign(new Error("The conditional request failed"), {
        name: "DynamoDB.ConditionalCheckFailedException",
      });
    }
    return {};
  };
}

/** EC2's instance state codes, as DescribeInstances and StartInstances report them with the name. */
const EC2_STATE_CODES: Record<DevHost["state"] | "terminated", number> = {
  pending: 0,
  running: 16,
  "shutting-down": 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

/** A DescribeInstances request's Filters; only the filter names the stand-in models. */
function ec2Filters(params: unknown): { Name: string; Values: string[] }[] {
  const filters = (params as { Filters?: { Name?: string; Values?: string[] }[] })?.Filters ?? [];
  for (const f of filters)
    if (!(f.Name?.startsWith("tag:") || f.Name === "instance-state-name") || !f.Values?.length)
      throw sdkError(
        "Ec2.InvalidParameterValueException",
        `the local dev host stand-in models only tag:<key> and instance-state-name filters: ${JSON.stringify(params)}`,
      );
  return filters as { Name: string; Values: string[] }[];
}

const stateMatches = (filters: { Name: string; Values: string[] }[], state: DevHost["state"]): boolean =>
  filters.filter((f) => f.Name === "instance-state-name").every((f) => f.Values.includes(state));

/** DescribeInstances' response: one reservation per host here (EC2 groups by launch request). */
const describeInstancesOutput = (hosts: DevHost[]) => ({
  Reservations: hosts.map((h) => ({
    ReservationId: `r-${h.instanceId.replace(/^i-/, "")}`,
    Instances: [{ InstanceId: h.instanceId, State: { Code: EC2_STATE_CODES[h.state], Name: h.state } }],
  })),
});

/** An error named as Step Functions names an AWS SDK integration's errors (ServiceName.ErrorName). */
const sdkError = (name: string, message: string): Error => Object.assign(new Error(message), { name });

/**
 * Stands in for the `aws-sdk:ec2` and `aws-sdk:ssm` integrations of the wake loop (WakeDevHost,
 * CheckDevHostAgents, FindStoppedDevHosts, StartDevHosts) over the DevHosts port: each takes the request the ASL builds
 * and answers in the shape of the AWS API's response, so the same JSONPath selects from it. One
 * WakeDevHost lists the hosts; the CheckDevHostAgents after it reads the agents of that same listing.
 */
export function localDevHostTasks(hosts: DevHosts) {
  let listed: DevHost[] = [];
  return {
    /** EC2 DescribeInstances with `tag:<key>` and `instance-state-name` Filters. */
    WakeDevHost: async (params: unknown) => {
      const filters = ec2Filters(params);
      const tags = filters.filter((f) => f.Name.startsWith("tag:"));
      listed = (await hosts.list(tags.map((f) => ({ Key: f.Name, Values: f.Values })))).filter((h) =>
        stateMatches(filters, h.state),
      );
      return describeInstancesOutput(listed);
    },
    /** EC2 DescribeInstances of the listed hosts' ids with an `instance-state-name` filter. */
    FindStoppedDevHosts: async (params: unknown) => {
      const ids = (params as { InstanceIds?: string[] })?.InstanceIds ?? [];
      const filters = ec2Filters(params);
      return describeInstancesOutput(
        listed.filter((h) => ids.includes(h.instanceId) && stateMatches(filters, h.state)),
      );
    },
    /** SSM DescribeInstanceInformation with InstanceIds and PingStatus filters. */
    CheckDevHostAgents: async (params: unknown) => {
      const filters = (params as { Filters?: { Key?: string; Values?: string[] }[] })?.Filters ?? [];
      const values = (key: string) => filters.find((f) => f.Key === key)?.Values;
      const ids = values("InstanceIds");
      // InstanceInformationStringFilter.Values takes 1 to 100 values: no host matched, nothing to ask.
      // Which error name SSM gives this is not documented; the ASL catches every error of this state.
      if (!ids || ids.length === 0 || ids.length > 100)
        throw sdkError(
          "Ssm.InvalidInstanceInformationFilterValueException",
          `the InstanceIds filter takes 1 to 100 values, not ${ids?.length ?? 0}`,
        );
      const ping = values("PingStatus");
      return {
        // Stopped or terminated nodes are not returned (DescribeInstanceInformation).
        InstanceInformationList: listed
          .filter((h) => ids.includes(h.instanceId) && h.agent !== null && h.state !== "stopped")
          .filter((h) => !ping || ping.includes(h.agent as string))
          .map((h) => ({
            InstanceId: h.instanceId,
            PingStatus: h.agent as NonNullable<DevHost["agent"]>,
            ResourceType: "EC2Instance" as const,
          })),
      };
    },
    /** EC2 StartInstances. */
    StartDevHosts: async (params: unknown) => {
      const ids = (params as { InstanceIds?: string[] })?.InstanceIds ?? [];
      await hosts.start(ids);
      return {
        StartingInstances: ids.map((id) => ({
          InstanceId: id,
          CurrentState: { Code: EC2_STATE_CODES.pending, Name: "pending" as const },
          PreviousState: { Code: EC2_STATE_CODES.stopped, Name: "stopped" as const },
        })),
      };
    },
  };
}
