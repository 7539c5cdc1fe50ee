import { createHmac } from "node:crypto";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWebhookServer, type WebhookServer } from "../../local/serve.js";
import { EXAMPLE_DIR, exampleConfig, startRuntime } from "../helpers/local.js";

/** `pourover serve`: the webhook handler on 127.0.0.1, driven with real HTTP (fetch). */
const SECRET = "serve-test-secret";
const config = exampleConfig();

const examples = createRequire(import.meta.url)("@octokit/webhooks-examples") as {
  name: string;
  examples: Record<string, unknown>[];
}[];

/** GitHub's real "tag created" push example, pointed at the example app's source repo and a v tag. */
function tagPush(tag: string): string {
  const push = examples
    .find((d) => d.name === "push")
    ?.examples.find((e) => e.created === true && String(e.ref).startsWith("refs/tags/"));
  if (!push) throw new Error("no tag push in @octokit/webhooks-examples");
  const payload = structuredClone(push) as Record<string, unknown> & { repository: Record<string, unknown> };
  payload.ref = `refs/tags/${tag}`;
  payload.repository.full_name = config.source.repo;
  return JSON.stringify(payload);
}

const sign = (body: string | Buffer, secret = SECRET) =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

function post(
  server: WebhookServer,
  body: string | Buffer,
  headers: { delivery: string; signature?: string; event?: string },
): Promise<Response> {
  return fetch(server.url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": headers.event ?? "push",
      "x-github-delivery": headers.delivery,
      "x-hub-signature-256": headers.signature ?? sign(body),
    },
    body,
  });
}

describe("pourover serve (startWebhookServer on a free loopback port)", () => {
  let env: Awaited<ReturnType<typeof startRuntime>>;
  let server: WebhookServer;

  beforeAll(async () => {
    env = await startRuntime();
    server = await startWebhookServer({
      config,
      configDir: EXAMPLE_DIR,
      stateDir: join(env.dir, "state"),
      secret: SECRET,
      runtime: env.runtime,
    });
  });
  afterAll(async () => {
    await server?.close();
    await env?.stop();
  });

  it("listens on 127.0.0.1 on the port the OS gave it", () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*\/$/);
  });

  it("answers a signed tag push with 202 and starts exactly one release", async () => {
    const body = tagPush("v5.0.0");
    const res = await post(server, body, { delivery: "delivery-serve-1" });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ app: "coffeeshop", tag: "v5.0.0" });
    expect(server.releases).toHaveLength(1);
    const outcome = await server.releases[0];
    expect(outcome?.status).toBe("SUCCEEDED");
    expect(outcome?.tag).toBe("v5.0.0");
    expect(outcome?.pullRequest?.branch).toBe("release/coffeeshop/v5.0.0");
    expect(outcome?.emails).toHaveLength(1);
    const record = await env.runtime.ledger.get("coffeeshop", "v5.0.0");
    expect(record?.trigger).toMatchObject({ source: "github", deliveryId: "delivery-serve-1" });
  });

  it("starts no release for the same delivery again", async () => {
    const body = tagPush("v5.0.0");
    const res = await post(server, body, { delivery: "delivery-serve-1" });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ message: "duplicate delivery" });
    expect(server.releases).toHaveLength(1);
  });

  it("answers 401 to a bad signature and starts nothing", async () => {
    const body = tagPush("v5.0.1");
    const forged = await post(server, body, {
      delivery: "delivery-serve-2",
      signature: sign(body, "not-the-secret"),
    });
    expect(forged.status).toBe(401);
    const missing = await fetch(server.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": "delivery-serve-3",
      },
      body,
    });
    expect(missing.status).toBe(401);
    expect(server.releases).toHaveLength(1);
    // The signature was checked before the delivery id was remembered: the genuine delivery still goes through.
    const genuine = await post(server, body, { delivery: "delivery-serve-2" });
    expect(genuine.status).toBe(202);
    expect(server.releases).toHaveLength(2);
    expect((await server.releases[1])?.status).toBe("SUCCEEDED");
  });

  it("answers 413 to a 10 MB body, signed or not, and starts nothing", async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, "a");
    const res = await post(server, big, { delivery: "delivery-serve-4" });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ message: "payload too large" });
    expect(server.releases).toHaveLength(2);
    // The server is still up and answering.
    const ping = await post(server, JSON.stringify({ zen: "Keep it logically awesome." }), {
      delivery: "delivery-serve-5",
      event: "ping",
    });
    expect(ping.status).toBe(200);
  });

  it("survives a client that hangs up in the middle of a body", async () => {
    const { port } = new URL(server.url);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), "127.0.0.1", () => {
        socket.write(
          'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"ref":',
          () => socket.destroy(),
        );
      });
      socket.on("close", () => resolve());
      socket.on("error", reject);
    });
    const res = await post(server, tagPush("v5.0.9"), {
      delivery: "delivery-serve-6",
      signature: "sha256=00",
    });
    expect(res.status).toBe(401);
    expect(server.releases).toHaveLength(2);
  });
});
