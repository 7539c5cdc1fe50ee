import type { DeployResult } from "../../shared/contracts/release-state.js";
import {
  DevDeployFailedError,
  DevDeployInProgressError,
  InvalidInputError,
  NoDevInstancesError,
} from "../../shared/domain/errors.js";
import type { DeployStatusReader } from "../../shared/ports/index.js";

const RUNNING = new Set(["Pending", "InProgress", "Delayed"]);

/**
 * Reads the per-instance results of the dev deploy command. While any instance is still running it
 * throws DevDeployInProgressError: the workflow retries later instead of sleeping in a Lambda.
 */
export async function verifyDevDeploy(
  input: { commandId?: string; app?: string; tag?: string },
  deps: { reader: DeployStatusReader },
): Promise<DeployResult> {
  if (!input.commandId) throw new InvalidInputError("VerifyDev: commandId is required");
  const invocations = await deps.reader.read(input.commandId);
  if (invocations.length === 0) {
    throw new NoDevInstancesError(
      `no dev instance matched the configured tags for ${input.app} ${input.tag}`,
    );
  }
  if (invocations.some((i) => RUNNING.has(i.status))) {
    throw new DevDeployInProgressError(`dev deploy ${input.commandId} still running`);
  }
  const instances = invocations.map((i) => ({
    instanceId: i.instanceId,
    status: i.status,
    summary: lastLine(i.output),
  }));
  const failed = instances.filter((i) => i.status !== "Success");
  if (failed.length > 0) {
    throw new DevDeployFailedError(
      `dev deploy failed on ${failed.length} of ${instances.length} instances: ${failed.map((f) => `${f.instanceId} ${f.status} ${f.summary}`).join("; ")}`,
    );
  }
  return { instances, dryRun: instances.every((i) => i.summary.includes('"dry-run"')) };
}

function lastLine(output: string): string {
  const lines = output.trim().split("\n");
  return (lines[lines.length - 1] ?? "").slice(0, 500);
}
