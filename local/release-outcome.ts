import type { Trigger } from "../shared/contracts/release.js";
import type { ReleaseState } from "../shared/contracts/release-state.js";
import type { EventLog } from "./event-log.js";

export interface ReleaseOptions {
  tag: string;
  trigger?: Trigger;
  force?: boolean;
  scanReports?: Record<string, string>;
  /** A local clone of the app's source repository to build images from (with docker and trivy). */
  source?: string;
  onEvent?: (event: EventLog) => void;
  /** A rollback to the earlier SUCCEEDED release `tag` (see local/rollback.ts). */
  rollback?: { requestedAt: string; requestedBy: string; from: string | null };
}

export interface ReleaseOutcome {
  /** ABORTED: interrupted (SIGINT/SIGTERM); its claim and dev lock were given back. */
  status: "SUCCEEDED" | "FAILED" | "DUPLICATE" | "ABORTED";
  executionId: string;
  tag: string;
  transitions: number;
  durationMs: number;
  states: {
    name: string;
    status: "SUCCEEDED" | "FAILED" | "CAUGHT";
    durationMs: number;
    iteration?: number;
  }[];
  pullRequest?: {
    branch: string;
    commit: string | null;
    changedFiles: string[];
    url: string | null;
    unchanged: boolean;
  };
  emails: string[];
  standIns: string[];
  error?: { error: string; cause: string };
  /** For a DUPLICATE: the release that already holds the tag. */
  duplicateOf?: {
    executionId: string;
    status: string;
    claimedAt: string;
    finishedAt: string | null;
    pid: number | null;
  };
  /** One line each, for the terminal summary: what the duplicate is, superseded, dry run, not recorded. */
  notes: string[];
  /** What could not be written under the state dir (disk full, permissions); the outcome stands. */
  notRecorded?: string[];
  output: unknown;
}

export type ReleaseFailure = { error: string; cause: string };

/**
 * How an execution that ran to its end finished. A release that reached the Fail state carries its
 * caught error (and everything it did) in the state; the engine only reports a generic ExecutionError
 * for it.
 */
export function readEnding(
  log: EventLog[],
  result: { output: unknown; failure?: ReleaseFailure | undefined },
): { output: unknown; failure?: ReleaseFailure | undefined; duplicate: boolean } {
  let { output, failure } = result;
  const failedState = log.find((e) => e.type === "StateEntered" && e.state.name === "ReleaseFailed");
  if (failedState && "state" in failedState) {
    output = failedState.state.input;
    const caught = (output as ReleaseState).error;
    if (caught) failure = { error: caught.Error, cause: caught.Cause ?? "" };
  }
  const duplicate = log.some((e) => e.type === "StateEntered" && e.state.name === "Duplicate");
  return { output, failure, duplicate };
}

/** The summary's notes on the dev deploy: superseded, or only a dry run. */
export function deployNotes(
  finalState: ReleaseState | null,
  status: ReleaseOutcome["status"],
  dryRunReason: string | undefined,
): string[] {
  const deployed = finalState?.deploy?.result;
  if (deployed?.superseded) return [`superseded by ${deployed.by ?? "a newer release"}, not deployed`];
  if (deployed?.dryRun && status === "SUCCEEDED")
    return [
      `dev deploy was a DRY RUN (${dryRunReason ?? "no docker compose here"}): pinned, nothing deployed`,
    ];
  return [];
}

/** The release's pull request as the outcome reports it, when one was opened. */
export function pullRequestOf(finalState: ReleaseState | null): Pick<ReleaseOutcome, "pullRequest"> {
  const pr = finalState?.pullRequest;
  return pr
    ? {
        pullRequest: {
          branch: pr.branch,
          commit: pr.commit,
          changedFiles: pr.changedFiles,
          url: pr.url,
          unchanged: pr.unchanged,
        },
      }
    : {};
}

/** Per state (and per Map iteration), how long it ran and how it ended, from the engine's event log. */
export function stateTimeline(log: EventLog[]): ReleaseOutcome["states"] {
  const open = new Map<string, number>();
  const states: ReleaseOutcome["states"] = [];
  for (const e of log) {
    if (!("state" in e)) continue;
    const key = `${e.state.name}#${e.index ?? ""}`;
    if (e.type === "StateEntered") open.set(key, e.timestamp);
    else if (e.type === "StateExited" || e.type === "StateFailed" || e.type === "StateCaught") {
      if (
        e.type === "StateExited" &&
        states.some((s) => s.name === e.state.name && s.iteration === e.index && s.status === "CAUGHT")
      )
        continue;
      const started = open.get(key) ?? e.timestamp;
      open.delete(key);
      states.push({
        name: e.state.name,
        status: e.type === "StateExited" ? "SUCCEEDED" : e.type === "StateCaught" ? "CAUGHT" : "FAILED",
        durationMs: e.timestamp - started,
        ...(e.index !== undefined ? { iteration: e.index } : {}),
      });
    }
  }
  return states;
}
