import * as z from "zod";
import { zodProblems } from "../../shared/contracts/zod-problems.js";
import { InvalidInputError } from "../../shared/domain/errors.js";
import type { DevLock } from "../../shared/ports/index.js";

const InputSchema = z.object({
  app: z.string().min(1),
  executionId: z.string().min(1),
});

/**
 * Gives the dev lock back after VerifyDev, whatever its outcome. Releasing a lock this execution no
 * longer holds (its lease ran out and a newer release took it) is not an error: `released: false`.
 * The version stays recorded, so an older release arriving later is still superseded.
 */
export async function releaseDevLock(raw: unknown, deps: { lock: DevLock }): Promise<{ released: boolean }> {
  const parsed = InputSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = zodProblems(parsed.error);
    throw new InvalidInputError(`ReleaseDevLock: ${problems.join("; ")}`, problems);
  }
  return { released: await deps.lock.release(parsed.data.app, parsed.data.executionId) };
}
