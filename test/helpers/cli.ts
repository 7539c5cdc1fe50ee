/** Running `pourover` in tests: the installed bin as a real process, or `main` in this process. */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { vi } from "vitest";
import { main } from "../../local/cli.js";
import { PROJECT_ROOT } from "../../local/paths.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const run = promisify(execFile);
export const BIN = join(PROJECT_ROOT, "local", "bin", "pourover.js");

/** `node local/bin/pourover.js <args>` from the repo root, with `env` over this process's. */
export async function runBin(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      cwd: PROJECT_ROOT,
      timeout: 60_000,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The CLI's `main` in this process, its stdout and stderr captured. */
export async function runMain(args: string[]): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    err.mockRestore();
    out.mockRestore();
  }
}

/** The stderr lines other than the one-line Node notice (printed on Node < 22 only). */
export const stderrLines = (stderr: string): string[] =>
  stderr.split("\n").filter((l) => l !== "" && !l.startsWith("pourover: note: Node "));
