import * as z from "zod";
import { lazySchema } from "../../shared/contracts/lazy-schema.js";
import { describeError } from "../../shared/contracts/release-state.js";
import { releaseStateField } from "../../shared/contracts/release-state-field.js";
import { parseInput } from "../../shared/contracts/zod-problems.js";
import { notifyOutcomeOf } from "../../shared/domain/release-email.js";
import { ledgerTag } from "../../shared/domain/release-naming.js";
import type { Clock, EventPublisher, ReleaseLedger } from "../../shared/ports/index.js";

const inputSchema = lazySchema(() =>
  z.object({
    release: releaseStateField(),
    executionId: z.string(),
  }),
);

export interface RecordOutcomeResult {
  status: "SUCCEEDED" | "FAILED";
  finishedAt: string;
}

/**
 * Writes the final status to the ledger and publishes `Release Succeeded` / `Release Failed`. The
 * status follows from the state: any caught error means FAILED. An email failure does not.
 */
export async function recordOutcome(
  raw: unknown,
  deps: { ledger: ReleaseLedger; events: EventPublisher; clock: Clock },
): Promise<RecordOutcomeResult> {
  const input = parseInput(inputSchema(), raw, "RecordOutcome");
  const release = input.release;
  const status = release.error ? "FAILED" : "SUCCEEDED";
  const finishedAt = deps.clock.now().toISOString();
  const error = release.error ? describeError(release.error) : undefined;
  const claimedAt = release.claim?.claimedAt ?? null;
  const summary = {
    outcome: notifyOutcomeOf(status, release),
    trigger: release.trigger ?? null,
    claimedAt,
    // Tag to dev as this pipeline sees it: from the claim to the recorded outcome.
    leadTimeMs: claimedAt ? Date.parse(finishedAt) - Date.parse(claimedAt) : null,
    images: release.gate?.images ?? [],
    scans: (release.scans ?? []).map((s) => ({
      service: s.service,
      verdict: s.verdict,
      counts: s.counts,
      digest: s.image.digest ?? null,
      report: s.report,
      scannedBy: s.scannedBy,
    })),
    pullRequest: release.pullRequest
      ? {
          branch: release.pullRequest.branch,
          url: release.pullRequest.url,
          commit: release.pullRequest.commit,
        }
      : null,
    deploy: release.deploy?.result ?? null,
    rollback: release.rollback
      ? { to: release.tag, from: release.rollback.from, requestedAt: release.rollback.requestedAt }
      : null,
    rejected: (release.scans ?? [])
      .filter((s) => s.verdict === "REJECTED")
      .map((s) => ({ service: s.service, ids: s.blockingIds })),
    error: error ?? null,
    notified: !release.notificationError,
    notificationError: release.notificationError ? describeError(release.notificationError).message : null,
  };
  await deps.ledger.record({
    app: release.app,
    tag: ledgerTag(release),
    executionId: input.executionId,
    status,
    finishedAt,
    summary,
  });
  await deps.events.publish({
    source: "pourover.pipeline",
    detailType: status === "SUCCEEDED" ? "Release Succeeded" : "Release Failed",
    detail: {
      app: release.app,
      tag: release.tag,
      executionId: input.executionId,
      ...summary,
      // Epoch milliseconds for consumers that cannot parse ISO dates (an EventBridge input
      // transformer feeding Datadog's DORA deployment API). No claim: the release started and
      // ended at the recorded outcome.
      startedAtEpochMs: Date.parse(claimedAt ?? finishedAt),
      finishedAtEpochMs: Date.parse(finishedAt),
    },
  });
  return { status, finishedAt };
}
