import { join } from "node:path";
import { localSettings } from "../shared/config/local-env.js";
import { InvalidInputError } from "../shared/domain/errors.js";
import { EnvironmentError, type Flags, UsageError } from "./cli-args.js";
import { stateDirOf } from "./cli-checks.js";
import type { EventLog } from "./event-log.js";
import type { ReleaseOutcome } from "./runtime.js";
import { PortBusyError } from "./serve.js";

export function progressPrinter(write: (line: string) => void): (event: EventLog) => void {
  return (event) => {
    if (
      event.type !== "StateExited" &&
      event.type !== "StateFailed" &&
      event.type !== "StateCaught" &&
      event.type !== "StateRetried"
    )
      return;
    if (!("state" in event)) return;
    const input = event.state.input as { service?: { name?: string } } | null;
    const label = `${event.state.name}${input?.service?.name ? ` [${input.service.name}]` : ""}`;
    const marks: Record<string, string> = {
      StateExited: "✓",
      StateFailed: "✗",
      StateCaught: "↪",
      StateRetried: "↻",
    };
    const mark = marks[event.type];
    const note =
      event.type === "StateFailed"
        ? ` ${event.Error}`
        : event.type === "StateRetried"
          ? ` retry ${event.retry.attempt}`
          : "";
    write(`  ${mark} ${label}${note}`);
  };
}

export function printOutcome(o: ReleaseOutcome, stateDir: string): void {
  const lines = [
    "",
    `${o.status}  ${o.tag}  ${o.transitions} transitions  ${o.durationMs} ms`,
    ...(o.error ? [`  error: ${o.error.error}: ${o.error.cause}`] : []),
    ...(o.pullRequest
      ? [
          `  pull request: ${o.pullRequest.branch} @ ${o.pullRequest.commit?.slice(0, 12) ?? "(no commit)"}${o.pullRequest.unchanged ? " (unchanged)" : ""}`,
          ...o.pullRequest.changedFiles.map((f) => `    ${f}`),
        ]
      : []),
    ...o.emails.map((e) => `  email: ${e}`),
    ...(o.notes ?? []).map((n) => `  ${n}`),
    `  inspect: pourover show ${o.executionId.split(":").pop()} --state-dir ${stateDir}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

export const say = (line: string) => process.stderr.write(`pourover: ${line}\n`);

/** The SDK's own Node-version warning is nine lines on every command; ours is one, once. */
export let nodeNoticeShown = false;
export function nodeNotice(): void {
  const major = Number(process.versions.node.split(".")[0]);
  if (major >= 22 || nodeNoticeShown || localSettings().noNodeNotice) return;
  nodeNoticeShown = true;
  say(
    `note: Node ${process.version} still works, but Pourover supports Node 22 and 24 (24 is the Lambda runtime; AWS SDK releases after early January 2027 need Node 22)`,
  );
}

export function describeFailure(
  error: unknown,
  command: string,
  flags: Partial<Flags>,
): { line: string; code: number } {
  if (error instanceof UsageError || error instanceof InvalidInputError || error instanceof PortBusyError)
    return { line: error.message.split("\n").join("\npourover: "), code: 2 };
  if (error instanceof EnvironmentError) return { line: error.message, code: 1 };
  const e = error as NodeJS.ErrnoException & { code?: string };
  const stateDir = stateDirOf(flags as Flags);
  const ledger = join(stateDir, "ledger.sqlite");
  const code = typeof e?.code === "string" ? e.code : "";
  if (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT"))
    return {
      line: `the ledger ${ledger} is corrupt or not a SQLite database (${code}); move it aside (mv ${ledger} ${ledger}.broken) and run again to start a fresh ledger`,
      code: 1,
    };
  if (code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_CANTOPEN"))
    return { line: `cannot write the ledger ${ledger} (${code}): give a writable --state-dir`, code: 1 };
  if (code === "SQLITE_FULL")
    return { line: `no space left on the disk of ${ledger} (SQLITE_FULL)`, code: 1 };
  if (code.startsWith("SQLITE_IOERR"))
    return { line: `the disk failed under ${ledger} (${code}): free space or check the disk`, code: 1 };
  const where = typeof e?.path === "string" ? e.path : stateDir;
  const errno: Record<string, string> = {
    ENOSPC: `no space left on the device holding the state dir ${stateDir} (ENOSPC); free some space or give another --state-dir`,
    EDQUOT: `disk quota exceeded under the state dir ${stateDir} (EDQUOT)`,
    EACCES: `permission denied on ${where} (EACCES): give a --state-dir this user can write`,
    EPERM: `operation not permitted on ${where} (EPERM): give a --state-dir this user can write`,
    EROFS: `${where} is on a read-only file system (EROFS): give a writable --state-dir`,
    ENOTDIR: `${where}: a path component is a file, not a directory (ENOTDIR)`,
    EMFILE: "too many open files (EMFILE): raise the limit (ulimit -n) or run fewer pourovers at once",
    EADDRINUSE: `the port is already in use (EADDRINUSE)`,
  };
  const known = errno[code];
  if (known) return { line: known, code: 1 };
  const message = e instanceof Error ? `${e.name}: ${e.message.split("\n")[0]}` : String(error);
  return {
    line: `${command} failed: ${message} (POUROVER_DEBUG=1 shows the stack)${localSettings().debug ? `\n${(e as Error)?.stack}` : ""}`,
    code: 1,
  };
}
