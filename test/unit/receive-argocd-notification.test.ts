import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import fc from "fast-check";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  cachedTokens,
  createHandler,
  tokenFromSecret,
} from "../../functions/receive-argocd-notification/handler.js";
import {
  DEFAULT_MAX_BODY_BYTES,
  type NotificationDeps,
  type NotificationRequest,
  newestFirst,
  PROD_EVENT_SOURCE,
  RELEASE_DEGRADED_IN_PROD,
  RELEASE_DEPLOYED_TO_PROD,
  receiveArgocdNotification,
  releaseFromImages,
} from "../../functions/receive-argocd-notification/receive-argocd-notification.js";
import { releasesCommand } from "../../local/releases.js";
import { stateDirLayout } from "../../shared/adapters/local/file-stores.js";
import { SqliteLedger } from "../../shared/adapters/local/sqlite-ledger.js";
import { loadConfigFile } from "../../shared/config/load-config-file.js";
import { compareReleaseTags } from "../../shared/domain/image-editor.js";
import type { EmailMessage, EventPublisher, Mailer } from "../../shared/ports/index.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const config = loadConfigFile(join(ROOT, "examples", "coffeeshop", "pourover.config.yaml"));
const REGISTRY = `${config.registry.accountId}.dkr.ecr.${config.registry.region}.amazonaws.com`;
const TOKEN = "tok-current-0123456789abcdefghijklmnopqrstuv";
const PREVIOUS = "tok-previous-0123456789abcdefghijklmnopqrst";
const REVISION = "a".repeat(40);
const EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:release:abc";
const digest = (c: string) => `sha256:${c.repeat(64)}`;

/** What Argo CD reports in `.app.status.summary.images` for the app at `tag` (plus third-party images). */
function imagesAt(tag: string, overrides: Record<string, string> = {}): string[] {
  return [
    ...config.services.map(
      (s, i) => `${REGISTRY}/${s.repository}:${overrides[s.name] ?? tag}@${digest(String(i))}`,
    ),
    "postgres:16.4-alpine",
    "rabbitmq:3.13-management-alpine",
  ];
}

type Published = Parameters<EventPublisher["publish"]>[0];

const dir = { path: mkdtempSync(join(tmpdir(), "pourover-argocd-")) };
afterAll(() => rmSync(dir.path, { recursive: true, force: true }));
let n = 0;

/** A fresh real SQLite ledger with v1.3.0 and v1.4.0 released, and recording ports. */
async function setup(
  overrides: Partial<NotificationDeps> = {},
  file = join(dir.path, `ledger-${n++}.sqlite`),
) {
  const ledger = new SqliteLedger(file);
  for (const [tag, finishedAt] of [
    ["v1.3.0", "2026-11-20T10:05:00.000Z"],
    ["v1.4.0", "2026-11-26T10:05:00.000Z"],
  ] as const) {
    await ledger.claim({
      app: "coffeeshop",
      tag,
      executionId: `${EXECUTION}-${tag}`,
      claimedAt: "2026-11-26T10:00:00.000Z",
      trigger: { source: "cli", pusher: "me" },
    });
    await ledger.record({
      app: "coffeeshop",
      tag,
      executionId: `${EXECUTION}-${tag}`,
      status: "SUCCEEDED",
      finishedAt,
      summary: {
        pullRequest: {
          branch: `release/coffeeshop/${tag}`,
          url: `https://github.com/acme/gitops/pull/${tag === "v1.4.0" ? 42 : 41}`,
          commit: "b".repeat(40),
        },
      },
    });
  }
  const published: Published[] = [];
  const sent: EmailMessage[] = [];
  const tokenCalls: { refresh?: boolean }[] = [];
  const deps: NotificationDeps = {
    config,
    tokens: async (opts) => {
      tokenCalls.push(opts ?? {});
      return [TOKEN, PREVIOUS];
    },
    ledger,
    publisher: {
      publish: async (e) => {
        published.push(e);
      },
    },
    mailer: {
      send: async (m) => {
        sent.push(m);
        return { messageId: `m-${sent.length}` };
      },
    },
    clock: { now: () => new Date("2026-11-27T09:00:00.000Z") },
    executionUrl: (id) => `https://console.example/${encodeURIComponent(id)}`,
    ...overrides,
  };
  return { ledger, deps, published, sent, tokenCalls };
}

