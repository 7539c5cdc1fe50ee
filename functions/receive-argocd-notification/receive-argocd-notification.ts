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
import { type AppConfig, imageRepository } from "../../shared/contracts/app-config.js";
import { parseVersion } from "../../shared/contracts/release.js";
import { zodProblems } from "../../shared/contracts/zod-problems.js";
import { imageName, parseImageReference } from "../../shared/domain/image-reference.js";
import { renderProdEmail } from "../../shared/domain/release-email.js";
import type {
  Clock,
  EventPublisher,
  Mailer,
  ProdEntry,
  ProdLedger,
  ReleaseLedger,
} from "../../shared/ports/index.js";
import type { PullRequestReporter } from "../../shared/ports/release-review.js";

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
export const ArgoNotificationSchema = z.object({
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
});
export type ArgoNotification = z.infer<typeof ArgoNotificationSchema>;

export interface NotificationRequest {
  method: string;
  /** Header names in any case (a Function URL lowercases them). */
  headers: Record<string, string | undefined>;
  body: string;
  isBase64Encoded?: boolean;
}

export interface NotificationResponse {
  statusCode: number;
  /** JSON: `{"message": "...", ...}`. */
  body: string;
  headers?: Record<string, string>;
}

export type NotificationLog = (entry: Record<string, unknown>) => void;

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

const JSON_HEADERS = { "content-type": "application/json" } as const;
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

function respond(statusCode: number, message: string, extra?: Record<string, unknown>): NotificationResponse {
  return { statusCode, headers: { ...JSON_HEADERS }, body: JSON.stringify({ message, ...extra }) };
}

function header(
  headers: Record<string, string | undefined> | undefined,
  lowerName: string,
): string | undefined {
  if (headers === undefined || headers === null) return undefined;
  const direct = headers[lowerName];
  if (direct !== undefined) return direct;
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === lowerName && headers[key] !== undefined) return headers[key];
  }
  return undefined;
}

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

function errorSummary(error: unknown): { error: string; errorMessage?: string } {
  if (error instanceof Error) return { error: error.name, errorMessage: error.message.slice(0, 300) };
  return { error: typeof error };
}

/**
 * Semver precedence of two tags, newest first when sorting with it; non-semver tags sort last. Not
 * the manifest editor's comparator: importing it would bundle the YAML parser into this Lambda.
 */
export function newestFirst(a: string, b: string): number {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (!va || !vb) return va ? -1 : vb ? 1 : a.localeCompare(b);
  for (const key of ["major", "minor", "patch"] as const) {
    if (va[key] !== vb[key]) return vb[key] - va[key];
  }
  if (va.pre === vb.pre) return 0;
  if (va.pre === "" || vb.pre === "") return va.pre === "" ? -1 : 1;
  const pa = va.pre.split(".");
  const pb = vb.pre.split(".");
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === y) continue;
    if (x === undefined || y === undefined) return x === undefined ? 1 : -1;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) return Number(y) - Number(x);
    if (xn !== yn) return xn ? 1 : -1;
    return x < y ? 1 : -1;
  }
  return 0;
}

/** Which release the images are: the tag of the app's service images, newest when they disagree. */
export function releaseFromImages(
  images: readonly string[],
  config: Pick<AppConfig, "registry" | "services">,
): { tag: string; services: string[]; note?: string } | { tag: null; reason: string } {
  const byName = new Map(
    config.services.map((s) => [imageRepository(config as AppConfig, s), s.name] as const),
  );
  const tags = new Map<string, string[]>();
  for (const image of images) {
    const ref = parseImageReference(image);
    const service = ref ? byName.get(imageName(ref)) : undefined;
    if (!ref?.tag || service === undefined) continue;
    tags.set(ref.tag, [...(tags.get(ref.tag) ?? []), service]);
  }
  if (tags.size === 0)
    return { tag: null, reason: "no tagged image of the app's services in the notification" };
  const sorted = [...tags.keys()].sort(newestFirst);
  const tag = sorted[0] as string;
  const services = tags.get(tag) ?? [];
  if (tags.size === 1) return { tag, services };
  const others = sorted
    .slice(1)
    .map((t) => `${t} (${(tags.get(t) ?? []).join(", ")})`)
    .join("; ");
  return {
    tag,
    services,
    note: `the app's images do not share one tag: recorded the newest, ${tag} (${services.join(", ")}); also running ${others}`,
  };
}

