import { createHash } from "node:crypto";
import type { ReleaseRequest } from "../contracts/release.js";

/**
 * Step Functions execution names: 1 to 80 characters, and none of whitespace, `< > { } [ ]`,
 * `? *`, `" # % \ ^ | ~ \` $ & , ; : /` or control characters (StartExecution `name`). Anything
 * else is replaced by `-`; a name over 80 characters keeps its readable start and ends in a hash of
 * the whole, so two long names never collide.
 */
export const MAX_EXECUTION_NAME = 80;
// \p{Cc} is exactly the control characters U+0000-001F and U+007F-009F.
const FORBIDDEN = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\p{Cc}]/gu;

export function executionName(parts: string[]): string {
  const whole = parts.join("-");
  const readable = whole.replace(FORBIDDEN, "-");
  if (readable.length <= MAX_EXECUTION_NAME && readable.length > 0) return readable;
  const hash = createHash("sha256").update(whole).digest("hex").slice(0, 10);
  return `${readable.slice(0, MAX_EXECUTION_NAME - hash.length - 1)}-${hash}`;
}

/** `20261201T120300Z` from an ISO time: a rollback request's own suffix. */
export function compactTime(iso: string): string {
  return iso.replace(/\.\d+Z$/, "Z").replace(/[-:]/g, "");
}

/**
 * The name of a release execution: `<app>-<tag>-<attempt>` (attempt 1, 2, … after a failed one), and
 * `<app>-rollback-<tag>-<time of request>` for a rollback. Whatever started it (tag push, ECR push,
 * reconciler, CLI), the same release gets the same name, and Step Functions starts no second one.
 */
export function releaseExecutionName(
  request: Pick<ReleaseRequest, "app" | "tag" | "rollback">,
  attempt: number,
): string {
  if (request.rollback)
    return executionName([request.app, "rollback", request.tag, compactTime(request.rollback.requestedAt)]);
  return executionName([request.app, request.tag, String(attempt)]);
}

/** The attempt number at the end of an execution ARN or name made by releaseExecutionName; null otherwise. */
export function attemptOf(executionIdOrName: string): number | null {
  const name = executionIdOrName.split(":").pop() ?? "";
  const m = /-(\d{1,4})$/.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * The release ledger's key for a request: `tag` for a release; for a rollback the target tag plus
 * when it was asked for, so a rollback is its own record (the earlier release's stays as it was).
 */
export function ledgerTag(request: Pick<ReleaseRequest, "tag" | "rollback">): string {
  return request.rollback
    ? `${request.tag}~rollback-${compactTime(request.rollback.requestedAt)}`
    : request.tag;
}

/** The target tag of a ledger tag made by ledgerTag, and whether it is a rollback. */
export function parseLedgerTag(tag: string): { tag: string; rollback: boolean } {
  const i = tag.indexOf("~rollback-");
  return i === -1 ? { tag, rollback: false } : { tag: tag.slice(0, i), rollback: true };
}
