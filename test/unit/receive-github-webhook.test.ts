import { createHmac } from "node:crypto";
import { createRequire } from "node:module";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_MAX_BODY_BYTES,
  RELEASE_TAG_PATTERN,
  RELEASE_TAG_PUSHED,
  receiveGithubWebhook,
  WEBHOOK_EVENT_SOURCE,
  type WebhookConfig,
  type WebhookDeps,
  type WebhookRequest,
  type WebhookResponse,
} from "../../functions/receive-github-webhook/receive-github-webhook.js";
import { MemoryDeliveryDedupe } from "../../shared/adapters/local/memory-delivery-dedupe.js";
import { TAG_PATTERN } from "../../shared/contracts/release.js";
import type { EventPublisher } from "../../shared/ports/index.js";

// ---------------------------------------------------------------------------------------------
// Fixtures

const SECRET = "s3cr3t-current";
const PREVIOUS = "s3cr3t-previous";
/** The repository of every @octokit/webhooks-examples payload. */
const REPO = "Codertocat/Hello-World";

const config: WebhookConfig = {
  app: "coffeeshop",
  source: { repo: REPO },
  tagPolicy: { allowPrerelease: false },
};

/** @octokit/webhooks-examples: real payloads, one entry per event name (CommonJS JSON). */
const examples = createRequire(import.meta.url)("@octokit/webhooks-examples") as {
  name: string;
  examples: Record<string, unknown>[];
}[];

type Published = Parameters<EventPublisher["publish"]>[0];

function example(name: string, index = 0): Record<string, unknown> {
  const def = examples.find((d) => d.name === name);
  if (!def) throw new Error(`no example for ${name}`);
  const found = def.examples[index];
  if (!found) throw new Error(`no example ${index} for ${name}`);
  return structuredClone(found) as unknown as Record<string, unknown>;
}

function examplesOf(name: string): Record<string, unknown>[] {
  const def = examples.find((d) => d.name === name);
  return (def?.examples ?? []).map((e) => structuredClone(e) as unknown as Record<string, unknown>);
}

/** The real push example where the tag `simple-tag` was created, with its ref renamed to `tag`. */
function pushTag(tag = "v1.2.3"): Record<string, unknown> {
  const p = examplesOf("push").find((e) => e.created === true && String(e.ref).startsWith("refs/tags/"));
  if (!p) throw new Error("no push tag-created example");
  return { ...p, ref: `refs/tags/${tag}` };
}

function createTag(tag = "v1.2.3"): Record<string, unknown> {
  return { ...example("create"), ref: tag };
}

function sign(body: string | Buffer, secret = SECRET): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

let deliveryCounter = 0;
function signed(
  event: string,
  payload: unknown,
  opts: { secret?: string; delivery?: string; headers?: Record<string, string | undefined> } = {},
): WebhookRequest {
  const body = typeof payload === "string" ? payload : JSON.stringify(payload);
  return {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": opts.delivery ?? `delivery-${++deliveryCounter}`,
      "x-hub-signature-256": sign(body, opts.secret),
      ...opts.headers,
    },
    body,
    isBase64Encoded: false,
  };
}

function harness(overrides: Partial<WebhookDeps> = {}) {
  const published: Published[] = [];
  const logs: Record<string, unknown>[] = [];
  const deliveries = new MemoryDeliveryDedupe();
  const deps: WebhookDeps = {
    config,
    secrets: async () => [SECRET, PREVIOUS],
    publisher: {
      publish: async (e) => {
        published.push(e);
      },
    },
    deliveries,
    log: (entry) => logs.push(entry),
    ...overrides,
  };
  return {
    deps,
    published,
    logs,
    deliveries,
    call: (req: WebhookRequest) => receiveGithubWebhook(req, deps),
  };
}

function json(res: WebhookResponse): Record<string, unknown> {
  return JSON.parse(res.body) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------

describe("GitHub's published HMAC test vector", () => {
  const secret = "It's a Secret to Everybody";
  const payload = "Hello, World!";
  const expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

  it("our signing helper reproduces it", () => {
    expect(sign(payload, secret)).toBe(expected);
  });

  it("the core accepts the vector's signature (and gets as far as parsing the body)", async () => {
    const { call, published } = harness({ secrets: async () => [secret] });
    const req: WebhookRequest = {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": "vector",
        "x-hub-signature-256": expected,
      },
      body: payload,
    };
    // Verified, then "Hello, World!" is not JSON: 400, not 401.
    const res = await call(req);
    expect(res.statusCode).toBe(400);
    expect(json(res).message).toBe("payload is not valid JSON");
    expect(published).toEqual([]);
  });

  it("the vector with one flipped signature digit is 401", async () => {
    const { call } = harness({ secrets: async () => [secret] });
    const res = await call({
      method: "POST",
      headers: { "content-type": "application/json", "x-hub-signature-256": `${expected.slice(0, -1)}f` },
      body: payload,
    });
    expect(res.statusCode).toBe(401);
  });
});

