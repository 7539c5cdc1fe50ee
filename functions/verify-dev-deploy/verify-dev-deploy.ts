import * as z from "zod";
import { lazySchema } from "../../shared/contracts/lazy-schema.js";
import type { DeployResult } from "../../shared/contracts/release-state.js";
import { parseInput } from "../../shared/contracts/zod-problems.js";
import {
  DevAgentOfflineError,
  DevDeployFailedError,
  DevDeployInProgressError,
  DevDeployRollbackFailedError,
  DevDeployRolledBackError,
  DevDeployTimedOutError,
  DevEnvSecretMissingError,
  InvalidInputError,
  NoDevInstancesError,
  type PouroverError,
} from "../../shared/domain/errors.js";
import type {
  Clock,
  DeployCommandStatus,
  DeployStatusReader,
  InstanceDeployStatus,
} from "../../shared/ports/index.js";

/**
 * SendCommand `TimeoutSeconds` of DeployDev: how long SSM may take to deliver the command to a host
 * (WakeDevHost has already seen its agent Online). It is a delivery timeout, not an execution one:
 * "If this time is reached and the command hasn't already started running, it won't run" (SendCommand).
 */
export const DEV_DELIVERY_TIMEOUT_SECONDS = 120;
/**
 * How long past delivery + execution timeout VerifyDev still waits for SSM to report: the agent has
 * to send the ExecutionTimedOut signal itself before the invocation shows it ("Understanding command
 * timeout values").
 */
export const VERIFY_GRACE_SECONDS = 120;
/** The runShellScript default execution timeout, when the input names none. */
const DEFAULT_EXECUTION_TIMEOUT_SECONDS = 3600;

const RUNNING = new Set<string>(["Pending", "InProgress", "Delayed", "Cancelling"]);
const OFFLINE = new Set<string>(["Undeliverable", "DeliveryTimedOut"]);
const TIMED_OUT = new Set<string>(["TimedOut", "ExecutionTimedOut"]);
/** Command statuses after which `TargetCount` is final ("No Instances In Tag" is a terminal one). */
const COMMAND_DONE = new Set<string>(["Success", "Failed", "TimedOut", "Cancelled"]);

/** What went wrong on one host, worst first: the release fails with the worst host's error. */
const KINDS = [
  "rollback-failed",
  "failed",
  "timed-out",
  "rolled-back",
  "env-secret",
  "agent-offline",
] as const;
type FailureKind = (typeof KINDS)[number];

export interface InstanceResult {
  instanceId: string;
  status: string;
  /** The deploy script's JSON result line, or a one-line note when the host produced none. */
  summary: string;
}

const inputSchema = lazySchema(() =>
  z.object({
    commandId: z.string().optional(),
    app: z.string().optional(),
    tag: z.string().optional(),
    /** dev.timeoutSeconds: the document's execution timeout. */
    timeoutSeconds: z.number().optional(),
  }),
);

export type VerifyDevDeployInput = z.infer<ReturnType<typeof inputSchema>>;

/**
 * Reads the per-instance results of the dev deploy command.
 * - Right after SendCommand with tag targets SSM lists no invocation until it has resolved the
 *   targets: that is "running, retry after" (DevDeployInProgressError), never "no instances".
 *   NoDevInstancesError only when the command itself is finished with `TargetCount` 0.
 * - While any instance runs: DevDeployInProgressError, retried by the workflow (no sleeping here),
 *   until delivery timeout + dev.timeoutSeconds + a grace have passed since the command was sent.
 *   Then the command is cancelled (CancelCommand) and the release fails with DevDeployTimedOutError,
 *   so the dev lock is only given back once the host was told to stop.
 * - A finished command that failed anywhere throws the named error of the worst host; its message
 *   lists every host as `<instance> <status> <summary>` separated by `; `.
 */
