/**
 * receive-github-webhook: the pure core behind the Function URL.
 *
 * A GitHub delivery becomes at most one `Release Tag Pushed` event on the pipeline's bus. The order
 * of the checks is part of the contract (cheap and unauthenticated first, nothing parsed before the
 * HMAC is verified):
 *
 *   405 not POST -> 413 body over the cap (before decoding, parsing or HMAC) -> 415 content type
 *   -> 401 X-Hub-Signature-256 missing, malformed or wrong for every configured secret
 *   -> 400 missing X-GitHub-Event / X-GitHub-Delivery, body not a JSON object
 *   -> 200 ping -> 202 ignored (with a `reason`) -> 202 duplicate delivery (same X-GitHub-Delivery, or
 *   the same signed body under another id, with a `reason`) -> 202 release requested
 *   -> 500 (generic) when the secrets or the bus cannot be reached; GitHub lets a person redeliver.
 *
 * Never logged nor echoed: the body, the secrets, the signature.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import * as http from "../../shared/domain/http-endpoint.js";
import type { DedupeKey, DeliveryDedupe } from "../../shared/ports/delivery-dedupe.js";
import type { EventPublisher } from "../../shared/ports/index.js";

/**
 * A copy of `TAG_PATTERN` from shared/contracts/release.ts. Importing that module would bundle all of
 * zod (its schemas are built at module load), 450 KB against the webhook's 150 KB budget. A unit test
 * asserts the two are the same regular expression, so they cannot drift.
 */
export const RELEASE_TAG_PATTERN =
  /^v(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})(?:-([0-9A-Za-z-]{1,20}(?:\.[0-9A-Za-z-]{1,20}){0,3}))?$/;

/** What the webhook reads of the app config (an `AppConfig` is one). */
export interface WebhookConfig {
  app: AppConfig["app"];
  source: Pick<AppConfig["source"], "repo">;
  tagPolicy: Pick<AppConfig["tagPolicy"], "allowPrerelease">;
}

/** EventBridge `source` of the events this function emits. */
export const WEBHOOK_EVENT_SOURCE = "pourover.webhook";
/** EventBridge `detail-type` of a release candidate. */
export const RELEASE_TAG_PUSHED = "Release Tag Pushed";
/**
 * Default body cap: 1 MiB. A tag push or a `create` event is a few KB (a tag push lists no
 * commits); GitHub caps payloads at 25 MB and a Function URL at 6 MB, so anything near those is a
 * large branch push we would ignore anyway. Rejecting it before the HMAC bounds the CPU an
 * unauthenticated caller can spend.
 */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/**
 * `detail` of a `Release Tag Pushed` event (source `pourover.webhook`). Every field is always present.
 */
export interface ReleaseTagPushedDetail {
  /** `config.app`. */
  app: string;
  /** `owner/name` as GitHub spells it in the payload (matches `config.source.repo` case-insensitively). */
  repository: string;
  /** The tag, `v` prefix included: `v1.2.3`, `v1.3.0-rc.1`. */
  tag: string;
  /**
   * The 40-hex commit the tag points to. From a `push` event: `head_commit.id` (the tagged commit,
   * also for annotated tags), else `after`. `null` for a `create` event, whose payload carries no
   * sha: the pipeline resolves the tag to a commit itself.
   */
  commit: string | null;
  /** `pusher.name` (push) or `sender.login` (create); "unknown" when GitHub sent neither. */
  pusher: string;
  /** `X-GitHub-Delivery`: the same on GitHub's redeliveries. */
  deliveryId: string;
}

export type WebhookRequest = http.EndpointRequest;
export type WebhookResponse = http.EndpointResponse;
export type WebhookLog = http.EndpointLog;

export interface WebhookDeps {
  config: WebhookConfig;
  /**
   * The webhook secrets: the current one first, then the previous one during a rotation. Empty
   * strings are ignored (an empty HMAC key is no secret). Called with `{ refresh: true }` once when no
   * cached secret matched, so that a provider may re-read a just-rotated secret (rate-limit it there).
   */
  secrets: (options?: { refresh?: boolean }) => Promise<string[]>;
  publisher: EventPublisher;
  /** Dedupe by `X-GitHub-Delivery` and by body digest; consulted only for a verified release candidate. */
  deliveries: DeliveryDedupe;
  /** @default DEFAULT_MAX_BODY_BYTES (1 MiB) */
  maxBodyBytes?: number;
  /** @default WEBHOOK_EVENT_SOURCE ("pourover.webhook") */
  eventBusSource?: string;
  /** @default no logging */
  log?: WebhookLog;
}

const SIGNATURE_PATTERN = /^sha256=([0-9a-f]{64})$/i;
const SHA_PATTERN = /^[0-9a-f]{40}$/;
const TAG_REF_PREFIX = "refs/tags/";
/** Longest delivery id / event name we copy into events and logs (GitHub sends a GUID). */
const MAX_HEADER_ECHO = 128;

