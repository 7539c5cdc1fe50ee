import {
  DescribeExecutionCommand,
  type ExecutionListItem,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  type SFNClient,
} from "@aws-sdk/client-sfn";
import { inheritedEnv } from "../shared/config/local-env.js";
import { executionConsoleUrl } from "../shared/domain/console-url.js";
import { InvalidInputError } from "../shared/domain/errors.js";
import { formatDuration } from "../shared/domain/release-email.js";

/**
 * `pourover status <tag>` against AWS.
 *
 * How the execution is found: the EventBridge target that starts a release cannot name the
 * execution, so names are generated. We list the state machine's executions newest first and match
 * each on its input (`app` and `tag`, the release request every trigger is normalised into), reading
 * it with DescribeExecution. An execution named `<app>-<tag>-…` (the local engine's convention, or a
 * hand-started one) matches on its name without that call. This needs only `states:` read access
 * (no access to the ledger table), and it also finds executions that failed before they could
 * claim the release. Executions that ended as a duplicate delivery (state `Duplicate`) are
 * reported, but the release shown is the newest one that did the work.
 */
export interface StatusOptions {
  stateMachineArn: string;
  app: string;
  tag: string;
  /** How many of the newest executions to look through. @default 200 */
  maxExecutions?: number;
}

export interface StateSpan {
  name: string;
  type: string;
  status: "SUCCEEDED" | "FAILED" | "CAUGHT" | "RUNNING";
  enteredAt: string;
  durationMs: number | null;
  /** Task attempts: more than 1 means the state was retried. */
  attempts: number;
  error?: string;
  cause?: string;
}

export interface ReleaseStatus {
  executionArn: string;
  name: string;
  status: string;
  startDate: string;
  stopDate: string | null;
  durationMs: number | null;
  consoleUrl: string;
  input: unknown;
  states: StateSpan[];
  error?: { error: string; cause: string };
  /** Other executions of the same tag that ended as duplicate deliveries. */
  duplicates: string[];
}

const iso = (d: Date | string | undefined) => (d === undefined ? "" : new Date(d).toISOString());

export async function findReleaseStatus(client: SFNClient, opts: StatusOptions): Promise<ReleaseStatus> {
  const matches = await findExecutions(client, opts);
  if (matches.length === 0) {
    throw new InvalidInputError(
      `no execution of ${opts.app} ${opts.tag} among the newest ${opts.maxExecutions ?? 200} of ${opts.stateMachineArn}`,
    );
  }
  const duplicates: string[] = [];
  let chosen: { item: ExecutionListItem; events: HistoryEvent[] } | null = null;
  for (const item of matches) {
    const events = await history(client, item.executionArn as string);
    const duplicate = events.some(
      (e) => e.type === "SucceedStateEntered" && e.stateEnteredEventDetails?.name === "Duplicate",
    );
    if (duplicate) duplicates.push(item.executionArn as string);
    else if (!chosen) chosen = { item, events };
  }
  // Every execution was a duplicate (the owner is older than the window): show the newest anyway.
  if (!chosen) {
    const item = matches[0] as ExecutionListItem;
    chosen = { item, events: await history(client, item.executionArn as string) };
    duplicates.splice(duplicates.indexOf(item.executionArn as string), 1);
  }
  const { item, events } = chosen;
  const started = events.find((e) => e.type === "ExecutionStarted");
  const failed = events.find(
    (e) => e.type === "ExecutionFailed" || e.type === "ExecutionTimedOut" || e.type === "ExecutionAborted",
  );
  const failure =
    failed?.executionFailedEventDetails ??
    failed?.executionTimedOutEventDetails ??
    failed?.executionAbortedEventDetails;
  const start = item.startDate ? new Date(item.startDate) : null;
  const stop = item.stopDate ? new Date(item.stopDate) : null;
  return {
    executionArn: item.executionArn as string,
    name: item.name ?? "",
    status: item.status ?? "UNKNOWN",
    startDate: iso(item.startDate),
    stopDate: stop ? stop.toISOString() : null,
    durationMs: start && stop ? stop.getTime() - start.getTime() : null,
    consoleUrl: executionConsoleUrl(item.executionArn as string),
    input: parseJson(started?.executionStartedEventDetails?.input),
    states: stateTimeline(events, item.status === "RUNNING"),
    ...(failed ? { error: { error: failure?.error ?? failed.type ?? "", cause: failure?.cause ?? "" } } : {}),
    duplicates,
  };
}

