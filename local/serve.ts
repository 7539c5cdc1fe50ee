import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import {
  DEFAULT_MAX_BODY_BYTES,
  type ReleaseTagPushedDetail,
  receiveGithubWebhook,
} from "../functions/receive-github-webhook/receive-github-webhook.js";
import { MemoryDeliveryDedupe } from "../shared/adapters/local/memory-delivery-dedupe.js";
import type { AppConfig } from "../shared/contracts/app-config.js";
import { LocalRuntime, type ReleaseOutcome } from "./runtime.js";

export interface WebhookServer {
  url: string;
  /** Releases started by accepted deliveries, in order; each resolves when its execution ends. */
  releases: Promise<ReleaseOutcome>[];
  close(): Promise<void>;
}

/**
 * `pourover serve`: the webhook handler of the Function URL on loopback. An accepted tag push is
 * turned into the same release request the EventBridge rule builds, and released locally.
 */
export async function startWebhookServer(opts: {
  config: AppConfig;
  configDir: string;
  stateDir: string;
  secret: string;
  port?: number;
  runtime?: LocalRuntime;
  log?: (line: string) => void;
}): Promise<WebhookServer> {
  const runtime =
    opts.runtime ??
    (await LocalRuntime.start({ config: opts.config, configDir: opts.configDir, stateDir: opts.stateDir }));
  const log = opts.log ?? (() => {});
  const releases: Promise<ReleaseOutcome>[] = [];
  const deliveries = new MemoryDeliveryDedupe();
  const publisher = {
    async publish(event: { source: string; detailType: string; detail: Record<string, unknown> }) {
      const d = event.detail as unknown as ReleaseTagPushedDetail;
      const started = runtime.release({
        tag: d.tag,
        trigger: {
          source: "github",
          repository: d.repository,
          commit: d.commit,
          pusher: d.pusher,
          deliveryId: d.deliveryId,
        },
      });
      releases.push(started);
      started.then(
        (o) =>
          log(
            `release ${d.tag} (delivery ${d.deliveryId}): ${o.status} in ${o.durationMs} ms — pourover show ${o.executionId.split(":").pop()}`,
          ),
        (e) => log(`release ${d.tag} crashed: ${(e as Error).message}`),
      );
    },
  };
  const server = createServer(async (req, res) => {
    // A client that hangs up mid-body rejects the read; left unhandled, that ended the whole server.
    const body = await readCapped(req, DEFAULT_MAX_BODY_BYTES).catch(() => undefined);
    if (body === undefined) {
      req.destroy();
      return;
    }
    const response =
      body === null
        ? {
            statusCode: 413,
            headers: { "content-type": "application/json", connection: "close" },
            body: JSON.stringify({ message: "payload too large" }),
          }
        : await receiveGithubWebhook(
            { method: req.method ?? "GET", headers: req.headers as Record<string, string | undefined>, body },
            { config: opts.config, secrets: async () => [opts.secret], publisher, deliveries },
          );
    res.writeHead(response.statusCode, response.headers ?? {});
    res.end(response.body);
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    releases,
    async close() {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await Promise.allSettled(releases);
      if (!opts.runtime) await runtime.close();
    },
  };
}

/** How much of an over-cap body is read and dropped before the connection is cut. */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

/** The body as text, or null once it passes the cap (without buffering the rest). */
function readCapped(req: IncomingMessage, cap: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > cap) {
        // Keep reading and dropping what the client still sends: closing a socket with unread data
        // resets it, and under load the client saw ECONNRESET instead of the 413. A client that
        // never stops sending is cut off.
        if (!over) resolve(null);
        over = true;
        chunks.length = 0;
        if (size > cap + MAX_DRAIN_BYTES) req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!over) resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", reject);
  });
}

/** CLI entry: runs until interrupted. */
export async function serveWebhook(opts: {
  config: AppConfig;
  configDir: string;
  stateDir: string;
  port?: string | undefined;
}): Promise<number> {
  const secret = process.env.POUROVER_WEBHOOK_SECRET;
  if (!secret) {
    process.stderr.write("pourover: serve needs the webhook secret in POUROVER_WEBHOOK_SECRET\n");
    return 2;
  }
  const port = opts.port === undefined ? 8787 : Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`pourover: --port must be a port number, got "${opts.port}"\n`);
    return 2;
  }
  const server = await startWebhookServer({
    ...opts,
    secret,
    port,
    log: (l) => process.stdout.write(`${l}\n`),
  });
  process.stdout.write(
    `pourover: webhook for ${opts.config.app} (${opts.config.source.repo}) on ${server.url} — Ctrl-C to stop\n`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await server.close();
  return 0;
}
