import * as z from "zod";
import { lazySchema } from "../../shared/contracts/lazy-schema.js";
import { parseReleaseRequest } from "../../shared/contracts/release.js";
import { parseInput } from "../../shared/contracts/zod-problems.js";
import { ledgerTag } from "../../shared/domain/release-naming.js";
import type { Clock, ReleaseLedger } from "../../shared/ports/index.js";

const inputSchema = lazySchema(() =>
  z.object({
    /** The execution's input, parsed as a release request below. */
    request: z.unknown(),
    executionId: z.string(),
  }),
);

export type ClaimReleaseInput = z.infer<ReturnType<typeof inputSchema>>;

/**
 * Claims `app#tag` for this execution. A second claim throws ReleaseAlreadyClaimedError, which the
 * workflow turns into a DUPLICATE end with no side effect.
 */
export async function claimRelease(
  raw: unknown,
  deps: { ledger: ReleaseLedger; clock: Clock },
): Promise<{ claimedAt: string }> {
  const input = parseInput(inputSchema(), raw, "ClaimRelease");
  const request = parseReleaseRequest(input.request);
  const claimedAt = deps.clock.now().toISOString();
  await deps.ledger.claim({
    app: request.app,
    // A rollback is its own record: the release it goes back to keeps its own.
    tag: ledgerTag(request),
    executionId: input.executionId,
    claimedAt,
    trigger: request.trigger,
  });
  return { claimedAt };
}
