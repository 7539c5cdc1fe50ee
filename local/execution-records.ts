import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../shared/adapters/local/atomic-file.js";
import { stateDirLayout } from "../shared/adapters/local/file-stores.js";
import type { EventLog } from "./event-log.js";
import { type ExecutionRecord, toExecutionHistory } from "./history.js";

/** The execution's history; an interrupted one ends with ExecutionAborted, as in Step Functions. */
export function executionHistory(log: EventLog[], abortedCause: string | null): ExecutionRecord["history"] {
  const history = toExecutionHistory(log);
  if (abortedCause !== null && !history.events.some((e) => e.type === "ExecutionAborted")) {
    const last = history.events.length;
    history.events.push({
      id: last + 1,
      previousEventId: last,
      timestamp: new Date().toISOString(),
      type: "ExecutionAborted",
      executionAbortedEventDetails: { error: "ExecutionAborted", cause: abortedCause },
    });
  }
  return history;
}

/**
 * Writes `executions/<name>.json`. Disk full, permissions: the release happened, so the outcome says
 * what is missing rather than being lost.
 */
export async function writeExecutionRecord(stateDir: string, record: ExecutionRecord): Promise<void> {
  const { name, outcome } = record;
  try {
    await writeFileAtomic(
      join(stateDirLayout(stateDir).executions, `${name}.json`),
      `${JSON.stringify(record, null, 2)}\n`,
    );
  } catch (error) {
    const what = `execution record ${name}.json (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
    outcome.notRecorded = [what];
    outcome.notes.push(`NOT RECORDED: ${what}; \`pourover executions\` will not list it`);
  }
}

export async function listExecutions(
  stateDir: string,
  warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<ExecutionRecord[]> {
  const dir = stateDirLayout(stateDir).executions;
  if (!existsSync(dir)) return [];
  const files = (await readdir(dir)).filter((f) => f.endsWith(".json") && !f.startsWith("."));
  const records = await Promise.all(
    files.map(async (f) => {
      try {
        const record = JSON.parse(await readFile(join(dir, f), "utf8")) as ExecutionRecord;
        if (typeof record?.startDate !== "string" || typeof record.outcome?.status !== "string")
          throw new Error("not an execution record");
        return record;
      } catch (error) {
        // A record cut short (a crash, a full disk) must not hide every other execution.
        warn(`pourover: skipped ${join(dir, f)}: unreadable execution record (${(error as Error).message})`);
        return null;
      }
    }),
  );
  return records
    .filter((r): r is ExecutionRecord => r !== null)
    .sort((a, b) => a.startDate.localeCompare(b.startDate));
}
