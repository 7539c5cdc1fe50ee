import { parseReleaseRequest } from "../../shared/contracts/release.js";
import { ledgerTag } from "../../shared/domain/release-naming.js";
import type { Clock, ReleaseLedger } from "../../shared/ports/index.js";

export interface ClaimReleaseInput {
  request: unknown;
  executionId: string;
}

/**
 * Claims `app#tag` for this execution. A second claim throws ReleaseAlreadyClaimedError, which the
 * workflow turns into a DUPLICATE end with no side effect.
 */
export async function claimRelease(
  input: ClaimReleaseInput,
  deps: { ledger: ReleaseLedger; clock: Clock },
): Promise<{ claimedAt: string }> {
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
