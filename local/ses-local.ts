import { mkdir } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { SesMailer } from "../shared/adapters/aws/ses-mailer.js";
import { writeFileAtomic } from "../shared/adapters/local/atomic-file.js";
import type { EmailMessage, Mailer } from "../shared/ports/index.js";

export interface SesLocal {
  endpoint: string;
  close(): Promise<void>;
}

/** Starts aws-ses-v2-local in process on 127.0.0.1 (never all interfaces) on a free port. */
export async function startSesLocal(): Promise<SesLocal> {
  const mod = (await import("aws-ses-v2-local")) as unknown as {
    default:
      | ((c: { host: string; port: number }) => Promise<Server>)
      | { default: (c: { host: string; port: number }) => Promise<Server> };
  };
  const start = typeof mod.default === "function" ? mod.default : mod.default.default;
  const server = await start({ host: "127.0.0.1", port: 0 });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
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
  private readonly inner: SesMailer;

  constructor(
    private readonly endpoint: string,
    private readonly outbox: string,
    region: string,
  ) {
    this.inner = new SesMailer(sesLocalClient(endpoint, region));
  }

  async send(message: EmailMessage): Promise<{ messageId: string }> {
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