/** Executions of app+tag, newest first. */
async function findExecutions(client: SFNClient, opts: StatusOptions): Promise<ExecutionListItem[]> {
  const max = opts.maxExecutions ?? 200;
  const prefix = `${opts.app}-${opts.tag}-`.replace(/[^A-Za-z0-9._-]/g, "-");
  const found: ExecutionListItem[] = [];
  let seen = 0;
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListExecutionsCommand({
        stateMachineArn: opts.stateMachineArn,
        maxResults: Math.min(100, max - seen),
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    for (const item of page.executions ?? []) {
      seen++;
      if (item.name?.startsWith(prefix)) {
        found.push(item);
        continue;
      }
      const described = await client.send(new DescribeExecutionCommand({ executionArn: item.executionArn }));
      const input = parseJson(described.input) as { app?: unknown; tag?: unknown } | null;
      if (input?.app === opts.app && input?.tag === opts.tag) found.push(item);
    }
    nextToken = page.nextToken;
  } while (nextToken && seen < max);
  return found.sort((a, b) => new Date(b.startDate ?? 0).getTime() - new Date(a.startDate ?? 0).getTime());
}

async function history(client: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new GetExecutionHistoryCommand({
        executionArn,
        maxResults: 1000,
        includeExecutionData: true,
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

const SCHEDULED = /^(LambdaFunctionScheduled|TaskScheduled|ActivityScheduled)$/;
const SUCCEEDED = /^(LambdaFunctionSucceeded|TaskSucceeded|ActivitySucceeded)$/;
const FAILED = /(Failed|TimedOut)$/;

/**
 * Per state entry: when it started, how long it took, how many attempts, how it ended. Events of
 * one state are chained by `previousEventId`; each entry owns the events that chain back to it.
 */
export function stateTimeline(events: HistoryEvent[], running = false): StateSpan[] {
  const spans: (StateSpan & { entered: number })[] = [];
  const owner = new Map<number, number>();
  const details = (e: HistoryEvent) =>
    Object.entries(e).find(([k]) => k.endsWith("EventDetails"))?.[1] as
      | { error?: string; cause?: string; name?: string }
      | undefined;
  for (const e of events) {
    const id = e.id ?? 0;
    const type = e.type ?? "";
    const time = new Date(e.timestamp ?? 0).getTime();
    if (type.endsWith("StateEntered")) {
      spans.push({
        name: e.stateEnteredEventDetails?.name ?? "",
        type: type.replace(/StateEntered$/, ""),
        status: "RUNNING",
        enteredAt: iso(e.timestamp),
        durationMs: null,
        attempts: 0,
        entered: time,
      });
      owner.set(id, spans.length - 1);
      continue;
    }
    if (type.endsWith("StateExited")) {
      const name = e.stateExitedEventDetails?.name;
      let index = owner.get(e.previousEventId ?? -1);
      if (index === undefined || spans[index]?.name !== name)
        index = spans.findLastIndex((s) => s.name === name && s.durationMs === null);
      const span = spans[index];
      if (!span) continue;
      span.durationMs = time - span.entered;
      span.status = span.status === "FAILED" ? "CAUGHT" : "SUCCEEDED";
      continue;
    }
    const index = owner.get(e.previousEventId ?? -1);
    if (index === undefined) continue;
    owner.set(id, index);
    const span = spans[index] as StateSpan & { entered: number };
    if (SCHEDULED.test(type)) span.attempts++;
    else if (SUCCEEDED.test(type)) span.status = "RUNNING";
    else if (FAILED.test(type) && !type.startsWith("Execution") && !type.startsWith("MapIteration")) {
      const d = details(e);
      span.status = "FAILED";
      span.error = d?.error ?? type;
      span.cause = (d?.cause ?? "").slice(0, 500);
    }
  }
  return spans.map(({ entered: _entered, ...span }) => ({
    ...span,
    // A state never exited is still running, or is where an uncaught failure ended the execution.
    status:
      span.durationMs === null
        ? span.status === "FAILED"
          ? "FAILED"
          : running
            ? "RUNNING"
            : "FAILED"
        : span.status,
  }));
}

/** The timeline for a terminal. */
export function formatStatus(s: ReleaseStatus): string {
  const start = Date.parse(s.startDate);
  const lines = [
    `${s.name}  ${s.status}  started ${s.startDate}${s.durationMs !== null ? `, took ${formatDuration(s.durationMs)}` : ""}`,
    `  console: ${s.consoleUrl}`,
    ...(s.error ? [`  error: ${s.error.error}: ${s.error.cause}`] : []),
    "",
    `  ${"AT".padEnd(9)}${"STATUS".padEnd(10)}${"STATE".padEnd(24)}DURATION`,
    ...s.states.map((st) => {
      const at = `+${((Date.parse(st.enteredAt) - start) / 1000).toFixed(1)}s`;
      const retries = st.attempts > 1 ? `, ${st.attempts} attempts` : "";
      const err = st.error ? `  ${st.error}` : "";
      return `  ${at.padEnd(9)}${st.status.padEnd(10)}${st.name.padEnd(24)}${st.durationMs === null ? "-" : `${st.durationMs} ms`}${retries}${err}`;
    }),
    ...(s.duplicates.length
      ? [
          "",
          `  ${s.duplicates.length} duplicate deliver${s.duplicates.length === 1 ? "y" : "ies"} ended as Duplicate: ${s.duplicates.join(", ")}`,
        ]
      : []),
  ];
  return `${lines.join("\n")}\n`;
}

function parseJson(text: string | undefined): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** The CLI entry: the state machine ARN from the flag or POUROVER_STATE_MACHINE_ARN, region from it. */
export async function statusCommand(
  positionals: string[],
  flags: { app?: string; region?: string; "state-machine-arn"?: string; json?: boolean },
  deps: { client?: SFNClient; write?: (text: string) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<number> {
  const tag = positionals[0];
  if (!tag) throw new InvalidInputError("status needs a tag, e.g. pourover status v1.4.0");
  const env = deps.env ?? inheritedEnv();
  const arn = flags["state-machine-arn"] ?? env.POUROVER_STATE_MACHINE_ARN;
  if (!arn) {
    throw new InvalidInputError(
      "status needs --state-machine-arn <arn> (or POUROVER_STATE_MACHINE_ARN): the stack output StateMachineArn, e.g. aws cloudformation describe-stacks --stack-name Pourover-<app> --query \"Stacks[0].Outputs[?OutputKey=='StateMachineArn'].OutputValue\" --output text",
    );
  }
  if (!/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]+$/.test(arn))
    throw new InvalidInputError(`--state-machine-arn: "${arn}" is not a Step Functions state machine ARN`);
  const region = flags.region ?? arn.split(":")[3];
  const client = deps.client ?? new (await import("@aws-sdk/client-sfn")).SFNClient(region ? { region } : {});
  let status: ReleaseStatus;
  try {
    status = await findReleaseStatus(client, { stateMachineArn: arn, app: flags.app ?? "coffeeshop", tag });
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    // Credentials, access and network problems: one line, no stack.
    const e = error as Error;
    process.stderr.write(`pourover: status: Step Functions said ${e.name}: ${e.message.split("\n")[0]}\n`);
    return 1;
  }
  const write = deps.write ?? ((text: string) => process.stdout.write(text));
  write(flags.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
  return status.status === "FAILED" || status.status === "TIMED_OUT" || status.status === "ABORTED" ? 1 : 0;
}