type MediaType = "json" | "form" | "other";

function mediaType(contentType: string | undefined): MediaType {
  if (contentType === undefined) return "other";
  const semi = contentType.indexOf(";");
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (type === "application/json") return "json";
  if (type === "application/x-www-form-urlencoded") return "form";
  return "other";
}

/**
 * Constant-time check of `sha256=<hex>` against every secret (all are tried, whatever matches).
 * Hand-written rather than `@octokit/webhooks-methods` `verifyWithFallback`: that takes the payload as
 * a string, so the HMAC would be over a decoded and re-encoded body (a byte GitHub signed that is not
 * valid UTF-8 would not survive), and it stops at the first matching secret.
 */
function signatureMatches(raw: Buffer, expected: Buffer, secrets: readonly string[]): boolean {
  let ok = false;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    const actual = createHmac("sha256", secret).update(raw).digest();
    if (actual.length === expected.length && timingSafeEqual(actual, expected)) ok = true;
  }
  return ok;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

type Candidate =
  | { kind: "release"; repository: string; tag: string; commit: string | null; pusher: string }
  | { kind: "ignored"; reason: string };

/** Decides whether a verified payload is a release candidate. Pure. */
export function classifyDelivery(
  event: string,
  payload: Record<string, unknown>,
  config: WebhookConfig,
): Candidate {
  let tag: string;
  let commit: string | null;
  let pusher: string | undefined;
  if (event === "push") {
    const ref = str(payload.ref);
    if (ref === undefined) return { kind: "ignored", reason: "push without a ref" };
    if (!ref.startsWith(TAG_REF_PREFIX)) return { kind: "ignored", reason: "not a tag push" };
    if (payload.deleted === true) return { kind: "ignored", reason: "tag deleted" };
    if (payload.created !== true) return { kind: "ignored", reason: "tag not created by this push (moved)" };
    tag = ref.slice(TAG_REF_PREFIX.length);
    const head = isRecord(payload.head_commit) ? str(payload.head_commit.id) : undefined;
    const after = str(payload.after);
    commit = head && SHA_PATTERN.test(head) ? head : after && SHA_PATTERN.test(after) ? after : null;
    if (commit === null || /^0+$/.test(commit)) return { kind: "ignored", reason: "push without a commit" };
    pusher = isRecord(payload.pusher) ? str(payload.pusher.name) : undefined;
  } else if (event === "create") {
    if (payload.ref_type !== "tag") return { kind: "ignored", reason: "not a tag" };
    const ref = str(payload.ref);
    if (ref === undefined) return { kind: "ignored", reason: "create without a ref" };
    tag = ref.startsWith(TAG_REF_PREFIX) ? ref.slice(TAG_REF_PREFIX.length) : ref;
    commit = null;
  } else {
    return { kind: "ignored", reason: `event not handled: ${event.slice(0, MAX_HEADER_ECHO)}` };
  }
  pusher ??= isRecord(payload.sender) ? str(payload.sender.login) : undefined;

  const repository = isRecord(payload.repository) ? str(payload.repository.full_name) : undefined;
  if (repository === undefined) return { kind: "ignored", reason: "no repository in the payload" };
  if (repository.toLowerCase() !== config.source.repo.toLowerCase()) {
    return { kind: "ignored", reason: "repository not configured" };
  }

  const version = RELEASE_TAG_PATTERN.exec(tag);
  if (version === null && tag.includes("+"))
    return {
      kind: "ignored",
      reason:
        "tag does not match the tag policy: build metadata (+...) is not allowed, a release tag is also a docker image tag and cannot hold '+'",
    };
  if (version === null)
    return { kind: "ignored", reason: "tag does not match the tag policy (vMAJOR.MINOR.PATCH)" };
  if (version[4] !== undefined && !config.tagPolicy.allowPrerelease) {
    return { kind: "ignored", reason: "pre-release tags are not allowed by the tag policy" };
  }
  return { kind: "release", repository, tag, commit, pusher: pusher ?? "unknown" };
}

type Reply = (res: WebhookResponse, fields?: Record<string, unknown>) => WebhookResponse;

/** The unauthenticated part, cheapest check first: method, size, media type, then the HMAC. */
async function verifyDelivery(
  req: WebhookRequest,
  deps: WebhookDeps,
): Promise<{ raw: Buffer; media: MediaType } | http.Rejection> {
  const notPost = http.requirePost(req);
  if (notPost) return http.reject(notPost);

  // 413 before anything else touches the body.
  const maxBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const body = http.readBody(req, maxBytes);
  if ("response" in body) return http.reject(body.response);
  const { raw } = body;

  const media = mediaType(http.header(req.headers, "content-type"));
  if (media === "other") {
    return http.reject(http.respond(415, "unsupported media type: use application/json"));
  }

  const signature = SIGNATURE_PATTERN.exec(http.header(req.headers, "x-hub-signature-256")?.trim() ?? "");
  if (signature === null)
    return http.reject(http.respond(401, "invalid signature"), { reason: "missing or malformed" });
  const expected = Buffer.from((signature[1] as string).toLowerCase(), "hex");
  const verdict = await http.matchSecrets(deps.secrets, (secrets) =>
    signatureMatches(raw, expected, secrets),
  );
  if (verdict === "none") {
    return http.reject(http.respond(500, "internal error"), { reason: "no webhook secret configured" });
  }
  if (verdict === "mismatch")
    return http.reject(http.respond(401, "invalid signature"), { reason: "mismatch" });
  return { raw, media };
}

