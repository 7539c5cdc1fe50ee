import type { AppConfig } from "../../shared/contracts/app-config.js";
import { DIGEST_PATTERN, parseReleaseRequest, parseVersion } from "../../shared/contracts/release.js";
import { parseLedgerTag, releaseExecutionName } from "../../shared/domain/release-naming.js";
import { APP_DIMENSION, METRIC_NAMES } from "../../shared/observability/metric-names.js";
import type { ReleaseMetric } from "../../shared/observability/release-metrics.js";
import type {
  Clock,
  ImageLister,
  LedgerRecord,
  ReleaseLedger,
  ReleaseStarter,
} from "../../shared/ports/index.js";

export type ReconcileConfig = Pick<AppConfig, "app" | "services" | "tagPolicy">;

export interface ReconcileOptions {
  /** Images pushed within this many hours are looked at. */
  lookbackHours: number;
  /**
   * A tag whose first image is younger than this is left alone: its own ECR event may still be on
   * its way (EventBridge retries for up to two hours, but delivers within seconds when healthy).
   */
  settleMinutes: number;
  /** At most this many releases are started per run; the rest wait for the next run. */
  maxStarts: number;
}

export interface ReconcileDeps {
  images: ImageLister;
  /** `latestSucceeded`: what dev runs now (both ledgers have it); a rollback there holds lost tags. */
  ledger: Pick<ReleaseLedger, "get"> & { latestSucceeded?(app: string): Promise<LedgerRecord | null> };
  starter: ReleaseStarter;
  clock: Clock;
}

export interface StartedRelease {
  tag: string;
  executionName: string;
  executionId: string | null;
  repository: string;
  digest: string;
}

export interface ReconcileResult {
  app: string;
  window: { since: string; settledBefore: string };
  repositories: number;
  /** Release tags (per the tag policy) with at least one image in the window. */
  tagsSeen: number;
  /** Tags the ledger already holds, whatever their status. */
  alreadyClaimed: number;
  /** Tags seen in the window, settled, and never claimed: their trigger event was lost. */
  lostEventsFound: number;
  started: StartedRelease[];
  /** An execution of that name already existed (an earlier run started it; it has not claimed yet). */
  alreadyStarted: string[];
  /**
   * Lost tags pushed before the rollback dev runs now was asked for: late triggers, never started, so
   * a rollback sticks (a person releases one by hand if it is wanted).
   */
  heldByRollback: string[];
  /** Lost but over `maxStarts`: the next run starts them. */
  deferred: string[];
  /** Repositories or tags that could not be checked or started; the rest of the run went on. */
  failures: { repository?: string; tag?: string; error: string }[];
}

/**
 * The execution name the reconciler gives `app#tag`: the name every trigger gives the first attempt
 * of that release (`<app>-<tag>-1`; the reconciler only starts tags the ledger has never seen), so a
 * late ECR event, a second run or an overlapping invocation cannot start a second execution.
 */
export function reconcileExecutionName(app: string, tag: string): string {
  return releaseExecutionName({ app, tag }, 1);
}

/** Whether the release pipeline would act on this tag at all (the webhook's and the CLI's policy). */
function isReleaseTag(tag: string, allowPrerelease: boolean): boolean {
  const version = parseVersion(tag);
  return version !== null && (version.pre === "" || allowPrerelease);
}

interface TagCandidate {
  tag: string;
  /** The earliest push of any image of the tag: how long its events have had to arrive. */
  firstPushedAt: Date;
  /** The image the release request names: the first configured service that has one. */
  image: { repository: string; digest: string; serviceIndex: number };
}

/**
 * The safety net for lost trigger events: lists recent `v` images of the app's repositories and
 * starts a release (an ECR-shaped request, as the ECR rule would) for every settled tag the ledger
 * has never seen. ClaimRelease still decides: a start that races a late event ends DUPLICATE.
 */
export async function reconcileReleases(
  config: ReconcileConfig,
  options: ReconcileOptions,
  deps: ReconcileDeps,
): Promise<ReconcileResult> {
  const now = deps.clock.now().getTime();
  const since = new Date(now - options.lookbackHours * 3_600_000);
  const settledBefore = new Date(now - options.settleMinutes * 60_000);
  const repositories = [...new Set(config.services.map((s) => s.repository))];
  const failures: ReconcileResult["failures"] = [];

  const candidates = await collectCandidates(config, repositories, since, deps, failures);

  const settled = [...candidates.values()]
    .filter((c) => c.firstPushedAt.getTime() <= settledBefore.getTime())
    // Oldest first, so releases start in the order their images were pushed.
    .sort((a, b) => a.firstPushedAt.getTime() - b.firstPushedAt.getTime() || a.tag.localeCompare(b.tag));

  const { alreadyClaimed, lost } = await splitClaimed(config.app, settled, deps, failures);

  const { heldByRollback, unchecked } = await holdForRollback(config.app, lost, deps, failures);

  const { started, alreadyStarted } = await startLost(
    config.app,
    lost.slice(0, Math.max(0, options.maxStarts)),
    deps,
    failures,
  );

  return {
    app: config.app,
    window: { since: since.toISOString(), settledBefore: settledBefore.toISOString() },
    repositories: repositories.length,
    tagsSeen: candidates.size,
    alreadyClaimed,
    lostEventsFound: lost.length + heldByRollback.length + unchecked.length,
    started,
    alreadyStarted,
    heldByRollback,
    deferred: [...lost.slice(Math.max(0, options.maxStarts)).map((c) => c.tag), ...unchecked],
    failures,
  };
}

