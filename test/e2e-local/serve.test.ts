import { createHmac } from "node:crypto";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalRuntime, ReleaseOutcome } from "../../local/runtime.js";
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
  /** What the server started, collected by the test: the server itself keeps no list. */
  const releases: Promise<ReleaseOutcome>[] = [];

  beforeAll(async () => {
    env = await startRuntime();
    server = await startWebhookServer({
      config,
      configDir: EXAMPLE_DIR,
      stateDir: join(env.dir, "state"),
      secret: SECRET,
      runtime: env.runtime,
      onRelease: (r) => releases.push(r),
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
    expect(releases).toHaveLength(1);
    const outcome = await releases[0];
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
    expect(releases).toHaveLength(1);
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
    expect(releases).toHaveLength(1);
    // The signature was checked before the delivery id was remembered: the genuine delivery still goes through.
    const genuine = await post(server, body, { delivery: "delivery-serve-2" });
    expect(genuine.status).toBe(202);
    expect(releases).toHaveLength(2);
    expect((await releases[1])?.status).toBe("SUCCEEDED");
  });

  it("answers 413 to a 10 MB body, signed or not, and starts nothing", async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, "a");
    const res = await post(server, big, { delivery: "delivery-serve-4" });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ message: "payload too large" });
    expect(releases).toHaveLength(2);
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
    expect(releases).toHaveLength(2);
  });
});

/**
 * Replays, memory and slow sockets. The runtime is a stand-in that records each release request and
 * answers at once (the real one is exercised above): what is under test is the HTTP side.
 */
describe("pourover serve: replays, memory, oversize bodies, slow sockets", () => {
  const requested: string[] = [];
  const fakeRuntime = {
    release: async (o: { tag: string; trigger?: { deliveryId?: string } }) => {
      requested.push(`${o.tag} ${o.trigger?.deliveryId}`);
      return { status: "SUCCEEDED", executionId: "arn:x:local", tag: o.tag, durationMs: 1 } as ReleaseOutcome;
    },
    close: async () => {},
  } as unknown as LocalRuntime;
  let server: WebhookServer;

  beforeAll(async () => {
    server = await startWebhookServer({
      config,
      configDir: EXAMPLE_DIR,
      stateDir: "/nonexistent/never-written",
      secret: SECRET,
      runtime: fakeRuntime,
      dedupeCapacity: 500,
      timeouts: { headersMs: 1_000, requestMs: 2_000, checkEveryMs: 200 },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("one signed body replayed under 200 new delivery ids starts one release; each replay 202 with a reason", async () => {
    const body = tagPush("v6.0.0");
    const first = await post(server, body, { delivery: "replay-0" });
    expect(first.status).toBe(202);
    const answers = [];
    for (let i = 1; i <= 200; i++) {
      const res = await post(server, body, { delivery: `replay-${i}` });
      answers.push({ status: res.status, body: (await res.json()) as { message?: string; reason?: string } });
    }
    expect(requested.filter((r) => r.startsWith("v6.0.0 "))).toEqual(["v6.0.0 replay-0"]);
    expect(
      answers.every(
        (a) =>
          a.status === 202 &&
          a.body.message === "duplicate delivery" &&
          a.body.reason === "this signed body was already received under another delivery id",
      ),
    ).toBe(true);
  });

  it("keeps no per-delivery history: 3,000 accepted deliveries leave a bounded dedupe and nothing in flight", async () => {
    const before = process.memoryUsage().heapUsed;
    const base = tagPush("v6.1.0").slice(0, -1);
    for (let i = 0; i < 3000; i++) {
      // Distinct signed bodies, as GitHub's are (a tag pushed and re-pushed differs in pushed_at).
      const payload = `${base},"pushed_at_test":${i}}`;
      const res = await post(server, payload, { delivery: `mem-${i}` });
      expect(res.status).toBe(202);
      await res.arrayBuffer();
    }
    const grew = (process.memoryUsage().heapUsed - before) / 1024 / 1024;
    console.info(
      `3,000 deliveries: heap +${grew.toFixed(1)} MB (not asserted: GC timing), remembered ${server.remembered()}`,
    );
    expect(server.started()).toBeGreaterThanOrEqual(3000);
    expect(server.inFlight()).toBe(0);
    expect(server.remembered()).toBeLessThanOrEqual(500);
  }, 120_000);

  it("answers 413 from the Content-Length, before reading a byte of the body", async () => {
    const { port } = new URL(server.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), "127.0.0.1", () => {
        // Headers only: the announced 50 MB body is never sent, so any answer came before reading it.
        socket.write(
          "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 52428800\r\n\r\n",
        );
      });
      let data = "";
      socket.on("data", (chunk) => {
        data += chunk.toString();
        if (data.includes("payload too large")) {
          socket.destroy();
          resolve(data);
        }
      });
      socket.on("error", reject);
      setTimeout(() => reject(new Error(`no answer before the body; got ${JSON.stringify(data)}`)), 3_000);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
  });

  it("refuses `Expect: 100-continue` with an oversize length without inviting the body", async () => {
    const { port } = new URL(server.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), "127.0.0.1", () => {
        socket.write(
          "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 9999999\r\n\r\n",
        );
      });
      let data = "";
      socket.on("data", (chunk) => {
        data += chunk.toString();
        if (data.includes("\r\n\r\n")) {
          socket.destroy();
          resolve(data);
        }
      });
      socket.on("error", reject);
      setTimeout(() => reject(new Error("no answer")), 3_000);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).not.toContain("100 Continue");
  });

  it("a slowloris socket neither blocks a valid delivery nor stays open past the headers timeout", async () => {
    const { port } = new URL(server.url);
    const slow = connect(Number(port), "127.0.0.1");
    await new Promise<void>((resolve) => slow.once("connect", () => resolve()));
    const closed = new Promise<number>((resolve) => {
      const opened = Date.now();
      slow.on("close", () => resolve(Date.now() - opened));
    });
    slow.on("error", () => {});
    slow.write("POST / HTTP/1.1\r\n");
    const drip = setInterval(() => {
      if (!slow.destroyed) slow.write("X-Slow: a\r\n");
    }, 100);
    try {
      const started = Date.now();
      const res = await post(server, tagPush("v6.2.0"), { delivery: "while-slow" });
      expect(res.status).toBe(202);
      expect(Date.now() - started).toBeLessThan(1_000);
      // The server cuts the slow socket once its headers are late (1 s here; 10 s by default).
      expect(await closed).toBeLessThan(5_000);
    } finally {
      clearInterval(drip);
      slow.destroy();
    }
  }, 15_000);
});
