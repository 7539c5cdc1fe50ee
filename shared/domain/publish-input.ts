import type { PublishInput } from "../ports/index.js";
import { InvalidInputError } from "./errors.js";

/**
 * Refuses a publish both manifest repositories (GitHub and the local git one) would get wrong: one
 * InvalidInputError naming every problem.
 */
export function validatePublishInput(input: PublishInput): void {
  const problems: string[] = [];
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(input.baseCommit))
    problems.push("baseCommit must be a full commit id");
  if (!input.branch || input.branch.replace(/^refs\/heads\//, "") === input.baseBranch) {
    problems.push("branch must be set and differ from baseBranch");
  }
  if (!input.baseBranch) problems.push("baseBranch must be set");
  if (input.files.length === 0) problems.push("files must not be empty");
  const seen = new Set<string>();
  for (const f of input.files) {
    const p = f.path.replace(/^\.\//, "").replace(/^\/+/, "");
    if (seen.has(p)) problems.push(`duplicate path ${f.path}`);
    seen.add(p);
  }
  if (!input.message.trim()) problems.push("message must not be empty");
  if (problems.length > 0)
    throw new InvalidInputError(`Invalid publish input: ${problems.join("; ")}`, problems);
}

/**
 * A manifest path as the local git repository takes it: relative, no empty, `.`, `..` or `.git`
 * segment, no newline and no NUL (the separator of the `-z` git plumbing the local adapter drives).
 */
export function localManifestPath(path: string): string {
  const p = path.replace(/^\.\//, "").replace(/^\/+/, "");
  if (
    !p ||
    p.includes("\n") ||
    p.includes("\0") ||
    p.split("/").some((s) => s === "" || s === "." || s === ".." || s === ".git")
  ) {
    throw new InvalidInputError(`Invalid manifest path: ${JSON.stringify(path)}`);
  }
  return p;
}
