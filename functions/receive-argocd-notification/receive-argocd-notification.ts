/**
 * receive-argocd-notification: the pure core behind the prod feedback Function URL.
 *
 * Argo CD notifications (the `pourover` webhook service of argocd-notifications-cm) report a
 * release in production: `on-deployed` (synced and healthy, once per revision) or
 * `on-health-degraded`. The release is found from the images Argo CD reports (their shared tag),
 * its ledger record `app#tag` gets `prod`, and people are told. Order of the checks:
 *
 *   405 not POST -> 413 body over the cap (before decoding or parsing) -> 401 bearer token missing
 *   or wrong for every configured token (constant time) -> 400 body not JSON / a field invalid (named)
 *   -> 202 ignored: no image of the app's services, or no release recorded for the tag (nothing
 *   written) -> 202 duplicate (same revision and status already recorded: no event, no email)
 *   -> 202 recorded -> 500 (generic) when the token or the ledger cannot be read.
 *
 * Recording is the dedupe: the event and the email follow a write that changed the record. A failed
 * event or email does not undo it (the answer says so); Argo CD does not redeliver anyway.
 * Never logged nor echoed: the body, the token.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import * as z from "zod";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import { lazySchema } from "../../shared/contracts/lazy-schema.js";
import { zodProblems } from "../../shared/contracts/zod-problems.js";
import * as http from "../../shared/domain/http-endpoint.js";
import { renderProdEmail } from "../../shared/domain/release-email.js";
import { releaseFromImages } from "../../shared/domain/release-from-images.js";
import type {
  Clock,
  EventPublisher,
  LedgerRecord,
  Mailer,
  ProdEntry,
  ProdLedger,
  ReleaseLedger,
} from "../../shared/ports/index.js";
import type { PullRequestReporter } from "../../shared/ports/release-review.js";

export { newestFirst, releaseFromImages } from "../../shared/domain/release-from-images.js";

/** EventBridge `source` of the events this function emits. */
export const PROD_EVENT_SOURCE = "pourover.argocd";
export const RELEASE_DEPLOYED_TO_PROD = "Release Deployed To Prod";
export const RELEASE_DEGRADED_IN_PROD = "Release Degraded In Prod";
/**
 * Default body cap: 64 KiB. The payload is a few hundred bytes plus one line per image; a
 * six-service app reports well under 2 KB. The cap bounds what an unauthenticated caller costs.
 */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** Argo CD's health statuses (`.app.status.health.status`). */
export const ARGO_HEALTH = ["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"] as const;

/**
 * The body the `pourover-deployed` / `pourover-health-degraded` templates send. Unknown fields
 * (syncStatus, finishedAt, ...) are allowed and ignored so the templates can grow.
 */
export const argoNotificationSchema = lazySchema(() =>
  z.object({
    event: z.enum(["on-deployed", "on-health-degraded"], {
      error: "must be on-deployed or on-health-degraded",
    }),
    /** `.app.metadata.name`: a Kubernetes object name. */
    app: z
      .string({ error: "must be the Argo CD application name" })
      .regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, "must be the Argo CD application name"),
    /** `.app.status.sync.revision`: the git commit synced. */
    revision: z
      .string({ error: "must be a git commit sha (40 or 64 hex)" })
      .regex(/^([0-9a-f]{40}|[0-9a-f]{64})$/, "must be a git commit sha (40 or 64 hex)"),
    /** `.app.status.summary.images`; `null` when the app runs no image. */
    images: z
      .array(z.string({ error: "must be an image reference" }).max(1024, "must be at most 1024 characters"), {
        error: "must be a list of image references",
      })
      .max(500, "must list at most 500 images")
      .nullable(),
    health: z.enum(ARGO_HEALTH, { error: `must be one of ${ARGO_HEALTH.join(", ")}` }),
  }),
);
export type ArgoNotification = z.infer<ReturnType<typeof argoNotificationSchema>>;

export type NotificationRequest = http.EndpointRequest;
export type NotificationResponse = http.EndpointResponse;
export type NotificationLog = http.EndpointLog;