/** Every release tag of the window, per tag its first push and the image a release request names. */
async function collectCandidates(
  config: ReconcileConfig,
  repositories: string[],
  since: Date,
  deps: ReconcileDeps,
  failures: ReconcileResult["failures"],
): Promise<Map<string, TagCandidate>> {
  const candidates = new Map<string, TagCandidate>();
  const listed = await Promise.all(
    repositories.map(async (repository, serviceIndex) => {
      try {
        return { repository, serviceIndex, images: await deps.images.recentImages(repository, since) };
      } catch (error) {
        failures.push({ repository, error: oneLine(error) });
        return { repository, serviceIndex, images: [] };
      }
    }),
  );
  for (const { repository, serviceIndex, images } of listed) {
    for (const image of images) {
      if (image.pushedAt.getTime() < since.getTime() || !DIGEST_PATTERN.test(image.digest)) continue;
      for (const tag of image.tags) {
        if (!isReleaseTag(tag, config.tagPolicy.allowPrerelease)) continue;
        const seen = candidates.get(tag);
        if (!seen) {
          candidates.set(tag, {
            tag,
            firstPushedAt: image.pushedAt,
            image: { repository, digest: image.digest, serviceIndex },
          });
          continue;
        }
        if (image.pushedAt < seen.firstPushedAt) seen.firstPushedAt = image.pushedAt;
        if (serviceIndex < seen.image.serviceIndex)
          seen.image = { repository, digest: image.digest, serviceIndex };
      }
    }
  }
  return candidates;
}

/** The settled tags the ledger holds, counted, and those it has never seen: their events were lost. */
async function splitClaimed(
  app: string,
  settled: TagCandidate[],
  deps: ReconcileDeps,
  failures: ReconcileResult["failures"],
): Promise<{ alreadyClaimed: number; lost: TagCandidate[] }> {
  let alreadyClaimed = 0;
  const lost: TagCandidate[] = [];
  for (const candidate of settled) {
    try {
      if (await deps.ledger.get(app, candidate.tag)) alreadyClaimed += 1;
      else lost.push(candidate);
    } catch (error) {
      failures.push({ tag: candidate.tag, error: oneLine(error) });
    }
  }
  return { alreadyClaimed, lost };
}

/**
 * A rollback on dev outranks every trigger older than it, however new its tag: a lost event
 * recovered now is such a trigger (its images were pushed before the rollback was asked for). The
 * tags it holds back leave `lost`.
 */
async function holdForRollback(
  app: string,
  lost: TagCandidate[],
  deps: ReconcileDeps,
  failures: ReconcileResult["failures"],
): Promise<{ heldByRollback: string[]; unchecked: string[] }> {
  const heldByRollback: string[] = [];
  const unchecked: string[] = [];
  if (lost.length > 0 && deps.ledger.latestSucceeded) {
    try {
      const onDev = await deps.ledger.latestSucceeded(app);
      const rollback = onDev && parseLedgerTag(onDev.tag).rollback ? onDev : null;
      const askedAt = rollback
        ? Date.parse(
            ((rollback.summary ?? {}) as { rollback?: { requestedAt?: string } }).rollback?.requestedAt ??
              rollback.claimedAt,
          )
        : Number.NaN;
      if (Number.isFinite(askedAt))
        for (let i = lost.length - 1; i >= 0; i--)
          if ((lost[i] as TagCandidate).firstPushedAt.getTime() < askedAt)
            heldByRollback.unshift(...lost.splice(i, 1).map((c) => c.tag));
    } catch (error) {
      // Fail closed: without knowing what dev runs, no lost tag is started; the next run tries again.
      failures.push({ error: oneLine(error) });
      unchecked.push(...lost.splice(0).map((c) => c.tag));
    }
  }
  return { heldByRollback, unchecked };
}

/** Starts a release per lost tag; a name already taken is a release already started. */
async function startLost(
  app: string,
  toStart: TagCandidate[],
  deps: ReconcileDeps,
  failures: ReconcileResult["failures"],
): Promise<{ started: StartedRelease[]; alreadyStarted: string[] }> {
  const started: StartedRelease[] = [];
  const alreadyStarted: string[] = [];
  for (const candidate of toStart) {
    const executionName = reconcileExecutionName(app, candidate.tag);
    try {
      const request = parseReleaseRequest({
        app: app,
        tag: candidate.tag,
        trigger: { source: "ecr", repository: candidate.image.repository, digest: candidate.image.digest },
        force: false,
      });
      const out = await deps.starter.start(executionName, request);
      if (out.started)
        started.push({
          tag: candidate.tag,
          executionName,
          executionId: out.executionId,
          repository: candidate.image.repository,
          digest: candidate.image.digest,
        });
      else alreadyStarted.push(candidate.tag);
    } catch (error) {
      failures.push({ tag: candidate.tag, error: oneLine(error) });
    }
  }
  return { started, alreadyStarted };
}

/** Errors go into logs and results: name and first line only, never a stack or a payload. */
function oneLine(error: unknown): string {
  const e = error as { name?: unknown; message?: unknown } | null;
  const name = typeof e?.name === "string" ? e.name : "Error";
  const message = typeof e?.message === "string" ? (e.message.split("\n")[0] ?? "") : String(error);
  return `${name}: ${message}`.slice(0, 300);
}

/**
 * What one run reports, per app: `LostEventsRecovered` (the name and dimension the lost-events alarm
 * in PipelineObservability matches on), the releases started and the failures.
 */
export function reconcilerMetrics(result: ReconcileResult): ReleaseMetric[] {
  const dimensions = { [APP_DIMENSION]: result.app };
  return [
    { name: METRIC_NAMES.lostEventsRecovered, unit: "Count", value: result.lostEventsFound, dimensions },
    { name: METRIC_NAMES.reconcilerReleasesStarted, unit: "Count", value: result.started.length, dimensions },
    { name: METRIC_NAMES.reconcilerFailures, unit: "Count", value: result.failures.length, dimensions },
  ];
}
