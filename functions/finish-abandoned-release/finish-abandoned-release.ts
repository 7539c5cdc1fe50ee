import * as z from "zod";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import { lazySchema } from "../../shared/contracts/lazy-schema.js";
import { parseReleaseRequest, type ReleaseRequest } from "../../shared/contracts/release.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import { parseInput } from "../../shared/contracts/zod-problems.js";
import { InvalidInputError } from "../../shared/domain/errors.js";
import { ledgerTag } from "../../shared/domain/release-naming.js";
import type {
  AbandonedReleaseLedger,
  Clock,
  DevLock,
  Mailer,
  ReleaseLedger,
} from "../../shared/ports/index.js";
import { sendNotification } from "../send-notification/send-notification.js";

/**
 * The EventBridge event Step Functions sends on the default bus when an execution changes status
 * ("Step Functions Execution Status Change", source aws.states). Its detail carries what
 * DescribeExecution returns; `input` is the execution input as a JSON string, left out (null, with
 * inputDetails.included false) when input plus output exceed the event size limit.
 */
const statusChangeSchema = lazySchema(() =>
  z.object({
    source: z.literal("aws.states"),
    "detail-type": z.literal("Step Functions Execution Status Change"),
    detail: z.object({
      executionArn: z.string().min(1),
      stateMachineArn: z.string().min(1),
      name: z.string().optional(),
      status: z.enum(["ABORTED", "TIMED_OUT", "FAILED"]),
      startDate: z.number().optional(),
      stopDate: z.number().nullable().optional(),
      input: z.string().nullable().optional(),
      error: z.string().nullable().optional(),
      cause: z.string().nullable().optional(),
    }),
  }),
);

export type ExecutionStatusChange = z.infer<ReturnType<typeof statusChangeSchema>>;

export type FinishAbandonedResult =
  | { finished: true; app: string; tag: string; status: string; lockFreed: boolean; emailed: boolean }
  | {
      finished: false;
      reason: "not-this-app" | "not-claimed-by-this-execution" | "outcome-already-recorded";
      lockFreed: boolean;
      emailed: boolean;
    };

const ERROR_NAMES = { ABORTED: "ExecutionAborted", TIMED_OUT: "ExecutionTimedOut" } as const;

/**
 * An execution of the release state machine that ended ABORTED, TIMED_OUT or FAILED outside its
 * own Catch never reaches RecordOutcome: its claim and dev lock would stay held and nobody would
 * hear of it. This records its outcome, gives back the claim and the dev lock (each only if this
 * execution holds it), and sends the failure email once. A FAILED execution that already went
 * through RecordOutcome (the normal failure path ends in a Fail state) changes nothing and is not
 * emailed again; a redelivered event finds the email marked and sends nothing.
 */
export async function finishAbandonedRelease(
  raw: unknown,
  deps: {
    config: AppConfig;
    ledger: ReleaseLedger & AbandonedReleaseLedger;
    lock: DevLock;
    mailer: Mailer;
    executionUrl: (executionId: string) => string;
    clock: Clock;
  },
): Promise<FinishAbandonedResult> {
  const { detail } = parseInput(statusChangeSchema(), raw, "FinishAbandonedRelease");
  const request = requestOf(detail);
  if (!request || request.app !== deps.config.app)
    return { finished: false, reason: "not-this-app", lockFreed: false, emailed: false };
  const { app } = request;
  // The ledger's key: a rollback's own record, not the release it went back to.
  const tag = ledgerTag(request);
  const executionId = detail.executionArn;

  // The lock first: whatever the ledger says, an ended execution deploys nothing any more.
  const lockFreed = await deps.lock.release(app, executionId);
  const errorName =
    detail.status === "FAILED" ? (detail.error ?? "ExecutionFailed") : ERROR_NAMES[detail.status];
  const cause =
    detail.cause ??
    (detail.status === "ABORTED"
      ? "the execution was stopped before it finished"
      : detail.status === "TIMED_OUT"
        ? "the execution ran past the state machine's TimeoutSeconds"
        : "the execution failed outside the workflow's error handling");
  const finishedAt = new Date(detail.stopDate ?? deps.clock.now().getTime()).toISOString();
  await deps.ledger.finishAbandoned({
    app,
    tag,
    executionId,
    status: detail.status,
    finishedAt,
    summary: {
      abandoned: true,
      outcome: "failed",
      trigger: request.trigger,
      error: { name: errorName, message: cause },
      deploy: null,
      notified: false,
    },
  });
  // Read back rather than trust the write: a retry of this event finds its own earlier write.
  const record = await deps.ledger.get(app, tag);
  if (!record || record.executionId !== executionId)
    return { finished: false, reason: "not-claimed-by-this-execution", lockFreed, emailed: false };
  if (record.summary?.abandoned !== true)
    return { finished: false, reason: "outcome-already-recorded", lockFreed, emailed: false };

  let emailed = false;
  if (await deps.ledger.markAbandonNotice(app, tag, executionId, deps.clock.now().toISOString())) {
    const release: ReleaseState = {
      ...request,
      claim: { claimedAt: record.claimedAt },
      error: { Error: errorName, Cause: cause },
    };
    try {
      await sendNotification(
        { outcome: "FAILED", release, executionId },
        { config: deps.config, mailer: deps.mailer, executionUrl: deps.executionUrl, clock: deps.clock },
      );
      emailed = true;
    } catch (error) {
      // Unmarked so that the retried event sends it; the claim and the lock are already given back.
      await deps.ledger.clearAbandonNotice(app, tag, executionId);
      throw error;
    }
  }
  return { finished: true, app, tag, status: detail.status, lockFreed, emailed };
}

function requestOf(detail: ExecutionStatusChange["detail"]): ReleaseRequest | null {
  if (detail.input === null || detail.input === undefined)
    throw new InvalidInputError(
      `FinishAbandonedRelease: ${detail.executionArn}: the event carries no execution input (too large for the event?); its app and tag are unknown`,
    );
  try {
    return parseReleaseRequest(JSON.parse(detail.input));
  } catch {
    // Not a release request (a hand-started execution with other input): not ours to close.
    return null;
  }
}
