/** Runs the git CLI for the local adapters: no inherited repository, a fixed identity, no prompts. */
import { spawn } from "node:child_process";
import { inheritedEnv } from "../../config/local-env.js";
import { ManifestInvalidError } from "../../domain/errors.js";

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
  raw: Buffer;
}

const IDENTITY = {
  GIT_AUTHOR_NAME: "Pourover",
  GIT_AUTHOR_EMAIL: "pourover@localhost",
  GIT_COMMITTER_NAME: "Pourover",
  GIT_COMMITTER_EMAIL: "pourover@localhost",
};

export function runGit(
  cwd: string,
  args: string[],
  options: { input?: string; env?: Record<string, string>; allowFail?: boolean } = {},
): Promise<GitResult> {
  const env = inheritedEnv();
  // Never let an inherited repository or index (e.g. from a git hook) redirect our commands.
  for (const key of ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_PREFIX"])
    delete env[key];
  Object.assign(env, IDENTITY, { GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" }, options.env);
  return new Promise((resolvePromise, reject) => {
    const child = spawn("git", args, { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    child.on("close", (code) => {
      const raw = Buffer.concat(out);
      const result = {
        code: code ?? 1,
        raw,
        stdout: raw.toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      };
      if (result.code !== 0 && !options.allowFail) {
        reject(
          new ManifestInvalidError(
            `git ${args[0]} failed in ${cwd}: ${result.stderr.trim() || `exit ${result.code}`}`,
          ),
        );
        return;
      }
      resolvePromise(result);
    });
    child.stdin.on("error", () => {}); // git may exit before reading everything; the exit code tells
    child.stdin.end(options.input ?? "");
  });
}
