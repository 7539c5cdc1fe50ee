import type { DeployResult } from "../../shared/contracts/release-state.js";
import {
  DevAgentOfflineError,
  DevDeployFailedError,
  DevDeployInProgressError,
  DevDeployRollbackFailedError,
  DevDeployRolledBackError,
  DevDeployTimedOutError,
  InvalidInputError,
  NoDevInstancesError,
  type PouroverError,
} from "../../shared/domain/errors.js";
import type { DeployStatusReader, InstanceDeployStatus } from "../../shared/ports/index.js";

const RUNNING = new Set<InstanceDeployStatus["status"]>(["Pending", "InProgress", "Delayed"]);
const OFFLINE = new Set<InstanceDeployStatus["status"]>(["Undeliverable", "DeliveryTimedOut"]);
const TIMED_OUT = new Set<InstanceDeployStatus["status"]>(["TimedOut", "ExecutionTimedOut"]);

/** What went wrong on one host, worst first: the release fails with the worst host's error. */
const KINDS = ["rollback-failed", "failed", "timed-out", "rolled-back", "agent-offline"] as const;
type FailureKind = (typeof KINDS)[number];

export interface InstanceResult {
  instanceId: string;
  status: string;
  /** The deploy script's final JSON line, or a one-line note when the host produced none. */
  summary: string;
}

/**
 * Reads the per-instance results of the dev deploy command. While any instance is still running it
 * throws DevDeployInProgressError: the workflow retries later instead of sleeping in a Lambda. A
 * finished command that failed anywhere throws the named error of the worst host (rollback failed,
 * failed, timed out, rolled back, agent offline); its message lists every host as
 * `<instance> <status> <summary>` separated by `; `.
 */
export async function verifyDevDeploy(
  input: { commandId?: string; app?: string; tag?: string },
  deps: { reader: DeployStatusReader },
): Promise<DeployResult> {
  if (!input.commandId) throw new InvalidInputError("VerifyDev: commandId is required");
  const invocations = await deps.reader.read(input.commandId);
  const release = `${input.app ?? "?"} ${input.tag ?? "?"}`;
  if (invocations.length === 0) {
    throw new NoDevInstancesError(
      `no dev instance matched the configured dev.instanceTags for ${release}: nothing was deployed`,
    );
  }
  if (invocations.some((i) => RUNNING.has(i.status))) {
    throw new DevDeployInProgressError(`dev deploy ${input.commandId} of ${release} still running`);
  }
  const judged = invocations.map((i) => judge(i));
  const instances: InstanceResult[] = judged.map((j) => j.result);
  const failed = judged.filter((j) => j.kind !== null);
  if (failed.length > 0) {
    const worst = KINDS.find((k) => failed.some((f) => f.kind === k)) as FailureKind;
    const hosts = instances.map((i) => `${i.instanceId} ${i.status} ${i.summary}`).join("; ");
    throw failureError(worst, `${headline(worst, release, failed.length, instances.length)}: ${hosts}`);
  }
  return {
    instances,
    dryRun: judged.every((j) => j.scriptStatus === "dry-run"),
  };
}

function judge(i: InstanceDeployStatus): {
  result: InstanceResult;
  kind: FailureKind | null;
  scriptStatus: string | null;
} {
  const line = lastLine(i.output);
  const json = parseSummary(line);
  const scriptStatus = typeof json?.status === "string" ? json.status : null;
  const note = (text: string) => (line ? line : text);
  const result = (summary: string): InstanceResult => ({
    instanceId: i.instanceId,
    status: i.status,
    summary,
  });
  if (i.status === "Success") return { result: result(line), kind: null, scriptStatus };
  if (OFFLINE.has(i.status)) {
    return {
      result: result(note("the SSM agent never received the command (host stopped or agent offline)")),
      kind: "agent-offline",
      scriptStatus,
    };
  }
  if (TIMED_OUT.has(i.status)) {
    return {
      result: result(note("the deploy ran past its timeout and was stopped")),
      kind: "timed-out",
      scriptStatus,
    };
  }
  const kind: FailureKind =
    scriptStatus === "rollback-failed" || json?.rollback === "failed"
      ? "rollback-failed"
      : scriptStatus === "rolled-back"
        ? "rolled-back"
        : "failed";
  return {
    result: result(note(`no result line from the deploy script (SSM ${i.status})`)),
    kind,
    scriptStatus,
  };
}

function headline(kind: FailureKind, release: string, failed: number, total: number): string {
  const on = `on ${failed} of ${total} dev instance${total === 1 ? "" : "s"}`;
  switch (kind) {
    case "agent-offline":
      return `dev deploy of ${release} not delivered ${on}: the instance is stopped or its SSM agent is offline; start it, wait until its agent is Online, then release again`;
    case "timed-out":
      return `dev deploy of ${release} timed out ${on}: check docker compose ps and the deploy log on the host`;
    case "rolled-back":
      return `dev deploy failed for ${release} ${on} and was rolled back: dev runs the previous release`;
    case "rollback-failed":
      return `dev deploy failed for ${release} ${on} and the rollback failed too: the host needs a person`;
    default:
      return `dev deploy failed for ${release} ${on}`;
  }
}

function failureError(kind: FailureKind, message: string): PouroverError {
  switch (kind) {
    case "agent-offline":
      return new DevAgentOfflineError(message);
    case "timed-out":
      return new DevDeployTimedOutError(message);
    case "rolled-back":
      return new DevDeployRolledBackError(message);
    case "rollback-failed":
      return new DevDeployRollbackFailedError(message);
    default:
      return new DevDeployFailedError(message);
  }
}

function parseSummary(line: string): Record<string, unknown> | null {
  if (!line.startsWith("{")) return null;
  try {
    const parsed: unknown = JSON.parse(line);
    return parsed && typeof parsed === "object" ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The deploy script's last stdout line is its JSON result; `; ` separates hosts in messages. */
function lastLine(output: string): string {
  const lines = output.trim().split("\n");
  return (lines[lines.length - 1] ?? "").trim().replaceAll(";", ",").slice(0, 500);
}
