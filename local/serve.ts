import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  DEFAULT_MAX_BODY_BYTES,
  type ReleaseTagPushedDetail,
  receiveGithubWebhook,
  type WebhookDeps,
} from "../functions/receive-github-webhook/receive-github-webhook.js";
import { MemoryDeliveryDedupe } from "../shared/adapters/local/memory-delivery-dedupe.js";
import { localSettings } from "../shared/config/local-env.js";
import type { AppConfig } from "../shared/contracts/app-config.js";
import { LocalRuntime, type ReleaseOutcome } from "./runtime.js";

export interface WebhookServer {
  url: string;
  /** Releases started and not finished yet. Finished ones are not kept: a long-running server holds no history. */
  inFlight(): number;
  /** How many releases accepted deliveries started since the server started (a number, not a list). */
  started(): number;
  /** Delivery ids and body digests remembered for dedupe (bounded by `dedupeCapacity`). */
  remembered(): number;
  close(): Promise<void>;
}

/**
 * Slow sockets: a client must send its headers within `headersMs` and its whole request within
 * `requestMs`, or the socket is closed. GitHub itself gives up on a delivery after 10 s.
 */
export interface ServeTimeouts {
  /** @default 10,000 */
  headersMs?: number;
  /** @default 30,000 */
  requestMs?: number;
  /** How often Node checks those timeouts on open sockets. @default 1,000 */
  checkEveryMs?: number;
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
  /** Called with each release an accepted delivery starts (tests); the server itself keeps none. */
  onRelease?: (release: Promise<ReleaseOutcome>) => void;
  /** Most delivery ids and body digests remembered. @default 10,000 */
  dedupeCapacity?: number;
  timeouts?: ServeTimeouts;
}): Promise<WebhookServer> {
  // The port is taken first: a busy --port fails before the state dir is touched.
  let runtime: LocalRuntime | undefined = opts.runtime;
  const log = opts.log ?? (() => {});
  const deliveries = new MemoryDeliveryDedupe({ capacity: opts.dedupeCapacity ?? 10_000 });
  const { publisher, inFlight, started } = releasingPublisher(() => runtime, log, opts.onRelease);
  const maxBody = DEFAULT_MAX_BODY_BYTES;
  const handle = answerWith(
    { config: opts.config, secrets: async () => [opts.secret], publisher, deliveries },
    maxBody,
  );
  const timeouts = opts.timeouts ?? {};
  const server = createServer(
    {
      headersTimeout: timeouts.headersMs ?? 10_000,
      requestTimeout: timeouts.requestMs ?? 30_000,
      connectionsCheckingInterval: timeouts.checkEveryMs ?? 1_000,
    },
    handle,
  );
  // `Expect: 100-continue` with an oversize length: refuse without inviting the body at all.
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    if (declaredLength(req) > maxBody) tooLarge(req, res);
    else {
      res.writeContinue();
      void handle(req, res);
    }
  });
  await listenOnLoopback(server, opts.port);
  try {
    runtime ??= await LocalRuntime.start({
      config: opts.config,
      configDir: opts.configDir,
      stateDir: opts.stateDir,
    });
  } catch (error) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw error;
  }
  const ready = runtime;
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    inFlight: () => inFlight.size,
    started,
    remembered: () => deliveries.size,
    async close() {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await Promise.allSettled([...inFlight]);
      if (!opts.runtime) await ready.close();
    },
  };
}

/** Reads the body (capped) and answers with the Function URL's core, as the Lambda does. */
function answerWith(deps: WebhookDeps, maxBody: number) {
  return async (req: IncomingMessage, res: ServerResponse) => {
    // An announced Content-Length over the cap is answered before any of the body is read.
    if (declaredLength(req) > maxBody) {
      tooLarge(req, res);
      return;
    }
    // A client that hangs up mid-body rejects the read; left unhandled, that ended the whole server.
    const body = await readCapped(req, maxBody).catch(() => undefined);
    if (body === undefined) {
      req.destroy();
      return;
    }
    if (body === null) {
      tooLarge(req, res);
      return;
    }
    const response = await receiveGithubWebhook(
      { method: req.method ?? "GET", headers: req.headers as Record<string, string | undefined>, body },
      deps,
    );
    res.writeHead(response.statusCode, response.headers ?? {});
    res.end(response.body);
  };
}

/** The bus of `pourover serve`: each Release Tag Pushed event the core publishes starts a local release. */
function releasingPublisher(
  currentRuntime: () => LocalRuntime | undefined,
  log: (line: string) => void,
  onRelease: ((release: Promise<ReleaseOutcome>) => void) | undefined,
) {
  const inFlight = new Set<Promise<ReleaseOutcome>>();
  let started = 0;
  const publisher = {
    async publish(event: { source: string; detailType: string; detail: Record<string, unknown> }) {
      const d = event.detail as unknown as ReleaseTagPushedDetail;
      const runtime = currentRuntime();
      if (!runtime) throw new Error("the local runtime is not started yet");
      const release = runtime.release({
        tag: d.tag,
        trigger: {
          source: "github",
          repository: d.repository,
          commit: d.commit,
          pusher: d.pusher,
          deliveryId: d.deliveryId,
        },
      });
      started++;
      inFlight.add(release);
      onRelease?.(release);
      release.then(
        (o) =>
          log(
            `release ${d.tag} (delivery ${d.deliveryId}): ${o.status} in ${o.durationMs} ms — pourover show ${o.executionId.split(":").pop()}`,
          ),
        (e) => log(`release ${d.tag} crashed: ${(e as Error).message}`),
      );
      release.finally(() => inFlight.delete(release)).catch(() => {});
    },
  };
  return { publisher, inFlight, started: () => started };
}

/** Listens on 127.0.0.1 only; a busy or privileged port is a PortBusyError saying what to do. */
async function listenOnLoopback(server: Server, port: number | undefined): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "EADDRINUSE")
      throw new PortBusyError(
        `port ${port} on 127.0.0.1 is already in use: stop what listens there or pass another --port`,
      );
    if (error.code === "EACCES")
      throw new PortBusyError(
        `port ${port} on 127.0.0.1 needs privileges this user lacks: pass a --port above 1023`,
      );
    throw error;
  });
}

/** How much of an over-cap body is read and dropped before the connection is cut. */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

/** `--port` taken or not allowed: one line, exit code 2. */
export class PortBusyError extends Error {
  override readonly name = "PortBusyError" as const;
}

/** The Content-Length the client announced; 0 when none (chunked bodies are capped as they arrive). */
function declaredLength(req: IncomingMessage): number {
  const value = req.headers["content-length"];
  if (value === undefined) return 0;
  const n = Number(value);
  return Number.isFinite(n) ? n : Number.POSITIVE_INFINITY;
}

/**
 * 413 at once. What the client still sends is read and dropped (never buffered) up to a limit:
 * closing a socket with unread data resets it, and the client would see ECONNRESET, not the 413.
 */
function tooLarge(req: IncomingMessage, res: ServerResponse): void {
  if (!res.headersSent) {
    res.writeHead(413, { "content-type": "application/json", connection: "close" });
    res.end(JSON.stringify({ message: "payload too large" }));
  }
  let drained = 0;
  req.removeAllListeners("data");
  req.on("data", (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > MAX_DRAIN_BYTES) req.destroy();
  });
  req.on("error", () => {});
  req.resume();
}

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
  const secret = localSettings().webhookSecret;
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
