import { parseReleaseRequest } from "../../shared/contracts/release.js";
import { attemptOf, ledgerTag, releaseExecutionName } from "../../shared/domain/release-naming.js";
import type { ReleaseLedger, ReleaseStarter } from "../../shared/ports/index.js";

export type StartReleaseResult =
  | { started: true; name: string; executionId: string | null }
  /** An execution of that name exists already (a duplicate delivery, the other trigger). */
  | { started: false; name: string; reason: "execution-exists" }
  /** The ledger holds the release RUNNING or SUCCEEDED: nothing to start. */
  | { started: false; name: null; reason: "already-claimed"; status: string; executionId: string };

/**
 * The one way a release execution is started, whatever asked for it (tag push, ECR push, the
 * reconciler, the CLI): named `<app>-<tag>-<attempt>`, so Step Functions itself refuses a second
 * start of the same attempt (StartExecution with a name already used). The ledger is the guard
 * across attempts: a release it holds RUNNING or SUCCEEDED starts nothing; after a FAILED (or
 * aborted, timed-out) attempt n, the next trigger starts attempt n + 1; ClaimRelease still decides.
 */
export async function startRelease(
  raw: unknown,
  deps: { ledger: Pick<ReleaseLedger, "get">; starter: ReleaseStarter },
): Promise<StartReleaseResult> {
  const request = parseReleaseRequest(raw);
  const held = await deps.ledger.get(request.app, ledgerTag(request));
  if (held && (held.status === "RUNNING" || held.status === "SUCCEEDED"))
    return {
      started: false,
      name: null,
      reason: "already-claimed",
      status: held.status,
      executionId: held.executionId,
    };
  const attempt = held ? (attemptOf(held.executionId) ?? 1) + 1 : 1;
  const name = releaseExecutionName(request, attempt);
  const out = await deps.starter.start(name, request);
  return out.started
    ? { started: true, name, executionId: out.executionId }
    : { started: false, name, reason: "execution-exists" };
}