export interface NotificationDeps {
  config: Pick<AppConfig, "app" | "registry" | "services" | "notify">;
  /**
   * The accepted bearer tokens: current first, then the previous one during a rotation. Called with
   * `{ refresh: true }` once when none matched, so a provider may re-read a just-rotated secret.
   */
  tokens: (options?: { refresh?: boolean }) => Promise<string[]>;
  ledger: Pick<ReleaseLedger, "get"> & ProdLedger;
  publisher: EventPublisher;
  mailer: Mailer;
  /** @default the system clock */
  clock?: Clock;
  /** Console link of the release's execution, for the email. @default no link */
  executionUrl?: (executionId: string) => string;
  /** @default DEFAULT_MAX_BODY_BYTES (64 KiB) */
  maxBodyBytes?: number;
  /** @default no logging */
  log?: NotificationLog;
  /** Leaves a short comment on the release PR when the prod status changes. @default no comment */
  pullRequests?: Pick<PullRequestReporter, "comment">;
}

/** The PR number at the end of a pull request URL (`…/pull/42`), or null. */
export function pullNumberOf(url: string | null | undefined): number | null {
  const m = /\/pull\/(\d+)$/.exec(url ?? "");
  return m ? Number(m[1]) : null;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;
const BEARER_CHALLENGE = { "www-authenticate": "Bearer" } as const;

/**
 * Constant-time check against every token: both sides are hashed first, so the comparison is of
 * equal-length digests and its time says nothing about the token's length or content.
 */
function tokenMatches(presented: string, tokens: readonly string[]): boolean {
  const given = createHash("sha256").update(presented, "utf8").digest();
  let ok = false;
  for (const token of tokens) {
    if (token.length === 0) continue;
    const expected = createHash("sha256").update(token, "utf8").digest();
    if (timingSafeEqual(given, expected)) ok = true;
  }
  return ok;
}

/** The unauthenticated part: method, size (before decoding or parsing), then the bearer token. */
async function authenticate(
  req: NotificationRequest,
  deps: NotificationDeps,
): Promise<{ raw: Buffer } | http.Rejection> {
  const notPost = http.requirePost(req);
  if (notPost) return http.reject(notPost);
  const body = http.readBody(req, deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  if ("response" in body) return http.reject(body.response);
  const { raw } = body;

  const bearer = BEARER.exec(http.header(req.headers, "authorization") ?? "");
  if (bearer === null) {
    return http.reject(
      http.respond(
        401,
        "missing or malformed Authorization header: expected Bearer <token>",
        undefined,
        BEARER_CHALLENGE,
      ),
      { reason: "missing or malformed" },
    );
  }
  const presented = bearer[1] as string;
  const verdict = await http.matchSecrets(deps.tokens, (tokens) => tokenMatches(presented, tokens));
  if (verdict === "none")
    return http.reject(http.respond(500, "internal error"), { reason: "no token configured" });
  if (verdict === "mismatch") {
    return http.reject(http.respond(401, "invalid token", undefined, BEARER_CHALLENGE), {
      reason: "mismatch",
    });
  }
  return { raw };
}

/** The authenticated body: JSON, then the notification schema (each problem named). */
function parseNotification(raw: Buffer): ArgoNotification | http.Rejection {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch {
    return http.reject(http.respond(400, "payload is not valid JSON"));
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return http.reject(http.respond(400, "payload is not a JSON object"));
  }
  const parsed = argoNotificationSchema().safeParse(json);
  if (!parsed.success) {
    const problems = zodProblems(parsed.error);
    return http.reject(http.respond(400, `invalid payload: ${problems.join("; ")}`, { problems }));
  }
  return parsed.data;
}

/** What a recorded change is told with: the event, the email and the PR comment. */
interface Recorded {
  app: string;
  tag: string;
  n: ArgoNotification;
  entry: ProdEntry;
  record: LedgerRecord;
  note: string | undefined;
  context: Record<string, unknown>;
}

/** Best effort each: a failure is logged and reported in the answer, the record stays. */
async function tell(
  { app, tag, n, entry, record, note, context }: Recorded,
  deps: NotificationDeps,
  log: NotificationLog,
): Promise<{ published: boolean; emailed: boolean; commented?: boolean }> {
  const { status, at } = entry;
  let published = true;
  try {
    await deps.publisher.publish({
      source: PROD_EVENT_SOURCE,
      detailType: status === "DEPLOYED" ? RELEASE_DEPLOYED_TO_PROD : RELEASE_DEGRADED_IN_PROD,
      detail: {
        app,
        tag,
        ...entry,
        executionId: record.executionId,
        images: n.images ?? [],
        ...(note ? { note } : {}),
      },
    });
  } catch (error) {
    published = false;
    log({ msg: "argocd notification: event not published", ...context, tag, ...http.errorSummary(error) });
  }

  let emailed = true;
  try {
    const summary = (record.summary ?? {}) as { pullRequest?: { url?: string | null } | null };
    const email = renderProdEmail({
      app,
      tag,
      ...entry,
      images: n.images ?? [],
      ...(note ? { note } : {}),
      pullRequestUrl: summary.pullRequest?.url ?? null,
      executionUrl:
        deps.executionUrl && record.executionId.startsWith("arn:")
          ? deps.executionUrl(record.executionId)
          : null,
      finishedAt: record.finishedAt ?? null,
    });
    const to = [
      ...new Set([...deps.config.notify.to, ...(status === "DEGRADED" ? deps.config.notify.onFailure : [])]),
    ];
    await deps.mailer.send({ from: deps.config.notify.from, to, ...email });
  } catch (error) {
    emailed = false;
    log({ msg: "argocd notification: email not sent", ...context, tag, ...http.errorSummary(error) });
  }

  // The PR that took the release to prod closes its record with one comment (best effort).
  let commented: boolean | undefined;
  const pr = ((record.summary ?? {}) as { pullRequest?: { url?: string | null; branch?: string } | null })
    .pullRequest;
  if (deps.pullRequests && pr?.url && pullNumberOf(pr.url) !== null) {
    try {
      await deps.pullRequests.comment({
        number: pullNumberOf(pr.url),
        branch: pr.branch ?? "",
        body:
          status === "DEPLOYED"
            ? `In prod: Argo CD ${n.app} reports ${app} ${tag} Synced and ${n.health} at revision ${n.revision.slice(0, 12)} (${at}). Recorded by Pourover.`
            : `Degraded in prod: Argo CD ${n.app} reports ${app} ${tag} ${n.health} at revision ${n.revision.slice(0, 12)} (${at}).`,
      });
      commented = true;
    } catch (error) {
      commented = false;
      log({
        msg: "argocd notification: PR comment not left",
        ...context,
        tag,
        ...http.errorSummary(error),
      });
    }
  }
  return { published, emailed, ...(commented !== undefined ? { commented } : {}) };
}

export async function receiveArgocdNotification(
  req: NotificationRequest,
  deps: NotificationDeps,
): Promise<NotificationResponse> {
  const { log, done } = http.endpointLog(deps.log, "argocd notification");
  try {
    const authenticated = await authenticate(req, deps);
    if ("response" in authenticated) return done(authenticated.response, authenticated.fields);
    // Authenticated from here on.
    const parsed = parseNotification(authenticated.raw);
    if ("response" in parsed) return done(parsed.response, parsed.fields);
    const n = parsed;
    const { app } = deps.config;
    const context = { event: n.event, argoApp: n.app, revision: n.revision, health: n.health };

    const release = releaseFromImages(n.images ?? [], deps.config);
    if (release.tag === null) {
      return done(http.respond(202, "ignored", { reason: release.reason }), {
        ...context,
        reason: release.reason,
      });
    }
    const { tag } = release;
    const record = await deps.ledger.get(app, tag);
    if (record === null) {
      // Argo CD may run something Pourover did not release (a hand edit, a revert to an old pin).
      const reason = `no release recorded for ${tag}`;
      return done(http.respond(202, "ignored", { reason }), { ...context, tag, reason });
    }

    const status: ProdEntry["status"] = n.event === "on-deployed" ? "DEPLOYED" : "DEGRADED";
    const at = (deps.clock ?? { now: () => new Date() }).now().toISOString();
    const entry: ProdEntry = { status, revision: n.revision, at, health: n.health, argoApp: n.app };
    const written = await deps.ledger.recordProd(app, tag, entry);
    if (written === "missing") {
      const reason = `no release recorded for ${tag}`;
      return done(http.respond(202, "ignored", { reason }), { ...context, tag, reason });
    }
    if (written === "unchanged") {
      return done(http.respond(202, "duplicate notification", { app, tag, status }), { ...context, tag });
    }

    const note = release.note;
    const { published, emailed, commented } = await tell(
      { app, tag, n, entry, record, note, context },
      deps,
      log,
    );

    return done(
      http.respond(202, "recorded", {
        app,
        tag,
        status,
        published,
        emailed,
        ...(commented !== undefined ? { commented } : {}),
        ...(note ? { note } : {}),
      }),
      {
        ...context,
        tag,
        published,
        emailed,
        ...(note ? { note } : {}),
      },
    );
  } catch (error) {
    // Token or ledger unreachable: a generic 5xx; details only in the log.
    return done(http.respond(500, "internal error"), http.errorSummary(error));
  }
}
