import type { EventLog } from "./event-log.js";
import type { ReleaseOutcome } from "./release-outcome.js";

/** A local execution as kept under the state dir's executions/ folder. */
export interface ExecutionRecord {
  executionArn: string;
  name: string;
  stateMachine: string;
  input: unknown;
  startDate: string;
  stopDate: string;
  outcome: ReleaseOutcome;
  history: { events: HistoryEvent[] };
}

/** One event in the shape of Step Functions' GetExecutionHistory. */
export interface HistoryEvent {
  id: number;
  previousEventId: number;
  timestamp: string;
  type: string;
  [details: string]: unknown;
}

const cap = (type: string) => type.charAt(0).toUpperCase() + type.slice(1);

/** Converts the local engine's event log into GetExecutionHistory events (ids, types, details). */
export function toExecutionHistory(log: EventLog[]): { events: HistoryEvent[] } {
  const events: HistoryEvent[] = [];
  const push = (type: string, timestamp: number, details: Record<string, unknown> = {}) => {
    const id = events.length + 1;
    events.push({
      id,
      previousEventId: id - 1,
      timestamp: new Date(timestamp).toISOString(),
      type,
      ...details,
    });
  };
  for (const e of log) {
    switch (e.type) {
      case "ExecutionStarted":
        push("ExecutionStarted", e.timestamp, {
          executionStartedEventDetails: { input: JSON.stringify(e.input) },
        });
        break;
      case "ExecutionSucceeded":
        push("ExecutionSucceeded", e.timestamp, {
          executionSucceededEventDetails: { output: JSON.stringify(e.output) },
        });
        break;
      case "ExecutionFailed":
        push("ExecutionFailed", e.timestamp, {
          executionFailedEventDetails: { error: e.Error, cause: String(e.Cause) },
        });
        break;
      case "ExecutionAborted":
      case "ExecutionTimeout":
        push(e.type === "ExecutionAborted" ? "ExecutionAborted" : "ExecutionTimedOut", e.timestamp);
        break;
      case "MapIterationStarted":
      case "MapIterationSucceeded":
      case "MapIterationFailed":
        push(e.type, e.timestamp, { mapIterationEventDetails: { name: e.parentState.name, index: e.index } });
        break;
      case "StateEntered":
        push(`${cap(e.state.type)}StateEntered`, e.timestamp, {
          stateEnteredEventDetails: { name: e.state.name, input: JSON.stringify(e.state.input) },
        });
        break;
      case "StateExited":
        push(`${cap(e.state.type)}StateExited`, e.timestamp, {
          stateExitedEventDetails: { name: e.state.name, output: JSON.stringify(e.state.output ?? null) },
        });
        break;
      case "StateFailed":
        push(e.state.type === "Task" ? "TaskFailed" : `${cap(e.state.type)}StateFailed`, e.timestamp, {
          taskFailedEventDetails: { resource: e.state.name, error: e.Error, cause: String(e.Cause) },
        });
        break;
      case "StateRetried":
        push("TaskRetried", e.timestamp, { retryDetails: { name: e.state.name, attempt: e.retry.attempt } });
        break;
      case "StateCaught":
        push("TaskCaught", e.timestamp, { caughtDetails: { name: e.state.name } });
        break;
      default:
        break;
    }
  }
  return { events };
}