export async function verifyDevDeploy(
  raw: unknown,
  deps: { reader: DeployStatusReader; clock?: Clock },
): Promise<DeployResult> {
  const input = parseInput(inputSchema(), raw, "VerifyDev");
  if (!input.commandId) throw new InvalidInputError("VerifyDev: commandId is required");
  if (
    input.timeoutSeconds !== undefined &&
    (!Number.isInteger(input.timeoutSeconds) || input.timeoutSeconds <= 0)
  ) {
    throw new InvalidInputError("VerifyDev: timeoutSeconds must be a positive whole number of seconds");
  }
  const commandId = input.commandId;
  const now = (deps.clock ?? { now: () => new Date() }).now();
  const { command, invocations } = await deps.reader.read(commandId);
  const release = `${input.app ?? "?"} ${input.tag ?? "?"}`;
  const watch = { command, input, now, reader: deps.reader, release };

  if (invocations.length === 0) {
    if (command && command.targetCount === 0 && COMMAND_DONE.has(command.status)) {
      throw new NoDevInstancesError(
        `no dev instance matched the configured dev.instanceTags for ${release}: nothing was deployed (SSM ${command.status}${command.statusDetails ? `, ${command.statusDetails}` : ""}, 0 targets)`,
      );
    }
    return notFinished(
      watch,
      "its dev instance targets never resolved",
      `dev deploy ${commandId} of ${release}: SSM has not resolved the dev instance targets yet`,
    );
  }
  const running = invocations.filter((i) => RUNNING.has(i.status));
  if (running.length > 0)
    return notFinished(
      watch,
      `still running on ${running.map((i) => `${i.instanceId} ${i.status}`).join(", ")}`,
      `dev deploy ${commandId} of ${release} still running`,
    );
  const judged = invocations.map((i) => judge(i));
  const instances: InstanceResult[] = judged.map((j) => j.result);
  const failed = judged.filter((j) => j.kind !== null);
  if (failed.length > 0) {
    const worst = KINDS.find((k) => failed.some((f) => f.kind === k)) as FailureKind;
    const secret = judged.find((j) => j.kind === "env-secret")?.secret ?? "";
    const hosts = instances.map((i) => `${i.instanceId} ${i.status} ${i.summary}`).join("; ");
    throw failureError(
      worst,
      `${headline(worst, release, failed.length, instances.length, secret)}: ${hosts}`,
    );
  }
  return {
    instances,
    dryRun: judged.every((j) => j.scriptStatus === "dry-run"),
  };
}

/**
 * A deploy not finished yet (`state` says how): "running, retry after" (DevDeployInProgressError,
 * retried by the workflow), unless it is overdue (see giveUpIfOverdue).
 */
async function notFinished(
  watch: {
    command: DeployCommandStatus | null;
    input: VerifyDevDeployInput;
    now: Date;
    reader: DeployStatusReader;
    release: string;
  },
  state: string,
  message: string,
): Promise<never> {
  await giveUpIfOverdue(watch.command, watch.input, watch.now, watch.reader, watch.release, state);
  throw new DevDeployInProgressError(message);
}

/** When the command should have ended by now, cancels it and fails the release as timed out. */
async function giveUpIfOverdue(
  command: DeployCommandStatus | null,
  input: VerifyDevDeployInput,
  now: Date,
  reader: DeployStatusReader,
  release: string,
  state: string,
): Promise<void> {
  // Not listed yet means just sent: the workflow's retry budget bounds that case.
  if (!command?.requestedAt) return;
  const execution = input.timeoutSeconds ?? DEFAULT_EXECUTION_TIMEOUT_SECONDS;
  const delivery = command.deliveryTimeoutSeconds ?? DEV_DELIVERY_TIMEOUT_SECONDS;
  const waited = Math.floor((now.getTime() - command.requestedAt.getTime()) / 1000);
  if (waited < delivery + execution + VERIFY_GRACE_SECONDS) return;
  let cancelled = "cancelled it (CancelCommand)";
  try {
    await reader.cancel(input.commandId as string);
  } catch (error) {
    cancelled = `could not cancel it (${(error as Error).name}: ${(error as Error).message.slice(0, 200)}); the host may still be deploying`;
  }
  throw new DevDeployTimedOutError(
    `dev deploy ${input.commandId} of ${release} timed out: ${state} ${waited}s after it was sent (delivery timeout ${delivery}s + dev.timeoutSeconds ${execution}s + ${VERIFY_GRACE_SECONDS}s); the workflow ${cancelled} before giving the dev lock back`,
  );
}

function judge(i: InstanceDeployStatus): {
  result: InstanceResult;
  kind: FailureKind | null;
  scriptStatus: string | null;
  secret?: string;
} {
  const line = resultLine(i.output);
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
  if (json?.step === "env") {
    return {
      result: result(line),
      kind: "env-secret",
      scriptStatus,
      secret: typeof json.secret === "string" ? json.secret : "",
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

function headline(kind: FailureKind, release: string, failed: number, total: number, secret: string): string {
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
    case "env-secret":
      return `dev deploy of ${release} stopped before pulling ${on}: the app env secret ${secret || "(dev.envSecret)"} is missing or empty; put the env file in it (aws secretsmanager put-secret-value --secret-id ${secret || "<dev.envSecret>"} --secret-string file://app.env), then release again`;
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
    case "env-secret":
      return new DevEnvSecretMissingError(message);
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

/**
 * The deploy script prints one JSON result line last on stdout (its logs go to stderr). The newest
 * line that is such an object wins, so a stray line after it cannot hide it; without one, the last
 * line is kept as a note. `; ` separates hosts in messages, so it never appears in a summary.
 */
function resultLine(stdout: string): string {
  const lines = stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const json = [...lines].reverse().find((l) => typeof parseSummary(l)?.status === "string");
  return (json ?? lines[lines.length - 1] ?? "").replaceAll(";", ",").slice(0, 500);
}