describe("status codes", () => {
  it("405 for anything but POST", async () => {
    const { call, published } = harness();
    for (const method of ["GET", "PUT", "HEAD", "OPTIONS", "DELETE", ""]) {
      const res = await call({ ...signed("push", pushTag()), method });
      expect(res.statusCode).toBe(405);
      expect(res.headers?.allow).toBe("POST");
    }
    expect(published).toEqual([]);
  });

  it("accepts lowercase post (method case-insensitive)", async () => {
    const { call } = harness();
    expect((await call({ ...signed("push", pushTag()), method: "post" })).statusCode).toBe(202);
  });

  it("413 before the HMAC or the secrets are touched", async () => {
    let secretsCalls = 0;
    const { call, published } = harness({
      maxBodyBytes: 1000,
      secrets: async () => {
        secretsCalls++;
        return [SECRET];
      },
    });
    const big = JSON.stringify({ ...pushTag(), pad: "x".repeat(2000) });
    expect((await call(signed("push", big))).statusCode).toBe(413);
    // Multibyte: 400 characters, 1200 bytes.
    const multibyte = JSON.stringify({ pad: "€".repeat(400) });
    expect((await call(signed("push", multibyte))).statusCode).toBe(413);
    // Base64: decoded size counts.
    const b64 = Buffer.from("x".repeat(1001)).toString("base64");
    expect((await call({ ...signed("push", "{}"), body: b64, isBase64Encoded: true })).statusCode).toBe(413);
    expect(secretsCalls).toBe(0);
    expect(published).toEqual([]);
  });

  it("the default cap is 1 MiB", async () => {
    const { call } = harness();
    expect(DEFAULT_MAX_BODY_BYTES).toBe(1024 * 1024);
    const res = await call(signed("push", "x".repeat(DEFAULT_MAX_BODY_BYTES + 1)));
    expect(res.statusCode).toBe(413);
    expect(json(res).maxBytes).toBe(DEFAULT_MAX_BODY_BYTES);
  });

  it("a body exactly at the cap passes the size check", async () => {
    const payload = JSON.stringify(pushTag());
    const { call } = harness({ maxBodyBytes: Buffer.byteLength(payload) });
    expect((await call(signed("push", payload))).statusCode).toBe(202);
  });

  it("415 for a content type other than JSON or form", async () => {
    const { call, published } = harness();
    for (const ct of [
      "text/plain",
      "application/xml",
      "multipart/form-data",
      "application/jsonx",
      undefined,
    ]) {
      const res = await call(signed("push", pushTag(), { headers: { "content-type": ct } }));
      expect(res.statusCode, String(ct)).toBe(415);
    }
    expect(published).toEqual([]);
  });

  it("accepts application/json with parameters and in any case", async () => {
    const { call, published } = harness();
    const res = await call(
      signed("push", pushTag(), { headers: { "content-type": "Application/JSON; charset=utf-8" } }),
    );
    expect(res.statusCode).toBe(202);
    expect(published).toHaveLength(1);
  });

  it("accepts GitHub's form encoding (payload=...), signed over the form body", async () => {
    const { call, published } = harness();
    const body = new URLSearchParams({ payload: JSON.stringify(pushTag("v2.0.0")) }).toString();
    const res = await call(
      signed("push", body, { headers: { "content-type": "application/x-www-form-urlencoded" } }),
    );
    expect(res.statusCode).toBe(202);
    expect(json(res)).toEqual({ message: "release requested", app: "coffeeshop", tag: "v2.0.0" });
    expect(published).toHaveLength(1);
  });

  it("400 for a form body without a payload field", async () => {
    const { call } = harness();
    const res = await call(
      signed("push", "other=1", { headers: { "content-type": "application/x-www-form-urlencoded" } }),
    );
    expect(res.statusCode).toBe(400);
  });

  it("a base64 body (as a Function URL may pass it) is verified over the decoded bytes", async () => {
    const { call, published } = harness();
    const body = JSON.stringify(pushTag("v3.1.4"));
    const req = signed("push", body);
    const res = await call({ ...req, body: Buffer.from(body).toString("base64"), isBase64Encoded: true });
    expect(res.statusCode).toBe(202);
    expect(published).toHaveLength(1);
  });

  it("401 when the signature is missing, malformed or wrong; never says why to the caller", async () => {
    const { call, published, logs } = harness();
    const good = signed("push", pushTag());
    const sig = good.headers["x-hub-signature-256"] as string;
    const variants: (string | undefined)[] = [
      undefined,
      "",
      "sha256=",
      sig.replace("sha256=", "sha1="),
      sig.replace("sha256=", ""),
      `${sig}00`,
      sig.slice(0, -2),
      `sha256=${"z".repeat(64)}`,
      sign(good.body, "wrong secret"),
      `${sig},${sig}`,
    ];
    for (const v of variants) {
      const res = await call({ ...good, headers: { ...good.headers, "x-hub-signature-256": v } });
      expect(res.statusCode, String(v)).toBe(401);
      expect(json(res)).toEqual({ message: "invalid signature" });
    }
    // The old SHA-1 header alone is not enough.
    const sha1 = `sha1=${createHmac("sha1", SECRET).update(good.body).digest("hex")}`;
    const res = await call({
      ...good,
      headers: { ...good.headers, "x-hub-signature-256": undefined, "x-hub-signature": sha1 },
    });
    expect(res.statusCode).toBe(401);
    expect(published).toEqual([]);
    expect(logs.every((l) => l.status === 401)).toBe(true);
  });

  it("accepts an uppercase-hex signature and mixed-case header names", async () => {
    const { call, published } = harness();
    const req = signed("push", pushTag());
    const sig = (req.headers["x-hub-signature-256"] as string).replace(/[a-f]/g, (c) => c.toUpperCase());
    const res = await call({
      ...req,
      headers: {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "abc",
        "X-Hub-Signature-256": `sha256=${sig.slice(7)}`,
      },
    });
    expect(res.statusCode).toBe(202);
    expect(published).toHaveLength(1);
  });

  it("400 for malformed JSON and for JSON that is not an object", async () => {
    const { call, published } = harness();
    for (const body of ["{", "not json", "[]", "null", "42", '"str"', ""]) {
      const res = await call(signed("push", body));
      expect(res.statusCode, body).toBe(400);
    }
    expect(published).toEqual([]);
  });

  it("400 when a verified request lacks X-GitHub-Event or X-GitHub-Delivery", async () => {
    const { call } = harness();
    expect(
      (await call(signed("push", pushTag(), { headers: { "x-github-event": undefined } }))).statusCode,
    ).toBe(400);
    expect(
      (await call(signed("push", pushTag(), { headers: { "x-github-delivery": undefined } }))).statusCode,
    ).toBe(400);
    expect(
      (await call(signed("push", pushTag(), { headers: { "x-github-delivery": "d".repeat(500) } })))
        .statusCode,
    ).toBe(400);
  });

  it("500 (generic) when no secret is configured; an empty secret never verifies anything", async () => {
    const { call, published } = harness({ secrets: async () => [""] });
    const res = await call(signed("push", pushTag(), { secret: "" }));
    expect(res.statusCode).toBe(500);
    expect(json(res)).toEqual({ message: "internal error" });
    expect(published).toEqual([]);
  });

  it("500 (generic) when the secrets cannot be read; the error stays in the log", async () => {
    const { call, logs } = harness({
      secrets: async () => {
        throw new Error("AccessDenied on arn:aws:secretsmanager:...");
      },
    });
    const res = await call(signed("push", pushTag()));
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain("AccessDenied");
    expect(logs.at(-1)).toMatchObject({ status: 500, error: "Error" });
  });
});

