import { currentProcessOwner, isOwnerAlive } from "../shared/adapters/local/process-owner.js";
import type { SqliteLedger } from "../shared/adapters/local/sqlite-ledger.js";
import type { DevLock } from "../shared/ports/index.js";
import { workflowTimeoutSeconds } from "./state-machine-definition.js";

/** What giving back a claim and its dev lock takes. */
interface Holders {
  ledger: SqliteLedger;
  devLock: DevLock;
}

/**
 * Releases left RUNNING by a process that no longer exists (kill -9, a crash, a reboot): their
 * dev lock and claim are given back, one line each says so, and the tag may be released again.
 */
export async function recoverAbandonedRuns(
  holders: Holders,
  opts: { region: string; log: (line: string) => void },
): Promise<string[]> {
  const lines: string[] = [];
  // A claim that kept no owner (an older Pourover) is dead once older than the workflow's own limit.
  const timeoutSeconds = workflowTimeoutSeconds(opts.region);
  const ownerlessBefore = new Date(Date.now() - timeoutSeconds * 1000);
  for (const run of holders.ledger.abandonedRuns(isOwnerAlive, ownerlessBefore)) {
    const why = run.owner
      ? `its process (pid ${run.owner.pid}, since ${run.owner.since}) ended without finishing the release`
      : `claimed ${run.claimedAt} by a process not recorded, longer ago than the workflow's TimeoutSeconds (${timeoutSeconds} s)`;
    const freed = await freeExecution(holders, {
      app: run.app,
      tag: run.tag,
      executionId: run.executionId,
      error: "ExecutionAbandoned",
      message: why,
    });
    if (!freed.claim) continue;
    const execution = run.executionId.split(":").pop();
    const line = run.owner
      ? `pourover: recovered ${run.app} ${run.tag}: its release (execution ${execution}, pid ${run.owner.pid}) was interrupted and that process is gone; claim freed${freed.lock ? ", dev lock freed" : ""}; it may be released again`
      : `pourover: recovered ${run.app} ${run.tag}: its release (execution ${execution}, claimed ${run.claimedAt}) never finished and is past the ${timeoutSeconds} s limit; claim freed${freed.lock ? ", dev lock freed" : ""}; it may be released again`;
    lines.push(line);
    opts.log(line);
  }
  return lines;
}

/** Whether `app#tag` is claimed by `executionId` from this very process (pid and start time). */
export function ownsClaim(ledger: SqliteLedger, app: string, tag: string, executionId: string): boolean {
  const owner = ledger.ownerOf(app, tag);
  const me = currentProcessOwner();
  return (
    owner !== null &&
    owner.pid === me.pid &&
    owner.start === me.start &&
    owner.host === me.host &&
    ledger.executionOf(app, tag) === executionId
  );
}

/**
 * Gives back the dev lock and the claim of an execution that will not finish (ABORTED); each only
 * if it holds it.
 */
export async function freeExecution(
  holders: Holders,
  run: { app: string; tag: string; executionId: string; error: string; message: string },
): Promise<{ claim: boolean; lock: boolean }> {
  const { app, tag, executionId, error, message } = run;
  const lock = await holders.devLock.release(app, executionId).catch(() => false);
  const claim = await holders.ledger.finishAbandoned({
    app,
    tag,
    executionId,
    status: "ABORTED",
    finishedAt: new Date().toISOString(),
    summary: { abandoned: true, error: { name: error, message }, deploy: null, notified: false },
  });
  return { claim, lock };
}