function post(
  payload: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` },
): NotificationRequest {
  return {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof payload === "string" ? payload : JSON.stringify(payload),
  };
}

const deployed = (extra: Record<string, unknown> = {}) => ({
  event: "on-deployed",
  app: "coffeeshop",
  revision: REVISION,
  images: imagesAt("v1.4.0"),
  syncStatus: "Synced",
  health: "Healthy",
  finishedAt: "2026-11-27T08:59:00Z",
  ...extra,
});

const bodyOf = (res: { body: string }) => JSON.parse(res.body) as Record<string, unknown>;

describe("receive-argocd-notification: requests refused", () => {
  it("405 for anything but POST, with Allow", async () => {
    const { deps } = await setup();
    const res = await receiveArgocdNotification({ ...post(deployed()), method: "GET" }, deps);
    expect(res.statusCode).toBe(405);
    expect(res.headers?.allow).toBe("POST");
  });

  it("413 over the size cap, before the token is even read", async () => {
    const { deps, tokenCalls } = await setup();
    const big = JSON.stringify(deployed({ padding: "x".repeat(DEFAULT_MAX_BODY_BYTES) }));
    const res = await receiveArgocdNotification(post(big, {}), deps);
    expect(res.statusCode).toBe(413);
    expect(bodyOf(res)).toMatchObject({ maxBytes: DEFAULT_MAX_BODY_BYTES });
    expect(tokenCalls).toEqual([]);
    // Base64 bodies are measured decoded: a multi-byte body near the cap is measured in bytes.
    const multi = { ...post("é".repeat(600)), isBase64Encoded: true };
    multi.body = Buffer.from("é".repeat(600)).toString("base64");
    expect((await receiveArgocdNotification(multi, { ...deps, maxBodyBytes: 1100 })).statusCode).toBe(413);
  });

  it.each([
    ["no Authorization header", {}],
    ["a Basic credential", { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString("base64")}` }],
    ["Bearer without a token", { authorization: "Bearer " }],
  ])("401 for %s, saying what is expected", async (_, headers) => {
    const { deps, published, sent } = await setup();
    const res = await receiveArgocdNotification(post(deployed(), headers), deps);
    expect(res.statusCode).toBe(401);
    expect(bodyOf(res).message).toMatch(/Bearer <token>/);
    expect(res.headers?.["www-authenticate"]).toBe("Bearer");
    expect(published).toEqual([]);
    expect(sent).toEqual([]);
  });

  it("401 for a wrong token after one refresh of the secret; the tokens are never echoed", async () => {
    const { deps, tokenCalls, ledger } = await setup();
    const res = await receiveArgocdNotification(
      post(deployed(), { authorization: `Bearer ${TOKEN.slice(0, -1)}X` }),
      deps,
    );
    expect(res.statusCode).toBe(401);
    expect(bodyOf(res)).toEqual({ message: "invalid token" });
    expect(res.body).not.toContain(TOKEN);
    expect(tokenCalls).toEqual([{}, { refresh: true }]);
    expect((await ledger.get("coffeeshop", "v1.4.0"))?.prod).toBeUndefined();
  });

  it("the scheme is case-insensitive and the header name any case", async () => {
    const { deps } = await setup();
    const res = await receiveArgocdNotification(post(deployed(), { Authorization: `bearer ${TOKEN}` }), deps);
    expect(res.statusCode).toBe(202);
  });

  it("500 without details when the secret cannot be read or holds no token", async () => {
    const failing = await setup({
      tokens: async () => {
        throw new Error("AccessDeniedException: arn:aws:secretsmanager:us-east-1:123:secret:x");
      },
    });
    const res = await receiveArgocdNotification(post(deployed()), failing.deps);
    expect(res.statusCode).toBe(500);
    expect(bodyOf(res)).toEqual({ message: "internal error" });
    const empty = await setup({ tokens: async () => ["", ""] });
    expect((await receiveArgocdNotification(post(deployed()), empty.deps)).statusCode).toBe(500);
  });

  it("500 without details when the ledger fails", async () => {
    const { deps } = await setup();
    const res = await receiveArgocdNotification(post(deployed()), {
      ...deps,
      ledger: {
        get: async () => {
          throw new Error("ProvisionedThroughputExceededException: table pourover-ledger");
        },
        recordProd: async () => "recorded",
      },
    });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain("pourover-ledger");
  });
});