export async function receiveArgocdNotification(
  req: NotificationRequest,
  deps: NotificationDeps,
): Promise<NotificationResponse> {
  const log: NotificationLog = (entry) => {
    try {
      deps.log?.(entry);
    } catch {
      // A broken logger must not change the answer.
    }
  };
  const done = (res: NotificationResponse, fields: Record<string, unknown> = {}): NotificationResponse => {
    log({ msg: "argocd notification", status: res.statusCode, ...fields });
    return res;
  };
  try {
    if (String(req.method ?? "").toUpperCase() !== "POST") {
      return done({ ...respond(405, "method not allowed"), headers: { ...JSON_HEADERS, allow: "POST" } });
    }
    const maxBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    const body = typeof req.body === "string" ? req.body : "";
    const base64 = req.isBase64Encoded === true;
    // Every UTF-16 unit is at least one byte; a base64 text decodes to at most 3/4 of its length.
    if (base64 ? Math.floor((body.length * 3) / 4) > maxBytes + 2 : body.length > maxBytes) {
      return done(respond(413, "payload too large", { maxBytes }));
    }
    const raw = base64 ? Buffer.from(body, "base64") : Buffer.from(body, "utf8");
    if (raw.length > maxBytes) return done(respond(413, "payload too large", { maxBytes }));

    const bearer = BEARER.exec(header(req.headers, "authorization") ?? "");
    if (bearer === null) {
      return done(
        {
          ...respond(401, "missing or malformed Authorization header: expected Bearer <token>"),
          headers: { ...JSON_HEADERS, "www-authenticate": "Bearer" },
        },
        { reason: "missing or malformed" },
      );
    }
    const presented = bearer[1] as string;
    const tokens = (await deps.tokens()).filter((t) => typeof t === "string" && t.length > 0);
    if (tokens.length === 0) return done(respond(500, "internal error"), { reason: "no token configured" });
    if (!tokenMatches(presented, tokens)) {
      const refreshed = (await deps.tokens({ refresh: true })).filter(
        (t) => typeof t === "string" && t.length > 0 && !tokens.includes(t),
      );
      if (!tokenMatches(presented, refreshed)) {
        return done(
          { ...respond(401, "invalid token"), headers: { ...JSON_HEADERS, "www-authenticate": "Bearer" } },
          { reason: "mismatch" },
        );
      }
    }

    // Authenticated from here on.
    let json: unknown;
    try {
      json = JSON.parse(raw.toString("utf8"));
    } catch {
      return done(respond(400, "payload is not valid JSON"));
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return done(respond(400, "payload is not a JSON object"));
    }
    const parsed = ArgoNotificationSchema.safeParse(json);
    if (!parsed.success) {
      const problems = zodProblems(parsed.error);
      return done(respond(400, `invalid payload: ${problems.join("; ")}`, { problems }));
    }
    const n = parsed.data;
    const { app } = deps.config;
    const context = { event: n.event, argoApp: n.app, revision: n.revision, health: n.health };

    const release = releaseFromImages(n.images ?? [], deps.config);
    if (release.tag === null) {
      return done(respond(202, "ignored", { reason: release.reason }), {
        ...context,
        reason: release.reason,
      });
    }
    const { tag } = release;
    const record = await deps.ledger.get(app, tag);
    if (record === null) {
      // Argo CD may run something Pourover did not release (a hand edit, a revert to an old pin).
      const reason = `no release recorded for ${tag}`;
      return done(respond(202, "ignored", { reason }), { ...context, tag, reason });
    }

    const status: ProdEntry["status"] = n.event === "on-deployed" ? "DEPLOYED" : "DEGRADED";
    const at = (deps.clock ?? { now: () => new Date() }).now().toISOString();
    const entry: ProdEntry = { status, revision: n.revision, at, health: n.health, argoApp: n.app };
    const written = await deps.ledger.recordProd(app, tag, entry);
    if (written === "missing") {
      const reason = `no release recorded for ${tag}`;
      return done(respond(202, "ignored", { reason }), { ...context, tag, reason });
    }
    if (written === "unchanged") {
      return done(respond(202, "duplicate notification", { app, tag, status }), { ...context, tag });
    }

    const note = release.note;
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
      log({ msg: "argocd notification: event not published", ...context, tag, ...errorSummary(error) });
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
        ...new Set([
          ...deps.config.notify.to,
          ...(status === "DEGRADED" ? deps.config.notify.onFailure : []),
        ]),
      ];
      await deps.mailer.send({ from: deps.config.notify.from, to, ...email });
    } catch (error) {
      emailed = false;
      log({ msg: "argocd notification: email not sent", ...context, tag, ...errorSummary(error) });
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
        log({ msg: "argocd notification: PR comment not left", ...context, tag, ...errorSummary(error) });
      }
    }

    return done(
      respond(202, "recorded", {
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
    return done(respond(500, "internal error"), errorSummary(error));
  }
}
