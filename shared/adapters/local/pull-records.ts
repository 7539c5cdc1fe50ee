/** The local "pull request": one JSON record a branch, read and written atomically. */
import { readFile } from "node:fs/promises";
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
