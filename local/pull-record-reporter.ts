import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DevReport, DevStatus, PullRequestReporter } from "../shared/ports/release-review.js";

/** A commit status as the local PR record keeps it (GitHub's shape: state, description, target_url, context). */
export interface LocalCommitStatus {
  context: string;
  state: DevStatus["state"];
  description: string;
  target_url: string;
  commit: string | null;
  createdAt: string;
}

/**
 * The GitHub write-back stand-in for the dev result and prod feedback: the local PR record (one JSON
 * file per branch in the pulls dir) gets the new body, a `statuses` entry and `comments`.
 */
export class PullRecordReporter implements PullRequestReporter {
  constructor(private readonly pullsDir: string) {}

  private file(branch: string): string {
    return join(this.pullsDir, `${branch.replace(/^refs\/heads\//, "").replace(/\//g, "__")}.json`);
  }

  private async update(branch: string, change: (record: Record<string, unknown>) => void): Promise<void> {
    const file = this.file(branch);
    const record = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
    change(record);
    record.updatedAt = new Date().toISOString();
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
    await rename(tmp, file);
  }

  async reportDev(input: DevReport): Promise<void> {
    await this.update(input.branch, (record) => {
      record.body = input.body;
      const status: LocalCommitStatus = {
        context: "pourover/dev",
        state: input.status.state,
        description: input.status.description,
        target_url: input.status.targetUrl,
        commit: input.commit,
        createdAt: new Date().toISOString(),
      };
      record.statuses = [...((record.statuses as LocalCommitStatus[] | undefined) ?? []), status];
    });
  }

  async comment(input: { number: number | null; branch: string; body: string }): Promise<void> {
    await this.update(input.branch, (record) => {
      const comments = (record.comments as { body: string; createdAt: string }[] | undefined) ?? [];
      record.comments = [...comments, { body: input.body, createdAt: new Date().toISOString() }];
    });
  }
}
