import type { StateMachine } from "aws-local-stepfunctions";

/** The engine's execution event (its package does not export the type by name). */
export type EventLog =
  ReturnType<StateMachine["run"]>["eventLogs"] extends AsyncGenerator<infer T> ? T : never;