describe("real payloads from @octokit/webhooks-examples", () => {
  it("ping → 200 pong, nothing emitted (every ping example)", async () => {
    const { call, published } = harness();
    const pings = examplesOf("ping");
    expect(pings.length).toBeGreaterThan(0);
    for (const p of pings) {
      const res = await call(signed("ping", p));
      expect(res.statusCode).toBe(200);
      expect(json(res).message).toBe("pong");
    }
    expect(published).toEqual([]);
  });

  it("push that created a v tag → 202 release requested and exactly one event", async () => {
    const { call, published } = harness();
    const payload = pushTag("v1.2.3");
    const res = await call(signed("push", payload, { delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958" }));
    expect(res.statusCode).toBe(202);
    expect(json(res)).toEqual({ message: "release requested", app: "coffeeshop", tag: "v1.2.3" });
    expect(published).toEqual([
      {
        source: WEBHOOK_EVENT_SOURCE,
        detailType: RELEASE_TAG_PUSHED,
        detail: {
          app: "coffeeshop",
          repository: "Codertocat/Hello-World",
          tag: "v1.2.3",
          commit: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
          pusher: "Codertocat",
          deliveryId: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        },
      },
    ]);
    expect(published[0]?.source).toBe("pourover.webhook");
    expect(published[0]?.detailType).toBe("Release Tag Pushed");
  });

  it("the unmodified push tag example (tag 'simple-tag') is ignored by the tag policy", async () => {
    const { call, published } = harness();
    const p = examplesOf("push").find((e) => e.created === true && String(e.ref).startsWith("refs/tags/"));
    const res = await call(signed("push", p));
    expect(res.statusCode).toBe(202);
    expect(json(res).reason).toMatch(/tag policy/);
    expect(published).toEqual([]);
  });

  it("an annotated tag: head_commit.id (the commit) wins over after (the tag object)", async () => {
    const { call, published } = harness();
    const payload = { ...pushTag("v1.0.0"), after: "a".repeat(40) };
    expect((await call(signed("push", payload))).statusCode).toBe(202);
    expect(published[0]?.detail.commit).toBe("6113728f27ae82c7b1a177c8d03f9e96e0adf246");
    const noHead = { ...pushTag("v1.0.1"), head_commit: null, after: "b".repeat(40) };
    expect((await call(signed("push", noHead))).statusCode).toBe(202);
    expect(published[1]?.detail.commit).toBe("b".repeat(40));
  });

  it("push to a branch → 202 ignored (every branch push example)", async () => {
    const { call, published } = harness();
    const branches = examplesOf("push").filter((e) => String(e.ref).startsWith("refs/heads/"));
    expect(branches.length).toBeGreaterThan(0);
    for (const p of branches) {
      const res = await call(signed("push", p));
      expect(res.statusCode).toBe(202);
      expect(json(res)).toEqual({ message: "ignored", reason: "not a tag push" });
    }
    // Even a branch called like a release.
    const res = await call(signed("push", { ...branches[0], ref: "refs/heads/v1.2.3" }));
    expect(json(res).reason).toBe("not a tag push");
    expect(published).toEqual([]);
  });

  it("push that deleted a tag → 202 ignored (every deletion example, also renamed to a v tag)", async () => {
    const { call, published } = harness();
    const deletions = examplesOf("push").filter((e) => e.deleted === true);
    expect(deletions.length).toBeGreaterThan(0);
    for (const p of deletions) {
      for (const payload of [p, { ...p, ref: "refs/tags/v1.2.3" }]) {
        const res = await call(signed("push", payload));
        expect(res.statusCode).toBe(202);
        expect(json(res).reason).toBe("tag deleted");
      }
    }
    expect(published).toEqual([]);
  });

  it("push that moved an existing tag (created: false) → 202 ignored", async () => {
    const { call, published } = harness();
    const res = await call(signed("push", { ...pushTag("v1.2.3"), created: false, forced: true }));
    expect(res.statusCode).toBe(202);
    expect(json(res).reason).toMatch(/not created/);
    expect(published).toEqual([]);
  });

  it("create of a v tag → 202 release requested with commit null (the pipeline resolves it)", async () => {
    const { call, published } = harness();
    const res = await call(signed("create", createTag("v4.5.6"), { delivery: "create-1" }));
    expect(res.statusCode).toBe(202);
    expect(json(res)).toEqual({ message: "release requested", app: "coffeeshop", tag: "v4.5.6" });
    expect(published).toEqual([
      {
        source: "pourover.webhook",
        detailType: "Release Tag Pushed",
        detail: {
          app: "coffeeshop",
          repository: "Codertocat/Hello-World",
          tag: "v4.5.6",
          commit: null,
          pusher: "Codertocat",
          deliveryId: "create-1",
        },
      },
    ]);
  });

  it("every create example as shipped ('simple-tag') → ignored by the policy", async () => {
    const { call, published } = harness();
    for (const p of examplesOf("create")) {
      const res = await call(signed("create", p));
      expect(res.statusCode).toBe(202);
      expect(json(res).reason).toMatch(/tag policy/);
    }
    expect(published).toEqual([]);
  });

  it("create of a branch → 202 ignored", async () => {
    const { call, published } = harness();
    const res = await call(signed("create", { ...example("create"), ref: "v1.2.3", ref_type: "branch" }));
    expect(res.statusCode).toBe(202);
    expect(json(res).reason).toBe("not a tag");
    expect(published).toEqual([]);
  });

  it("every other event in the examples → 202 ignored, nothing emitted", async () => {
    const { call, published } = harness();
    let count = 0;
    for (const def of examples) {
      if (["push", "create", "ping"].includes(def.name)) continue;
      for (const p of def.examples) {
        const res = await call(signed(def.name, p));
        expect(res.statusCode, def.name).toBe(202);
        expect(json(res).reason).toBe(`event not handled: ${def.name}`);
        count++;
      }
    }
    // delete of a v tag, release published: still not release candidates.
    const del = await call(signed("delete", { ...example("delete"), ref: "v1.2.3" }));
    expect(json(del).reason).toBe("event not handled: delete");
    expect(count).toBeGreaterThan(300);
    expect(published).toEqual([]);
  });

  it("another repository → 202 ignored; the repository match is case-insensitive", async () => {
    const { call, published } = harness();
    const other = {
      ...pushTag(),
      repository: { ...(pushTag().repository as object), full_name: "evil/Hello-World" },
    };
    const res = await call(signed("push", other));
    expect(json(res)).toEqual({ message: "ignored", reason: "repository not configured" });
    const noRepo = { ...pushTag(), repository: undefined };
    expect(json(await call(signed("push", noRepo))).reason).toMatch(/no repository/);
    expect(published).toEqual([]);

    const lower = harness({ config: { ...config, source: { repo: "codertocat/hello-world" } } });
    expect((await lower.call(signed("push", pushTag()))).statusCode).toBe(202);
    expect(lower.published[0]?.detail.repository).toBe("Codertocat/Hello-World");
  });
});

describe("tag policy", () => {
  const releases = ["v0.0.0", "v1.2.3", "v10.20.30"];
  const prereleases = ["v1.2.3-rc.1", "v2.0.0-alpha", "v1.0.0-0.3.7", "v1.0.0-x.7.z.92"];
  const invalid = [
    "1.2.3",
    "v1.2",
    "v01.2.3",
    "v1.2.3.4",
    "V1.2.3",
    "v1.2.3-",
    "latest",
    "v1.2.3 ",
    "vv1.2.3",
    "",
  ];

  it("RELEASE_TAG_PATTERN is exactly shared/contracts TAG_PATTERN (no drift)", () => {
    expect(RELEASE_TAG_PATTERN.source).toBe(TAG_PATTERN.source);
    expect(RELEASE_TAG_PATTERN.flags).toBe(TAG_PATTERN.flags);
  });

  it("strict semver with a v prefix; pre-releases refused by default", async () => {
    const { call, published } = harness();
    for (const tag of releases) {
      expect((await call(signed("push", pushTag(tag)))).statusCode).toBe(202);
    }
    expect(published.map((p) => p.detail.tag)).toEqual(releases);
    for (const tag of prereleases) {
      const res = await call(signed("push", pushTag(tag)));
      expect(json(res).reason, tag).toMatch(/pre-release/);
    }
    for (const tag of invalid) {
      const res = await call(signed("push", pushTag(tag)));
      expect(json(res).reason, tag).toMatch(/tag policy/);
    }
    // Build metadata: refused with its reason (a release tag is also a docker image tag).
    for (const tag of ["v1.2.3+build.5", "v1.0.0-x.7.z.92+meta"]) {
      const res = await call(signed("push", pushTag(tag)));
      expect(json(res).reason, tag).toMatch(/tag policy: build metadata \(\+\.\.\.\) is not allowed/);
    }
    expect(published).toHaveLength(releases.length);
  });

  it("pre-releases accepted when allowPrerelease, for push and create", async () => {
    const { call, published } = harness({ config: { ...config, tagPolicy: { allowPrerelease: true } } });
    for (const tag of prereleases) {
      expect((await call(signed("push", pushTag(tag)))).statusCode).toBe(202);
      expect((await call(signed("create", createTag(tag)))).statusCode).toBe(202);
    }
    expect(published).toHaveLength(prereleases.length * 2);
  });
});

describe("secret rotation", () => {
  it("a delivery signed with the previous secret is accepted", async () => {
    const { call, published } = harness();
    const res = await call(signed("push", pushTag(), { secret: PREVIOUS }));
    expect(res.statusCode).toBe(202);
    expect(published).toHaveLength(1);
  });

  it("when nothing cached matches, the secrets are re-read once (a just-rotated secret)", async () => {
    const calls: (boolean | undefined)[] = [];
    const { call, published } = harness({
      secrets: async (o) => {
        calls.push(o?.refresh);
        return o?.refresh ? ["new", "old"] : ["old"];
      },
    });
    expect((await call(signed("push", pushTag(), { secret: "new" }))).statusCode).toBe(202);
    expect(calls).toEqual([undefined, true]);
    expect(published).toHaveLength(1);
    // A request matching the cached secret costs no refresh.
    calls.length = 0;
    expect((await call(signed("push", pushTag(), { secret: "old" }))).statusCode).toBe(202);
    expect(calls).toEqual([undefined]);
  });

  it("a third, unknown secret is refused", async () => {
    const { call, published } = harness();
    expect((await call(signed("push", pushTag(), { secret: "older" }))).statusCode).toBe(401);
    expect(published).toEqual([]);
  });
});

describe("delivery dedupe", () => {
  it("the same delivery twice → emitted once, second answer 'duplicate delivery'", async () => {
    const { call, published } = harness();
    const req = signed("push", pushTag(), { delivery: "same" });
    expect((await call(req)).statusCode).toBe(202);
    const second = await call(req);
    expect(second.statusCode).toBe(202);
    expect(json(second)).toEqual({ message: "duplicate delivery" });
    expect(published).toHaveLength(1);
  });

  it("concurrent copies of one delivery → emitted once", async () => {
    const { call, published } = harness();
    const req = signed("push", pushTag(), { delivery: "concurrent" });
    const answers = await Promise.all(Array.from({ length: 10 }, () => call(req)));
    expect(answers.filter((a) => json(a).message === "release requested")).toHaveLength(1);
    expect(published).toHaveLength(1);
  });

  it("dedupe is consulted only after the signature verified (a forged copy cannot burn the id)", async () => {
    const { call, published, deliveries } = harness();
    const forged = signed("push", pushTag(), { delivery: "target", secret: "attacker" });
    expect((await call(forged)).statusCode).toBe(401);
    expect(deliveries.has("target")).toBe(false);
    expect((await call(signed("push", pushTag(), { delivery: "target" }))).statusCode).toBe(202);
    expect(published).toHaveLength(1);
  });

  it("ignored deliveries do not touch the dedupe store", async () => {
    const { call, deliveries } = harness();
    await call(signed("push", example("push", 4), { delivery: "branch" }));
    await call(signed("ping", example("ping"), { delivery: "ping" }));
    expect(deliveries.has("branch")).toBe(false);
    expect(deliveries.has("ping")).toBe(false);
  });

  it("publisher failure → 500 generic; GitHub's redelivery then emits once", async () => {
    let fail = true;
    const published: Published[] = [];
    const { call, logs, deliveries } = harness({
      publisher: {
        publish: async (e) => {
          if (fail) throw new Error("ThrottlingException: Rate exceeded");
          published.push(e);
        },
      },
    });
    const req = signed("push", pushTag(), { delivery: "redeliver-me" });
    const first = await call(req);
    expect(first.statusCode).toBe(500);
    expect(json(first)).toEqual({ message: "internal error" });
    expect(deliveries.has("redeliver-me")).toBe(false);
    expect(logs.at(-1)).toMatchObject({ status: 500, deliveryId: "redeliver-me", error: "Error" });

    fail = false;
    expect(json(await call(req)).message).toBe("release requested");
    expect(json(await call(req)).message).toBe("duplicate delivery");
    expect(published).toHaveLength(1);
  });

  it("one signed body replayed under 200 new delivery ids → one release; the rest 202 with a reason", async () => {
    const { call, published } = harness();
    const body = pushTag();
    const answers = [];
    for (let i = 0; i < 201; i++) answers.push(await call(signed("push", body, { delivery: `replay-${i}` })));
    expect(published).toHaveLength(1);
    expect(answers.every((a) => a.statusCode === 202)).toBe(true);
    expect(json(answers[0] as WebhookResponse).message).toBe("release requested");
    expect(answers.slice(1).map((a) => json(a))).toEqual(
      Array.from({ length: 200 }, () => ({
        message: "duplicate delivery",
        reason: "this signed body was already received under another delivery id",
      })),
    );
  });

  it("concurrent replays of one body under new ids → emitted once", async () => {
    const { call, published } = harness();
    const body = pushTag();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => call(signed("push", body, { delivery: `c-${i}` }))),
    );
    expect(published).toHaveLength(1);
  });

  it("the body window ends: the same body after it is a new delivery again", async () => {
    let now = Date.parse("2026-01-01T00:00:00Z");
    const { MemoryDeliveryDedupe: Dedupe } = await import(
      "../../shared/adapters/local/memory-delivery-dedupe.js"
    );
    const { call, published } = harness({ deliveries: new Dedupe({ windowMs: 60_000, now: () => now }) });
    const body = pushTag();
    await call(signed("push", body, { delivery: "w-1" }));
    now += 30_000;
    expect(json(await call(signed("push", body, { delivery: "w-2" }))).message).toBe("duplicate delivery");
    now += 61_000;
    expect(json(await call(signed("push", body, { delivery: "w-3" }))).message).toBe("release requested");
    expect(published).toHaveLength(2);
  });

  it("the in-memory store stays bounded: 50,000 deliveries keep at most its capacity", async () => {
    const dedupe = new MemoryDeliveryDedupe({ capacity: 1_000 });
    for (let i = 0; i < 25_000; i++) {
      await dedupe.firstTime({ kind: "delivery", id: `d-${i}` });
      await dedupe.firstTime({ kind: "body", sha256: i.toString(16).padStart(64, "0") });
    }
    expect(dedupe.size).toBe(1_000);
    // The newest are kept, the oldest forgotten.
    expect(dedupe.has("d-24999")).toBe(true);
    expect(dedupe.has("d-0")).toBe(false);
  });

  it("a dedupe store that fails → 500 and nothing emitted", async () => {
    const { call, published } = harness({
      deliveries: {
        firstTime: async () => {
          throw new Error("ProvisionedThroughputExceeded");
        },
        forget: async () => {},
      },
    });
    expect((await call(signed("push", pushTag()))).statusCode).toBe(500);
    expect(published).toEqual([]);
  });

  it("a dedupe store whose forget fails still answers 500 (logged)", async () => {
    const { call, logs } = harness({
      publisher: {
        publish: async () => {
          throw new Error("down");
        },
      },
      deliveries: { firstTime: async () => true, forget: async () => Promise.reject(new Error("also down")) },
    });
    expect((await call(signed("push", pushTag()))).statusCode).toBe(500);
    expect(logs.some((l) => l.msg === "webhook dedupe forget failed")).toBe(true);
  });
});

describe("nothing secret in logs or answers", () => {
  it("never logs the body, the secret or the signature", async () => {
    const { call, logs } = harness();
    const bodyMarker = "BODY-MARKER-7f3a";
    const requests = [
      signed("push", { ...pushTag(), marker: bodyMarker }),
      signed("push", { ...pushTag("nope"), marker: bodyMarker }),
      signed("push", { ...pushTag(), marker: bodyMarker }, { secret: "wrong" }),
      signed("ping", { marker: bodyMarker }),
      signed("push", `{"marker":"${bodyMarker}"`),
    ];
    const answers: string[] = [];
    for (const r of requests) answers.push((await call(r)).body);
    const text = JSON.stringify(logs) + answers.join("\n");
    expect(logs.length).toBe(requests.length);
    for (const r of requests) {
      expect(text).not.toContain((r.headers["x-hub-signature-256"] as string).slice(7));
    }
    expect(text).not.toContain(bodyMarker);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(PREVIOUS);
  });

  it("a throwing logger does not change the answer", async () => {
    const { call } = harness({
      log: () => {
        throw new Error("log sink down");
      },
    });
    expect((await call(signed("push", pushTag()))).statusCode).toBe(202);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: never throws, never 5xx with working ports, never emits without a valid signature for
// the exact bytes received.

/** Header semantics: the lowercase name when set, else the first name equal ignoring case that has a value. */
function headerOf(headers: Record<string, string | undefined>, name: string): string | undefined {
  if (headers[name] !== undefined) return headers[name];
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name && v !== undefined) return v;
  return undefined;
}

/** Independent oracle: is the request's signature valid for its exact bytes under a known secret? */
function validlySigned(req: WebhookRequest): boolean {
  const sig = headerOf(req.headers, "x-hub-signature-256")?.trim().toLowerCase();
  if (!sig) return false;
  const raw = req.isBase64Encoded ? Buffer.from(req.body, "base64") : Buffer.from(req.body, "utf8");
  return [SECRET, PREVIOUS].some((s) => sign(raw, s) === sig);
}

const validBase = [
  () => signed("push", pushTag("v1.2.3")),
  () => signed("push", pushTag("v9.9.9-rc.1")),
  () => signed("create", createTag("v2.0.0")),
  () => signed("ping", example("ping")),
  () => signed("push", example("push", 4)),
  () => signed("push", pushTag("v1.0.0"), { secret: PREVIOUS }),
  () => {
    const body = new URLSearchParams({ payload: JSON.stringify(pushTag("v5.0.0")) }).toString();
    return signed("push", body, { headers: { "content-type": "application/x-www-form-urlencoded" } });
  },
  () => {
    const req = signed("push", pushTag("v6.0.0"));
    return { ...req, body: Buffer.from(req.body).toString("base64"), isBase64Encoded: true };
  },
];

const hex = fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 0, maxLength: 70 });

type Mutation = (req: WebhookRequest) => WebhookRequest;

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant<Mutation>((r) => r),
  // Flip one character of the body.
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 0xffff })).map(
    ([i, delta]): Mutation =>
      (r) => {
        if (r.body.length === 0) return r;
        const at = i % r.body.length;
        const code = (r.body.charCodeAt(at) + delta) % 0x10000;
        return { ...r, body: r.body.slice(0, at) + String.fromCharCode(code) + r.body.slice(at + 1) };
      },
  ),
  // Flip one bit of one byte of the raw bytes (re-encoded as base64 so the bytes survive).
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(
    ([i, bit]): Mutation =>
      (r) => {
        const raw = r.isBase64Encoded ? Buffer.from(r.body, "base64") : Buffer.from(r.body, "utf8");
        if (raw.length === 0) return r;
        raw[i % raw.length] = (raw[i % raw.length] as number) ^ (1 << bit);
        return { ...r, body: raw.toString("base64"), isBase64Encoded: true };
      },
  ),
  // Flip one hex digit of the signature.
  fc.nat().map(
    (i): Mutation =>
      (r) => {
        const sig = r.headers["x-hub-signature-256"] ?? "";
        const at = 7 + (i % 64);
        const c = sig[at] === "0" ? "1" : "0";
        return {
          ...r,
          headers: { ...r.headers, "x-hub-signature-256": sig.slice(0, at) + c + sig.slice(at + 1) },
        };
      },
  ),
  // Replace the signature with random text / random hex.
  fc
    .oneof(
      fc.string(),
      hex.map((h) => `sha256=${h}`),
    )
    .map(
      (s): Mutation =>
        (r) => ({
          ...r,
          headers: { ...r.headers, "x-hub-signature-256": s },
        }),
    ),
  // Truncate or extend the body.
  fc.nat().map(
    (n): Mutation =>
      (r) => ({ ...r, body: r.body.slice(0, n % (r.body.length + 1)) }),
  ),
  fc.string({ minLength: 1 }).map(
    (s): Mutation =>
      (r) => ({ ...r, body: r.body + s }),
  ),
  // Toggle base64 without re-encoding.
  fc.constant<Mutation>((r) => ({ ...r, isBase64Encoded: !r.isBase64Encoded })),
  // Random header edits (names in any case, values random), method, content-type.
  fc
    .dictionary(
      fc.oneof(
        fc.constantFrom(
          "content-type",
          "X-GitHub-Event",
          "x-github-delivery",
          "X-Hub-Signature-256",
          "x-hub-signature",
          "CONTENT-TYPE",
        ),
        fc.string(),
      ),
      fc.option(fc.string(), { nil: undefined }),
      { maxKeys: 4 },
    )
    .map(
      (extra): Mutation =>
        (r) => ({ ...r, headers: { ...r.headers, ...extra } }),
    ),
  fc.constantFrom("GET", "post", "PUT", "").map(
    (method): Mutation =>
      (r) => ({ ...r, method }),
  ),
  fc
    .constantFrom(
      "text/plain",
      "application/json",
      "application/x-www-form-urlencoded",
      "APPLICATION/JSON;x=1",
    )
    .map(
      (ct): Mutation =>
        (r) => ({ ...r, headers: { ...r.headers, "content-type": ct } }),
    ),
  // Re-sign a mutated body with a secret we do not hold.
  fc.string().map(
    (secret): Mutation =>
      (r) => {
        const raw = r.isBase64Encoded ? Buffer.from(r.body, "base64") : Buffer.from(r.body, "utf8");
        return { ...r, headers: { ...r.headers, "x-hub-signature-256": sign(raw, `x${secret}`) } };
      },
  ),
);