/**
 * Publishes the release candidate; when that fails, forgets the dedupe keys so that GitHub's
 * redelivery goes through (the delivery was not acted upon) and returns what was thrown.
 */
async function publishOrForget(
  detail: ReleaseTagPushedDetail,
  keys: readonly DedupeKey[],
  deps: WebhookDeps,
  log: WebhookLog,
): Promise<{ error: unknown } | undefined> {
  try {
    await deps.publisher.publish({
      source: deps.eventBusSource ?? WEBHOOK_EVENT_SOURCE,
      detailType: RELEASE_TAG_PUSHED,
      detail: { ...detail },
    });
    return undefined;
  } catch (error) {
    for (const key of keys) {
      try {
        await deps.deliveries.forget(key);
      } catch (forgetError) {
        log({ msg: "webhook dedupe forget failed", ...http.errorSummary(forgetError) });
      }
    }
    return { error };
  }
}

/** The authenticated part: headers, payload, classification, dedupe, publish. */
async function acceptDelivery(
  req: WebhookRequest,
  raw: Buffer,
  media: MediaType,
  deps: WebhookDeps,
  log: WebhookLog,
  done: Reply,
): Promise<WebhookResponse> {
  // Verified from here on: the headers and the payload come from GitHub.
  const event = http.header(req.headers, "x-github-event")?.trim();
  const deliveryId = http.header(req.headers, "x-github-delivery")?.trim();
  if (!event) return done(http.respond(400, "missing X-GitHub-Event header"));
  if (!deliveryId || deliveryId.length > MAX_HEADER_ECHO) {
    return done(http.respond(400, "missing or invalid X-GitHub-Delivery header"));
  }
  const context = { event: event.slice(0, MAX_HEADER_ECHO), deliveryId };

  const text = raw.toString("utf8");
  let json: string | null = text;
  if (media === "form") json = new URLSearchParams(text).get("payload");
  if (json === null) return done(http.respond(400, "form body without a payload field"), context);
  let payload: unknown;
  try {
    payload = JSON.parse(json);
  } catch {
    return done(http.respond(400, "payload is not valid JSON"), context);
  }
  if (!isRecord(payload)) return done(http.respond(400, "payload is not a JSON object"), context);

  if (event === "ping") return done(http.respond(200, "pong"), context);

  const candidate = classifyDelivery(event, payload, deps.config);
  if (candidate.kind === "ignored") {
    return done(http.respond(202, "ignored", { reason: candidate.reason }), {
      ...context,
      reason: candidate.reason,
    });
  }

  const { app } = deps.config;
  const { tag } = candidate;
  const deliveryKey: DedupeKey = { kind: "delivery", id: deliveryId };
  if (!(await deps.deliveries.firstTime(deliveryKey))) {
    return done(http.respond(202, "duplicate delivery"), { ...context, tag });
  }
  const bodyKey: DedupeKey = { kind: "body", sha256: createHash("sha256").update(raw).digest("hex") };
  if (!(await deps.deliveries.firstTime(bodyKey))) {
    const reason = "this signed body was already received under another delivery id";
    return done(http.respond(202, "duplicate delivery", { reason }), { ...context, tag, reason });
  }
  const detail: ReleaseTagPushedDetail = {
    app,
    repository: candidate.repository,
    tag,
    commit: candidate.commit,
    pusher: candidate.pusher,
    deliveryId,
  };
  const failed = await publishOrForget(detail, [deliveryKey, bodyKey], deps, (e) =>
    log({ ...context, ...e }),
  );
  if (failed) {
    return done(http.respond(500, "internal error"), { ...context, tag, ...http.errorSummary(failed.error) });
  }
  return done(http.respond(202, "release requested", { app, tag }), {
    ...context,
    tag,
    commit: candidate.commit,
  });
}

export async function receiveGithubWebhook(req: WebhookRequest, deps: WebhookDeps): Promise<WebhookResponse> {
  const { log, done } = http.endpointLog(deps.log, "webhook");
  try {
    const verified = await verifyDelivery(req, deps);
    if ("response" in verified) return done(verified.response, verified.fields);
    return await acceptDelivery(req, verified.raw, verified.media, deps, log, done);
  } catch (error) {
    // Secrets or dedupe unreachable: a generic 5xx; details only in the log.
    return done(http.respond(500, "internal error"), http.errorSummary(error));
  }
}
