import {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  ListCommandsCommand,
  paginateListCommandInvocations,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import type {
  DeployCommandStatus,
  DeployCommandView,
  DeployStatusReader,
  InstanceDeployStatus,
} from "../../ports/index.js";

/** Invocation statuses after which the host wrote everything it will write. */
const FINISHED = new Set<InstanceDeployStatus["status"]>([
  "Success",
  "Failed",
  "TimedOut",
  "DeliveryTimedOut",
  "ExecutionTimedOut",
  "Cancelled",
  "Undeliverable",
  "Terminated",
]);

/**
 * Reads the dev deploy command in three steps:
 * - ListCommands: the command's `TargetCount` and status. Tag targets are resolved after SendCommand
 *   returns; until then ListCommandInvocations answers an empty list (aws/aws-cli#3546).
 * - ListCommandInvocations without Details: one status per instance. Its `CommandPlugins[].Output`
 *   is not used: it holds at most 2,500 characters of stdout and stderr run together, so the result
 *   line the script prints last on stdout is not the last line there (API_CommandPlugin: Output
 *   "Maximum length of 2500").
 * - GetCommandInvocation per finished instance: `StandardOutputContent`, the first 24,000
 *   characters written to stdout only (GetCommandInvocation response reference).
 */
export class SsmDeployStatusReader implements DeployStatusReader {
  constructor(private readonly client: SSMClient) {}

  async read(commandId: string): Promise<DeployCommandView> {
    const listed = await this.client.send(new ListCommandsCommand({ CommandId: commandId }));
    const found = listed.Commands?.find((c) => c.CommandId === commandId) ?? listed.Commands?.[0];
    const command: DeployCommandStatus | null = found
      ? {
          status: found.Status ?? "Pending",
          statusDetails: found.StatusDetails ?? "",
          targetCount: found.TargetCount ?? 0,
          requestedAt: found.RequestedDateTime ?? null,
          deliveryTimeoutSeconds: found.TimeoutSeconds ?? null,
        }
      : null;

    const invocations: InstanceDeployStatus[] = [];
    for await (const page of paginateListCommandInvocations(
      { client: this.client },
      { CommandId: commandId },
    )) {
      for (const inv of page.CommandInvocations ?? []) {
        invocations.push({
          instanceId: inv.InstanceId ?? "unknown",
          status: invocationStatus(inv.Status, inv.StatusDetails),
          output: "",
        });
      }
    }

    for (const inv of invocations) {
      if (!FINISHED.has(inv.status) || inv.instanceId === "unknown") continue;
      inv.output = await this.stdout(commandId, inv.instanceId);
    }
    return { command, invocations };
  }

  async cancel(commandId: string): Promise<void> {
    await this.client.send(new CancelCommandCommand({ CommandId: commandId }));
  }

  private async stdout(commandId: string, instanceId: string): Promise<string> {
    try {
      const out = await this.client.send(
        // One step in the document, so PluginName may be left out.
        new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
      );
      return out.StandardOutputContent ?? "";
    } catch (error) {
      // Not visible yet (eventual consistency) or never delivered: no stdout to read.
      if ((error as { name?: string }).name === "InvocationDoesNotExist") return "";
      throw error;
    }
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
