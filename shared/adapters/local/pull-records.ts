/** The local "pull request": one JSON record a branch, read and written atomically. */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ManifestConflictError } from "../../domain/errors.js";
import type { SupersedeInput } from "../../ports/index.js";
import { writeFileAtomic } from "./atomic-file.js";

export interface PullRecord {
  number: number;
  title: string;
  body: string;
  head: string;
  base: string;
  commit: string;
  files: string[];
  url: string;
  state: "open" | "closed";
  createdAt: string;
  updatedAt: string;
  /** Set when a newer release of the same app superseded this one. */
  closedAt?: string;
  closedBy?: { number: number; url: string; head: string };
  comments?: { body: string; createdAt: string }[];
}

export async function writeAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

export async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

/** Creates the branch's record, or updates (reopens) it; a record that would not change is not written. */
export async function upsertPullRecord(
  pullsDir: string,
  p: {
    branch: string;
    base: string;
    title: string;
    body: string;
    commit: string;
    files: string[];
  },
): Promise<PullRecord> {
  await mkdir(pullsDir, { recursive: true, mode: 0o700 });
  const file = join(pullsDir, `${p.branch.replace(/\//g, "__")}.json`);
  const now = new Date().toISOString();
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await readJson<PullRecord>(file);
    if (existing) {
      // A closed (superseded) PR of this branch is reopened: on GitHub a new PR would be opened.
      const { closedAt: _closedAt, closedBy: _closedBy, ...rest } = existing;
      const next: PullRecord = {
        ...(existing.state === "closed" ? { ...rest, state: "open" as const } : existing),
        title: p.title,
        body: p.body,
        base: p.base,
        commit: p.commit,
        files: p.files,
      };
      const same =
        existing.state === next.state &&
        existing.title === next.title &&
        existing.body === next.body &&
        existing.base === next.base &&
        existing.commit === next.commit &&
        JSON.stringify(existing.files) === JSON.stringify(next.files);
      if (!same) {
        next.updatedAt = now;
        await writeAtomic(file, next);
      }
      return same ? existing : next;
    }
    const count = (await readdir(pullsDir)).filter((n) => n.endsWith(".json")).length;
    const record: PullRecord = {
      number: count + 1,
      title: p.title,
      body: p.body,
      head: p.branch,
      base: p.base,
      commit: p.commit,
      files: p.files,
      url: pathToFileURL(file).href,
      state: "open",
      createdAt: now,
      updatedAt: now,
    };
    try {
      await writeFile(file, `${JSON.stringify(record, null, 2)}\n`, { flag: "wx", mode: 0o600 });
      return record;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      // Created concurrently: loop and update it instead.
    }
  }
  throw new ManifestConflictError(`Pull request record ${file} keeps changing`);
}

/** Closes the open release PR records into `base` older than `pull`, each with the comment. */
export async function closeSupersededRecords(
  pullsDir: string,
  s: SupersedeInput,
  pull: PullRecord,
  base: string,
): Promise<{ number: number; url: string; branch: string }[]> {
  const names = (await readdir(pullsDir)).filter((n) => n.endsWith(".json")).sort();
  const closed: { number: number; url: string; branch: string }[] = [];
  const body = s.comment({ number: pull.number, url: pull.url });
  for (const name of names) {
    const file = join(pullsDir, name);
    const record = await readJson<PullRecord>(file);
    if (
      record?.state !== "open" ||
      record.base !== base ||
      record.head === pull.head ||
      !record.head.startsWith(s.branchPrefix) ||
      !s.isOlder(record.head)
    ) {
      continue;
    }
    const now = new Date().toISOString();
    const next: PullRecord = {
      ...record,
      state: "closed",
      closedAt: now,
      updatedAt: now,
      closedBy: { number: pull.number, url: pull.url, head: pull.head },
      comments: [...(record.comments ?? []), { body, createdAt: now }],
    };
    await writeAtomic(file, next);
    closed.push({ number: record.number, url: record.url, branch: record.head });
  }
  return closed;
}