describe("receive-argocd-notification: 400 names the bad field", () => {
  it.each([
    ["not JSON", "{nope", /not valid JSON/],
    ["a JSON array", "[]", /not a JSON object/],
    [
      "the old event name",
      deployed({ event: "deployed" }),
      /^invalid payload: event: must be on-deployed or on-health-degraded$/,
    ],
    ["no revision", deployed({ revision: undefined }), /revision: must be a git commit sha/],
    ["a short revision", deployed({ revision: "abc123" }), /revision: must be a git commit sha/],
    ["images not a list", deployed({ images: "web:v1" }), /images: must be a list of image references/],
    ["an image not a string", deployed({ images: [42] }), /images\[0\]: must be an image reference/],
    ["an unknown health", deployed({ health: "Fine" }), /health: must be one of Healthy, Progressing/],
    ["a bad app name", deployed({ app: "Coffee Shop" }), /app: must be the Argo CD application name/],
  ])("%s", async (_, payload, message) => {
    const { deps, sent } = await setup();
    const res = await receiveArgocdNotification(post(payload), deps);
    expect(res.statusCode).toBe(400);
    expect(String(bodyOf(res).message)).toMatch(message);
    expect(sent).toEqual([]);
  });

  it("does not echo a hostile value", async () => {
    const { deps } = await setup();
    const res = await receiveArgocdNotification(
      post(deployed({ health: "<script>alert(1)</script>" })),
      deps,
    );
    expect(res.statusCode).toBe(400);
    expect(res.body).not.toContain("<script>");
  });
});

