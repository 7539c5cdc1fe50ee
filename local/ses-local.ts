import { mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { SesMailer } from "../shared/adapters/aws/ses-mailer.js";
import { writeFileAtomic } from "../shared/adapters/local/atomic-file.js";
import type { EmailMessage, Mailer } from "../shared/ports/index.js";

export interface SesLocal {
  endpoint: string;
  close(): Promise<void>;
}

/**
 * The emulator's own thread: loading aws-ses-v2-local and building each email's .eml is CPU work
 * that would otherwise hold up the release (on a 2-core machine it runs beside the engine, the git
 * seed and the tool checks instead of before them). It answers `{ port }` once listening, and is
 * ended (server and all) by close().
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
try {
  const mod = require(workerData.entry);
  const start = typeof mod.default === "function" ? mod.default : mod.default.default;
  start({ host: "127.0.0.1", port: 0 }).then(
    (server) => {
      parentPort.postMessage({ port: server.address().port });
    },
    (e) => parentPort.postMessage({ error: String((e && e.stack) || e) }),
  );
} catch (e) {
  parentPort.postMessage({ error: String((e && e.stack) || e) });
}
`;

/** Starts aws-ses-v2-local on 127.0.0.1 (never all interfaces) on a free port, in a worker thread. */
export async function startSesLocal(): Promise<SesLocal> {
  const entry = createRequire(import.meta.url).resolve("aws-ses-v2-local");
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { entry } });
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    worker.once("message", (m: { port?: number; error?: string }) =>
      m.port ? resolve(m.port) : reject(new Error(`aws-ses-v2-local did not start: ${m.error}`)),
    );
    worker.once("error", reject);
    worker.once("exit", (code) =>
      reject(new Error(`aws-ses-v2-local's thread ended (exit ${code}) before listening`)),
    );
  }).catch(async (error) => {
    await worker.terminate();
    throw error;
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    // Every email was read back from the emulator when it was sent: nothing is left to hand over,
    // so the thread (and its server with it) is ended at once rather than closed politely.
    close: async () => {
      await worker.terminate();
      await exited;
    },
  };
}

/** An SES v2 client for the emulator: real SDK calls, dummy credentials (the emulator only checks the scheme). */
export function sesLocalClient(endpoint: string, region: string): SESv2Client {
  return new SESv2Client({
    endpoint,
    region,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
}

/**
 * Sends through the emulator with the real SES mailer, then keeps a copy in the outbox: the `.eml`
 * the emulator built from what it received, and the `.html` body for a browser.
 */
export class OutboxMailer implements Mailer {
  readonly sent: string[] = [];
  private inner: SesMailer | undefined;
  private endpoint = "";

  /** `endpoint` may still be starting (the emulator's thread): the first email waits for it. */
  constructor(
    private readonly endpointReady: string | Promise<string>,
    private readonly outbox: string,
    private readonly region: string,
  ) {}

  async send(message: EmailMessage): Promise<{ messageId: string }> {
    if (!this.inner) {
      this.endpoint = await this.endpointReady;
      this.inner = new SesMailer(sesLocalClient(this.endpoint, this.region));
    }
    const { messageId } = await this.inner.send(message);
    await mkdir(this.outbox, { recursive: true, mode: 0o700 });
    const base = join(
      this.outbox,
      `${new Date().toISOString().replaceAll(":", "-")}-${slug(message.subject)}`,
    );
    const res = await fetch(`${this.endpoint}/get-emlContent?messageId=${encodeURIComponent(messageId)}`);
    if (res.ok) {
      const body = (await res.json()) as { body: { data: number[] } };
      await writeFileAtomic(`${base}.eml`, Buffer.from(body.body.data));
    }
    await writeFileAtomic(`${base}.html`, message.html);
    this.sent.push(`${base}.eml`);
    return { messageId };
  }
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 60);
}
