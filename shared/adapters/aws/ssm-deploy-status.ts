import { ListCommandInvocationsCommand, type SSMClient } from "@aws-sdk/client-ssm";
import type { DeployStatusReader, InstanceDeployStatus } from "../../ports/index.js";

export class SsmDeployStatusReader implements DeployStatusReader {
  constructor(private readonly client: SSMClient) {}

  async read(commandId: string): Promise<InstanceDeployStatus[]> {
    const statuses: InstanceDeployStatus[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.client.send(
        new ListCommandInvocationsCommand({ CommandId: commandId, Details: true, NextToken: nextToken }),
      );
      for (const inv of out.CommandInvocations ?? []) {
        statuses.push({
          instanceId: inv.InstanceId ?? "unknown",
          status: (inv.Status ?? "Pending") as InstanceDeployStatus["status"],
          // The API keeps only the first 24,000 characters; the full log is in CloudWatch Logs.
          output: inv.CommandPlugins?.map((p) => p.Output ?? "").join("\n") ?? "",
        });
      }
      nextToken = out.NextToken;
    } while (nextToken);
    return statuses;
  }
}