const randomRequest: fc.Arbitrary<WebhookRequest> = fc.record({
  method: fc.oneof(fc.constant("POST"), fc.string()),
  headers: fc.dictionary(
    fc.oneof(
      fc.constantFrom("content-type", "x-github-event", "x-github-delivery", "x-hub-signature-256"),
      fc.string(),
    ),
    fc.option(
      fc.oneof(
        fc.string(),
        fc.constant("application/json"),
        hex.map((h) => `sha256=${h}`),
      ),
      {
        nil: undefined,
      },
    ),
  ),
  body: fc.oneof(fc.string(), fc.json(), fc.string({ unit: "binary" })),
  isBase64Encoded: fc.option(fc.boolean(), { nil: undefined }),
});

const generated: fc.Arbitrary<WebhookRequest> = fc.oneof(
  { weight: 1, arbitrary: randomRequest },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.nat({ max: validBase.length - 1 }), fc.array(mutation, { minLength: 0, maxLength: 3 }))
      .map(([i, ms]) => ms.reduce((req, m) => m(req), (validBase[i] as () => WebhookRequest)())),
  },
);

describe("property: hostile and mutated requests", () => {
  it("never throws, never 5xx with working ports, never emits without a valid signature (10,000 runs)", async () => {
    let emitted = 0;
    let verified = 0;
    await fc.assert(
      fc.asyncProperty(generated, async (req) => {
        const { call, published } = harness({ maxBodyBytes: 64 * 1024 });
        const res = await call(req);
        expect(res.statusCode).toBeGreaterThanOrEqual(200);
        expect(res.statusCode).toBeLessThan(500);
        expect(() => JSON.parse(res.body)).not.toThrow();
        const valid = validlySigned(req);
        if (!valid) {
          expect(published).toEqual([]);
          expect([401, 405, 413, 415]).toContain(res.statusCode);
        } else verified++;
        expect(published.length).toBeLessThanOrEqual(1);
        emitted += published.length;
      }),
      { numRuns: 10_000 },
    );
    // Not vacuous: many generated requests were valid and did emit.
    expect(verified).toBeGreaterThan(500);
    expect(emitted).toBeGreaterThan(200);
  });
});
