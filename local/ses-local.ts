import { mkdir } from "node:fs/promises";
import { get } from "node:http";
import { join } from "node:path";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { SesMailer } from "../shared/adapters/aws/ses-mailer.js";
import { writeFileAtomic } from "../shared/adapters/local/atomic-file.js";
import type { EmailMessage, Mailer } from "../shared/ports/index.js";
import { type SesLocal, startSesThread } from "./bin/ses-thread.js";

export type { SesLocal } from "./bin/ses-thread.js";

let offered: Promise<SesLocal> | undefined;

/**
 * Hands over an emulator thread that is already starting (the `pourover` bin starts it before it
 * loads the CLI); the next startSesLocal() takes it instead of starting another. Whoever offered it
 * still closes it at the end, which is harmless if the runtime closed it first.
 */
export function offerSesLocal(starting: Promise<SesLocal>): void {
  offered = starting;
}

/** The offered emulator thread if there is one not yet taken, else a new one. */
export function startSesLocal(): Promise<SesLocal> {
  const taken = offered;
  offered = undefined;
  return taken ?? startSesThread();
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
    const eml = await getEml(`${this.endpoint}/get-emlContent?messageId=${encodeURIComponent(messageId)}`);
    if (eml) await writeFileAtomic(`${base}.eml`, eml);
    await writeFileAtomic(`${base}.html`, message.html);
    this.sent.push(`${base}.eml`);
    return { messageId };
  }
}

/**
 * The emulator's `.eml` of a sent email, or null if it has none. node:http rather than fetch: the
 * SDK has node:http loaded already, while the first fetch() loads undici (about 40 ms of a release).
 */
function getEml(url: string): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        if (res.statusCode !== 200) return resolve(null);
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { body: { data: number[] } };
          resolve(Buffer.from(body.body.data));
        } catch (error) {
          reject(error);
        }
      });
    }).on("error", reject);
  });
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 60);
}
