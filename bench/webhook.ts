/**
 * Verified webhook deliveries per second through the core `receiveGithubWebhook`, in process: a real
 * tag-push payload (@octokit/webhooks-examples), HMAC-SHA256 signed, a unique delivery id each time,
 * the in-memory dedupe and a publisher that does nothing.
 */
import { createHmac } from "node:crypto";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import {
  receiveGithubWebhook,
  type WebhookDeps,
} from "../functions/receive-github-webhook/receive-github-webhook.js";
import { MemoryDeliveryDedupe } from "../shared/adapters/local/memory-delivery-dedupe.js";

export interface WebhookResult {
  deliveries: number;
  accepted: number;
  seconds: number;
  perSecond: number;
  bodyBytes: number;
  /** Status codes other than 202 "release requested", with counts. */
  unexpected: Record<string, number>;
}

const SECRET = "bench-webhook-secret";

function tagPushPayload(): Record<string, unknown> {
  const examples = createRequire(import.meta.url)("@octokit/webhooks-examples") as {
    name: string;
    examples: Record<string, unknown>[];
  }[];
  const push = examples
    .find((d) => d.name === "push")
    ?.examples.find((e) => e.created === true && String(e.ref).startsWith("refs/tags/"));
  if (!push) throw new Error("@octokit/webhooks-examples has no tag-created push example");
  return { ...push, ref: "refs/tags/v1.2.3" };
}

export async function webhookThroughput(durationMs = 2000): Promise<WebhookResult> {
  const payload = tagPushPayload();
  const repo = String((payload.repository as { full_name: string }).full_name);
  const body = JSON.stringify(payload);
  const deps: WebhookDeps = {
    config: { app: "coffeeshop", source: { repo }, tagPolicy: { allowPrerelease: false } },
    secrets: async () => [SECRET],
    publisher: { publish: async () => {} },
    deliveries: new MemoryDeliveryDedupe(),
  };
  const unexpected: Record<string, number> = {};
  let deliveries = 0;
  let accepted = 0;
  // Each delivery is a distinct signed body (as GitHub's are): one body replayed under new delivery
  // ids is deduplicated by its digest and would measure the duplicate path instead. Signing here
  // (about 10 µs) only makes the measured rate more conservative.
  const prefix = body.slice(0, -1);
  let sent = 0;
  const send = async () => {
    const unique = `${prefix},"bench_delivery":${sent++}}`;
    const res = await receiveGithubWebhook(
      {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-hub-signature-256": `sha256=${createHmac("sha256", SECRET).update(unique).digest("hex")}`,
          "x-github-event": "push",
          "x-github-delivery": `bench-${deliveries}-${Math.random().toString(36).slice(2)}`,
        },
        body: unique,
      },
      deps,
    );
    deliveries++;
    if (res.statusCode === 202 && res.body.includes("release requested")) accepted++;
    else unexpected[String(res.statusCode)] = (unexpected[String(res.statusCode)] ?? 0) + 1;
  };
  for (let i = 0; i < 200; i++) await send(); // warm-up, not counted
  deliveries = 0;
  accepted = 0;
  for (const k of Object.keys(unexpected)) delete unexpected[k];
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < durationMs) {
    for (let i = 0; i < 100; i++) await send();
    elapsed = performance.now() - t0;
  }
  const seconds = elapsed / 1000;
  return {
    deliveries,
    accepted,
    seconds,
    perSecond: accepted / seconds,
    bodyBytes: Buffer.byteLength(body),
    unexpected,
  };
}
