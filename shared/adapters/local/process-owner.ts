import { readFileSync } from "node:fs";
import { hostname } from "node:os";

/**
 * Which process holds a local claim or lock. A pid alone is not enough: after a reboot or a long
 * uptime the pid is reused, so Linux's boot id and the process start time (field 22 of
 * /proc/<pid>/stat, in clock ticks since boot) are kept with it.
 */
export interface ProcessOwner {
  host: string;
  pid: number;
  /** The process start time from /proc, null where /proc is missing (macOS). */
  start: string | null;
  bootId: string | null;
  /** When it took the claim or lock (ISO). */
  since: string;
}

function procStart(pid: number): string | null | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch (error) {
    // No such process (ENOENT) is an answer; no /proc at all is not.
    return (error as NodeJS.ErrnoException).code === "ENOENT" && hasProc() ? undefined : null;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[19] ?? null;
}

let procPresent: boolean | undefined;
function hasProc(): boolean {
  if (procPresent === undefined) {
    try {
      readFileSync("/proc/self/stat");
      procPresent = true;
    } catch {
      procPresent = false;
    }
  }
  return procPresent;
}

function bootId(): string | null {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || null;
  } catch {
    return null;
  }
}

export function currentProcessOwner(now = new Date()): ProcessOwner {
  return {
    host: hostname(),
    pid: process.pid,
    start: procStart(process.pid) ?? null,
    bootId: bootId(),
    since: now.toISOString(),
  };
}

/**
 * Whether the owner process still runs. An owner on another host (a shared state dir) cannot be
 * checked from here and counts as alive: never take over what may still be in use.
 */
export function isOwnerAlive(owner: ProcessOwner): boolean {
  if (owner.host !== hostname()) return true;
  const boot = bootId();
  if (owner.bootId && boot && owner.bootId !== boot) return false;
  const start = procStart(owner.pid);
  if (start === undefined) return false;
  if (start !== null && owner.start !== null) return start === owner.start;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function parseProcessOwner(text: string | null | undefined): ProcessOwner | null {
  if (!text) return null;
  try {
    const o = JSON.parse(text) as Partial<ProcessOwner>;
    if (typeof o.pid !== "number" || typeof o.host !== "string") return null;
    return {
      host: o.host,
      pid: o.pid,
      start: o.start ?? null,
      bootId: o.bootId ?? null,
      since: o.since ?? "",
    };
  } catch {
    return null;
  }
}