describe("receive-argocd-notification: recording", () => {
  it("202 recorded: prod on the ledger item, one event, one email", async () => {
    const { deps, ledger, published, sent } = await setup();
    const res = await receiveArgocdNotification(post(deployed()), deps);
    expect(res.statusCode).toBe(202);
    expect(bodyOf(res)).toEqual({
      message: "recorded",
      app: "coffeeshop",
      tag: "v1.4.0",
      status: "DEPLOYED",
      published: true,
      emailed: true,
    });
    const record = await ledger.get("coffeeshop", "v1.4.0");
    expect(record?.prod).toEqual({
      status: "DEPLOYED",
      revision: REVISION,
      at: "2026-11-27T09:00:00.000Z",
      health: "Healthy",
      argoApp: "coffeeshop",
    });
    // Nothing else of the record moved.
    expect(record).toMatchObject({ status: "SUCCEEDED", finishedAt: "2026-11-26T10:05:00.000Z" });
    expect((await ledger.get("coffeeshop", "v1.3.0"))?.prod).toBeUndefined();

    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({
      source: PROD_EVENT_SOURCE,
      detailType: RELEASE_DEPLOYED_TO_PROD,
      detail: { app: "coffeeshop", tag: "v1.4.0", status: "DEPLOYED", revision: REVISION, health: "Healthy" },
    });
    expect(sent).toHaveLength(1);
    const mail = sent[0] as EmailMessage;
    expect(mail.subject).toBe("[coffeeshop] v1.4.0 deployed to prod");
    expect(mail.from).toBe("releases@example.com");
    expect(mail.to).toEqual(["dev-team@example.com"]);
    expect(mail.text).toContain(REVISION);
    expect(mail.text).toContain("https://github.com/acme/gitops/pull/42");
    expect(mail.text).toContain("Dev to prod:");
    expect(mail.html).toContain('<a href="https://github.com/acme/gitops/pull/42"');
  });

  it("the same notification twice records once and emails once; degraded after it is recorded", async () => {
    const { deps, ledger, published, sent } = await setup();
    expect((await receiveArgocdNotification(post(deployed()), deps)).statusCode).toBe(202);
    const again = await receiveArgocdNotification(post(deployed()), {
      ...deps,
      clock: { now: () => new Date("2026-11-27T09:30:00.000Z") },
    });
    expect(again.statusCode).toBe(202);
    expect(bodyOf(again).message).toBe("duplicate notification");
    expect((await ledger.get("coffeeshop", "v1.4.0"))?.prod?.at).toBe("2026-11-27T09:00:00.000Z");
    expect(published).toHaveLength(1);
    expect(sent).toHaveLength(1);

    const degraded = await receiveArgocdNotification(
      post(deployed({ event: "on-health-degraded", health: "Degraded" })),
      deps,
    );
    expect(bodyOf(degraded)).toMatchObject({ message: "recorded", status: "DEGRADED" });
    expect((await ledger.get("coffeeshop", "v1.4.0"))?.prod).toMatchObject({
      status: "DEGRADED",
      health: "Degraded",
    });
    expect(published.map((p) => p.detailType)).toEqual([RELEASE_DEPLOYED_TO_PROD, RELEASE_DEGRADED_IN_PROD]);
    expect(sent.map((m) => m.subject)).toEqual([
      "[coffeeshop] v1.4.0 deployed to prod",
      "[coffeeshop] v1.4.0 degraded in prod",
    ]);
    // A degraded prod is a failure: onFailure recipients too.
    expect(sent[1]?.to).toEqual(["dev-team@example.com", "oncall@example.com"]);
    // The degraded notification repeated: still one email for it.
    await receiveArgocdNotification(
      post(deployed({ event: "on-health-degraded", health: "Degraded" })),
      deps,
    );
    expect(sent).toHaveLength(2);
  });

  it("202 with a reason, nothing recorded, for a tag Pourover never released", async () => {
    const { deps, ledger, published, sent } = await setup();
    const res = await receiveArgocdNotification(post(deployed({ images: imagesAt("v0.9.0") })), deps);
    expect(res.statusCode).toBe(202);
    expect(bodyOf(res)).toEqual({ message: "ignored", reason: "no release recorded for v0.9.0" });
    expect(ledger.list("coffeeshop").map((r) => r.prod)).toEqual([undefined, undefined]);
    expect(ledger.tags("coffeeshop")).not.toContain("v0.9.0");
    expect(published).toEqual([]);
    expect(sent).toEqual([]);
  });

  it("202 with a reason when no image of the app's services is reported (null, third-party, other registry)", async () => {
    const { deps, sent } = await setup();
    for (const images of [
      null,
      ["postgres:16.4-alpine"],
      [`999999999999.dkr.ecr.us-east-1.amazonaws.com/${config.services[0]?.repository}:v1.4.0`],
    ]) {
      const res = await receiveArgocdNotification(post(deployed({ images })), deps);
      expect(res.statusCode).toBe(202);
      expect(bodyOf(res).reason).toBe("no tagged image of the app's services in the notification");
    }
    expect(sent).toEqual([]);
  });

  it("images that disagree on the tag: the newest is recorded and the email says so", async () => {
    const { deps, ledger, sent } = await setup();
    const res = await receiveArgocdNotification(
      post(deployed({ images: imagesAt("v1.3.0", { web: "v1.4.0" }) })),
      deps,
    );
    expect(bodyOf(res)).toMatchObject({ tag: "v1.4.0" });
    expect(String(bodyOf(res).note)).toMatch(
      /do not share one tag.*v1\.4\.0 \(web\).*v1\.3\.0 \(proxy, product/,
    );
    expect((await ledger.get("coffeeshop", "v1.4.0"))?.prod?.status).toBe("DEPLOYED");
    expect((await ledger.get("coffeeshop", "v1.3.0"))?.prod).toBeUndefined();
    expect(sent[0]?.text).toContain("Note: the app's images do not share one tag");
  });

  it("a failed event or email does not undo the record, and the answer says which", async () => {
    const { deps, ledger } = await setup({
      publisher: {
        publish: async () => {
          throw new Error("EventBridge down");
        },
      },
      mailer: {
        send: async () => {
          throw new Error("SES sandbox");
        },
      } satisfies Mailer,
    });
    const res = await receiveArgocdNotification(post(deployed()), deps);
    expect(res.statusCode).toBe(202);
    expect(bodyOf(res)).toMatchObject({ message: "recorded", published: false, emailed: false });
    expect(res.body).not.toContain("SES sandbox");
    expect((await ledger.get("coffeeshop", "v1.4.0"))?.prod?.status).toBe("DEPLOYED");
  });

  it("escapes hostile values in the email HTML and links nothing but http(s)", async () => {
    const { deps, ledger, sent } = await setup();
    await ledger.claim({
      app: "coffeeshop",
      tag: "v2.0.0",
      executionId: "local-1",
      claimedAt: "2026-11-26T10:00:00.000Z",
      trigger: { source: "cli", pusher: "me" },
    });
    await ledger.record({
      app: "coffeeshop",
      tag: "v2.0.0",
      executionId: "local-1",
      status: "SUCCEEDED",
      finishedAt: "2026-11-26T10:05:00.000Z",
      summary: { pullRequest: { branch: "b", url: "javascript:alert(1)", commit: null } },
    });
    const hostile = '<img src=x onerror="alert(1)">';
    const res = await receiveArgocdNotification(
      post(deployed({ images: [...imagesAt("v2.0.0"), hostile] })),
      deps,
    );
    expect(res.statusCode).toBe(202);
    const html = sent[0]?.html ?? "";
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
    expect(html).not.toMatch(/href="javascript:/i);
    expect(sent[0]?.text).toContain(hostile);
  });

  it("accepts what the example's argocd-notifications-cm templates render", async () => {
    const cm = parseYaml(
      readFileSync(
        join(ROOT, "examples", "coffeeshop", "manifests", "argocd", "notifications-cm.yaml"),
        "utf8",
      ),
    ) as { data: Record<string, string> };
    // The values Argo CD would substitute into `{{ toJson <path> }}`.
    const values: Record<string, unknown> = {
      ".app.metadata.name": "coffeeshop",
      ".app.status.sync.revision": REVISION,
      ".app.status.summary.images": imagesAt("v1.4.0"),
      ".app.status.sync.status": "Synced",
      ".app.status.health.status": "Degraded",
      ".app.status.operationState.finishedAt": "2026-11-27T08:59:00Z",
    };
    const render = (name: string) => {
      const t = parseYaml(cm.data[`template.${name}`] ?? "") as { webhook: { pourover: { body: string } } };
      return t.webhook.pourover.body.replace(/\{\{\s*toJson\s+(\S+)\s*\}\}/g, (_, path: string) => {
        if (!(path in values)) throw new Error(`template uses ${path}`);
        return JSON.stringify(values[path]);
      });
    };
    const { deps, published } = await setup();
    const deployedRes = await receiveArgocdNotification(post(render("pourover-deployed")), deps);
    const degradedRes = await receiveArgocdNotification(post(render("pourover-health-degraded")), deps);
    expect([deployedRes.statusCode, degradedRes.statusCode]).toEqual([202, 202]);
    expect(published.map((p) => p.detailType)).toEqual([RELEASE_DEPLOYED_TO_PROD, RELEASE_DEGRADED_IN_PROD]);
  });
});

describe("pourover releases shows what prod reported", () => {
  it("in the listing, the detail and the JSON view", async () => {
    const stateDir = join(dir.path, "state");
    const file = stateDirLayout(stateDir).ledger;
    mkdirSync(join(file, ".."), { recursive: true });
    const { deps, ledger } = await setup({}, file);
    expect((await receiveArgocdNotification(post(deployed()), deps)).statusCode).toBe(202);
    ledger.close();
    let out = "";
    await releasesCommand({ stateDir, json: false }, (t) => {
      out += t;
    });
    expect(out).toMatch(/v1\.4\.0 .*prod: DEPLOYED/);
    expect(out).not.toMatch(/v1\.3\.0 .*prod:/);
    out = "";
    await releasesCommand({ stateDir, tag: "v1.4.0", json: false }, (t) => {
      out += t;
    });
    expect(out).toContain(
      `prod:       DEPLOYED (Healthy) at 2026-11-27T09:00:00.000Z, Argo CD coffeeshop @ ${REVISION.slice(0, 12)}`,
    );
    out = "";
    await releasesCommand({ stateDir, tag: "v1.3.0", json: true }, (t) => {
      out += t;
    });
    expect(JSON.parse(out).prod).toBeNull();
  });
});

describe("newestFirst", () => {
  it("orders semver tags exactly as the manifest editor does (property)", () => {
    const ident = fc.oneof(fc.nat({ max: 20 }).map(String), fc.constantFrom("alpha", "beta", "rc", "a-1"));
    const tag = fc
      .tuple(
        fc.nat({ max: 3 }),
        fc.nat({ max: 3 }),
        fc.nat({ max: 3 }),
        fc.option(fc.array(ident, { minLength: 1, maxLength: 3 }), { nil: undefined }),
      )
      .map(([a, b, c, pre]) => `v${a}.${b}.${c}${pre ? `-${pre.join(".")}` : ""}`);
    fc.assert(
      fc.property(tag, tag, (a, b) => {
        expect(Math.sign(newestFirst(a, b)) + Math.sign(compareReleaseTags(a, b) ?? 0)).toBe(0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("releaseFromImages", () => {
  it("reads the tag of the app's service images only, pre-releases ordered by semver", () => {
    expect(releaseFromImages(imagesAt("v1.4.0"), config)).toMatchObject({ tag: "v1.4.0" });
    const mixed = releaseFromImages(imagesAt("v1.10.0-rc.2", { web: "v1.10.0-rc.10" }), config);
    expect(mixed).toMatchObject({ tag: "v1.10.0-rc.10", services: ["web"] });
  });
});

describe("token secret (handler wiring, Secrets Manager mocked)", () => {
  const sm = mockClient(SecretsManagerClient);
  beforeEach(() => sm.reset());

  it("reads the token from JSON {token} or a plain value", () => {
    expect(tokenFromSecret('{"token":"abc"}')).toBe("abc");
    expect(tokenFromSecret("plain-token\n")).toBe("plain-token");
    expect(tokenFromSecret('{"other":"x"}')).toBe("");
    expect(tokenFromSecret(undefined)).toBe("");
  });

  it("rotation: the previous version stays valid, a new one is picked up by the forced refresh", async () => {
    let now = 0;
    let current = TOKEN;
    sm.on(GetSecretValueCommand, { VersionStage: "AWSCURRENT" }).callsFake(async () => ({
      SecretString: JSON.stringify({ token: current }),
    }));
    sm.on(GetSecretValueCommand, { VersionStage: "AWSPREVIOUS" }).resolves({
      SecretString: JSON.stringify({ token: PREVIOUS }),
    });
    const tokens = cachedTokens(new SecretsManagerClient({}), "arn:secret", { now: () => now });
    const { deps } = await setup({ tokens });
    const call = (token: string) =>
      receiveArgocdNotification(post(deployed(), { authorization: `Bearer ${token}` }), deps);

    expect((await call(PREVIOUS)).statusCode).toBe(202);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);

    // Rotated: Argo CD already sends the new token. Within 30 s of the last read no refresh happens.
    current = "tok-rotated-0123456789abcdefghijklmnopqrstu";
    now = 10_000;
    expect((await call(current)).statusCode).toBe(401);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    now = 40_000;
    expect((await call(current)).statusCode).toBe(202);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(4);
  });

  it("before the first rotation there is no AWSPREVIOUS: the current token alone", async () => {
    sm.on(GetSecretValueCommand, { VersionStage: "AWSCURRENT" }).resolves({
      SecretString: JSON.stringify({ token: TOKEN }),
    });
    sm.on(GetSecretValueCommand, { VersionStage: "AWSPREVIOUS" }).rejects(
      new ResourceNotFoundException({ message: "no such version", $metadata: {} }),
    );
    const tokens = cachedTokens(new SecretsManagerClient({}), "arn:secret");
    expect(await tokens()).toEqual([TOKEN]);
  });

  it("the Lambda handler maps a Function URL event to the core and back", async () => {
    const { deps } = await setup();
    const handler = createHandler(deps);
    const res = await handler(
      {
        version: "2.0",
        routeKey: "$default",
        rawPath: "/",
        rawQueryString: "",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        requestContext: { http: { method: "POST" } },
        body: Buffer.from(JSON.stringify(deployed())).toString("base64"),
        isBase64Encoded: true,
      } as never,
      {} as never,
    );
    expect(res).toMatchObject({ statusCode: 202, headers: { "content-type": "application/json" } });
  });
});
