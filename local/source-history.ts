import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Changelog } from "../shared/domain/pull-request-body.js";
import type { SourceHistory } from "../shared/ports/release-review.js";

const run = promisify(execFile);

/** The changelog from a local checkout of the app's source (`--source`): `git log base..head`. */
export class GitSourceHistory implements SourceHistory {
  constructor(private readonly checkout: string) {}

  async changelog(base: string, head: string, limit: number): Promise<Changelog> {
    try {
      const git = (args: string[]) => run("git", ["-C", this.checkout, ...args], { maxBuffer: 8 << 20 });
      const range = `${base}..${head}`;
      const count = Number((await git(["rev-list", "--count", range])).stdout.trim());
      const log = await git(["log", "--reverse", `--max-count=${limit}`, "--format=%H%x09%an%x09%s", range]);
      const commits = log.stdout
        .split("\n")
        .filter(Boolean)
        .map((line) => {
          const [sha = "", author = "", ...title] = line.split("\t");
          return { sha, author, title: title.join("\t").slice(0, 120) };
        });
      return { available: true, base, head, commits, total: count, url: null };
    } catch (error) {
      const message = ((error as { stderr?: string }).stderr || (error as Error).message).split("\n")[0];
      return { available: false, reason: `git log ${base}..${head} in ${this.checkout} failed: ${message}` };
    }
  }
}
