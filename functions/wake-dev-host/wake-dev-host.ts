import * as z from "zod";
import { zodProblems } from "../../shared/contracts/zod-problems.js";
import { DevHostStartingError, InvalidInputError, NoDevInstancesError } from "../../shared/domain/errors.js";
import type { DevHost, DevHosts } from "../../shared/ports/index.js";

const InputSchema = z.object({
  app: z.string().min(1),
  tag: z.string().min(1),
  /** plan.dev.targets: the same tag selection DeployDev sends the command to. */
  targets: z
    .array(
      z.object({
        Key: z.string().regex(/^tag:.+/, "only tag:<key> targets select dev hosts"),
        Values: z.array(z.string().min(1)).min(1),
      }),
    )
    .min(1),
});

export interface WakeDevHostResult {
  /** Every matched instance, all running with their SSM agent Online. */
  instances: string[];
  /**
   * Instances this invocation started. A host started now is not online yet, so the call that
   * returns has always started none: the retry history of WakeDevHost shows when hosts were started.
   */
  started: string[];
}

/**
 * Makes sure the dev hosts can receive the deploy command before DeployDev sends it. It never sleeps:
 * a host that is not ready yet is "running, retry after" (DevHostStartingError, retried by the
 * workflow); stopped hosts are started first. A stopping host is left alone: it becomes stopped and
 * is started on a later try. When the retries run out the last message names the hosts that never
 * came online.
 */
export async function wakeDevHost(raw: unknown, deps: { hosts: DevHosts }): Promise<WakeDevHostResult> {
  const parsed = InputSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = zodProblems(parsed.error);
    throw new InvalidInputError(`WakeDevHost: ${problems.join("; ")}`, problems);
  }
  const { app, tag, targets } = parsed.data;
  const hosts = await deps.hosts.list(targets);
  const release = `${app} ${tag}`;
  if (hosts.length === 0) {
    throw new NoDevInstancesError(
      `no dev instance matched the configured dev.instanceTags (${targets.map((t) => `${t.Key}=${t.Values.join("|")}`).join(", ")}) for ${release}: nothing was deployed`,
    );
  }
  const stopped = hosts.filter((h) => h.state === "stopped").map((h) => h.instanceId);
  if (stopped.length > 0) await deps.hosts.start(stopped);
  const waiting = hosts.filter((h) => !(h.state === "running" && h.agent === "Online"));
  if (waiting.length > 0) {
    const notes = waiting.map((h) => `${h.instanceId} ${describe(h, stopped.includes(h.instanceId))}`);
    throw new DevHostStartingError(
      `dev host${hosts.length === 1 ? "" : "s"} for ${release} not online yet (${waiting.length} of ${hosts.length}): ${notes.join("; ")}`,
    );
  }
  return { instances: hosts.map((h) => h.instanceId), started: [] };
}

function describe(h: DevHost, startedNow: boolean): string {
  if (startedNow) return "was stopped: started, waiting for the SSM agent";
  if (h.state === "stopping" || h.state === "shutting-down")
    return `${h.state}: will be started once stopped`;
  if (h.state === "pending") return "starting: waiting for the SSM agent";
  return `running, SSM agent ${h.agent ?? "not registered yet"}`;
}
