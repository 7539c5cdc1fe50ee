import type { StateMachine } from "aws-local-stepfunctions";
import type { Trigger } from "../shared/contracts/release.js";
import type { EventLog } from "./event-log.js";
import type { ReleaseFailure, ReleaseOptions } from "./release-outcome.js";

/** An execution the engine runs, with what its release tracks beside it. */
export interface RunningExecution {
  opts: ReleaseOptions;
  name: string;
  executionId: string;
  input: {
    app: string;
    tag: string;
    trigger: Trigger;
    force: boolean;
    rollback?: ReleaseOptions["rollback"];
  };
  startedAt: Date;
  execution: ReturnType<StateMachine["run"]>;
  interrupt: AbortController;
  inflight: Set<Promise<unknown>>;
  emails: string[];
  scanReports: Record<string, string>;
}

/**
 * Waits for the engine: its result and every event. Only an execution that the interrupt actually
 * stopped is aborted; one that had finished stands.
 */
export async function awaitExecution(r: RunningExecution): Promise<{
  log: EventLog[];
  output: unknown;
  failure?: ReleaseFailure;
  aborted: boolean;
}> {
  const log: EventLog[] = [];
  const collecting = (async () => {
    for await (const event of r.execution.eventLogs) {
      log.push(event);
      r.opts.onEvent?.(event);
    }
  })();
  try {
    const output = await r.execution.result;
    await collecting;
    return { log, output, aborted: false };
  } catch (error) {
    const e = error as Error & { cause?: unknown };
    if (!r.interrupt.signal.aborted) {
      await collecting;
      return { log, output: null, failure: { error: e.name, cause: e.message }, aborted: false };
    }
  }
  // What was running when the interrupt came (a commit, an email) finishes or fails first.
  await Promise.race([
    Promise.allSettled([...r.inflight]),
    new Promise((res) => setTimeout(res, 10_000).unref()),
  ]);
  await Promise.race([collecting, new Promise((res) => setTimeout(res, 200).unref())]);
  return { log, output: null, aborted: true };
}
