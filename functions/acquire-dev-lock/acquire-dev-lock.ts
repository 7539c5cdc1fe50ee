import * as z from "zod";
import { lazySchema } from "../../shared/contracts/lazy-schema.js";
import { parseInput } from "../../shared/contracts/zod-problems.js";
import { DevLockBusyError } from "../../shared/domain/errors.js";
import { compactTime, parseLedgerTag } from "../../shared/domain/release-naming.js";
import { compareReleaseTags } from "../../shared/domain/release-version.js";
import type { Clock, DevLock } from "../../shared/ports/index.js";

/**
 * What a dev deploy may take beyond the deploy timeout itself: the workflow's wake loop waiting for a
 * stopped host (24 polls, a 15 s Wait before each: 360 s, plus a second or so of EC2/SSM calls per
 * poll, inside the margin), then VerifyDev's delivery window and grace around the execution timeout
 * (120 s + 120 s) before it cancels the command, plus a margin. A holder that never releases (a crashed
 * or stopped execution) blocks the next deploy for at most the deploy timeout plus this.
 */
export const LEASE_MARGIN_SECONDS = 360 + 240 + 660;

const inputSchema = lazySchema(() =>
  z.object({
    app: z.string().min(1),
    tag: z.string().min(1),
    executionId: z.string().min(1),
    force: z.boolean().optional(),
    /** The deploy command's timeout (plan.dev.timeoutSeconds). */
    timeoutSeconds: z.number().int().positive(),
    /** When this release was claimed ($.claim.claimedAt): ordered against a rollback's request time. */
    claimedAt: z.string().optional(),
    /** Set for a rollback (plan.rollback). */
    rollback: z.object({ requestedAt: z.string() }).nullable().optional(),
  }),
);

export type AcquireDevLockInput = z.infer<ReturnType<typeof inputSchema>>;

export type AcquireDevLockResult =
  | { acquired: true; version: string; heldUntil: string }
  | { acquired: false; superseded: true; supersededBy: string };

/**
 * Only one dev deploy per app at a time, and the newest release wins:
 * - a release older than the version that holds or last held the lock is superseded (unless forced):
 *   it must not deploy over a newer one, and it says so;
 * - a lock held by another execution whose lease is still running is "running, retry after"
 *   (DevLockBusyError, retried by the workflow): an older deploy in progress finishes first;
 * - otherwise this execution takes the lock with a conditional write on what it read.
 */
export async function acquireDevLock(
  raw: unknown,
  deps: { lock: DevLock; clock: Clock },
): Promise<AcquireDevLockResult> {
  const input = parseInput(inputSchema(), raw, "AcquireDevLock");
  const now = deps.clock.now();
  const current = await deps.lock.read(input.app);
  if (current) {
    // A rollback holds the lock as `<tag>~rollback-<time of request>`: it is the newest by time of
    // request, not by tag. A release claimed before it (a redelivered or late trigger) never moves
    // dev off it; one claimed after it is ordered by tag against the rollback's target.
    const held = parseLedgerTag(current.version);
    const rolledBackAt = held.rollback
      ? current.version.slice(current.version.indexOf("~rollback-") + 10)
      : null;
    if (
      !input.rollback &&
      rolledBackAt !== null &&
      input.claimedAt !== undefined &&
      compactTime(input.claimedAt) < rolledBackAt
    ) {
      return { acquired: false, superseded: true, supersededBy: `the rollback to ${held.tag}` };
    }
    const order = compareReleaseTags(held.tag, input.tag);
    if (!input.force && order !== null && order > 0) {
      return {
        acquired: false,
        superseded: true,
        supersededBy: held.rollback ? `the rollback to ${held.tag}` : current.version,
      };
    }
    const leaseLive = current.heldUntil === null || Date.parse(current.heldUntil) > now.getTime();
    if (current.holder !== null && current.holder !== input.executionId && leaseLive) {
      throw new DevLockBusyError(
        `the dev deploy of ${input.app} ${current.version} is running (lock held until ${current.heldUntil ?? "released"}): ${input.tag} waits, retry after`,
      );
    }
  }
  const heldUntil = new Date(
    now.getTime() + (input.timeoutSeconds + LEASE_MARGIN_SECONDS) * 1000,
  ).toISOString();
  const written = await deps.lock.write(
    {
      app: input.app,
      version: input.rollback
        ? `${input.tag}~rollback-${compactTime(input.rollback.requestedAt)}`
        : input.tag,
      holder: input.executionId,
      heldUntil,
    },
    current?.rev ?? null,
  );
  if (!written) {
    throw new DevLockBusyError(
      `another release took the dev lock of ${input.app} while ${input.tag} was acquiring it: retry after`,
    );
  }
  return { acquired: true, version: input.tag, heldUntil };
}
