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
          status: invocationStatus(inv.Status, inv.StatusDetails),
          // The API keeps only the first 24,000 characters; the full log is in CloudWatch Logs.
          output: inv.CommandPlugins?.map((p) => p.Output ?? "").join("\n") ?? "",
        });
      }
      nextToken = out.NextToken;
    } while (nextToken);
    return statuses;
  }
}

/**
 * `Status` folds delivery and execution timeouts into `TimedOut` and an unreachable agent into
 * `Failed`; `StatusDetails` ("Delivery Timed Out", "Undeliverable", ...) tells them apart.
 */
const DETAILED = new Set(["DeliveryTimedOut", "ExecutionTimedOut", "Undeliverable", "Terminated"]);
function invocationStatus(
  status: string | undefined,
  details: string | undefined,
): InstanceDeployStatus["status"] {
  const detail = (details ?? "").replaceAll(" ", "");
  if (DETAILED.has(detail)) return detail as InstanceDeployStatus["status"];
  return (status ?? "Pending") as InstanceDeployStatus["status"];
}
