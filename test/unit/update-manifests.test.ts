import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { updateManifests } from "../../functions/update-manifests/update-manifests.js";
import { imageRepository } from "../../shared/contracts/app-config.js";
import type { ScanResult } from "../../shared/contracts/release.js";
import { githubCredentialsFromSecret } from "../../shared/contracts/secret-value.js";
import { InvalidInputError, VersionRegressionError } from "../../shared/domain/errors.js";
import { renderReleaseEmail } from "../../shared/domain/release-email.js";
import type { ManifestRepository, PublishInput, PublishResult } from "../../shared/ports/index.js";
import { EXAMPLE_DIR, exampleConfig } from "../helpers/local.js";

const config = exampleConfig();
const SEED = join(EXAMPLE_DIR, config.manifests.localSeed ?? "manifests");
const DIGEST = `sha256:${"a".repeat(64)}`;
const BASE_COMMIT = "b".repeat(40);

/** An in-memory manifests repository: the example's seed files, and every publish recorded. */
function memoryRepo(overrides: Record<string, string> = {}) {
  const published: PublishInput[] = [];
  const repo: ManifestRepository = {
    async readFiles({ paths }) {
      const files: Record<string, string | null> = {};
      for (const p of paths) files[p] = overrides[p] ?? readFileSync(join(SEED, p), "utf8");
      return { baseCommit: BASE_COMMIT, files };
    },
    async publish(input): Promise<PublishResult> {
      published.push(input);
      return {
        commit: "c".repeat(40),
        url: "https://github.com/acme/gitops/pull/9",
        number: 9,
        unchanged: false,
      };
    },
  };
  return { repo, published };
}

const artifacts = { put: async (key: string) => `s3://artifacts/${key}` };

function input(tag: string, extra: Record<string, unknown> = {}) {
  return {
    app: "coffeeshop",
    tag,
    executionId: "arn:aws:states:us-east-1:123456789012:execution:release:x",
    images: config.services.map((s) => ({
      service: s.name,
      repository: imageRepository(config, s),
      tag,
      digest: DIGEST,
    })),
    scans: [] as ScanResult[],
    ...extra,
  };
}

async function run(tag: string, extra: Record<string, unknown> = {}, overrides?: Record<string, string>) {
  const { repo, published } = memoryRepo(overrides);
  const ref = await updateManifests(input(tag, extra), {
    config,
    repo,
    artifacts,
    executionUrl: (id) => `https://console.aws.amazon.com/states/home#/v2/executions/details/${id}`,
  });
  return { ref, published };
}

describe("UpdateManifests core", () => {
  it("publishes one change set on release/<app>/<tag>, asking to supersede older releases of the app", async () => {
    const { ref, published } = await run("v1.3.0");
    expect(published).toHaveLength(1);
    const p = published[0] as PublishInput;
    expect(p.branch).toBe("release/coffeeshop/v1.3.0");
    expect(p.baseCommit).toBe(BASE_COMMIT);
    expect(ref).toMatchObject({ branch: p.branch, number: 9, unchanged: false });
    expect(ref.changedFiles).toEqual(p.files.map((f) => f.path));

    const s = p.supersede;
    expect(s?.branchPrefix).toBe("release/coffeeshop/");
    const older = [
      "release/coffeeshop/v1.2.9",
      "release/coffeeshop/v1.3.0-rc.1",
      "release/coffeeshop/v1",
      "release/coffeeshop/v1.2",
    ];
    const notOlder = [
      "release/coffeeshop/v1.3.0",
      "release/coffeeshop/v1.3.1",
      "release/coffeeshop/v2",
      "release/coffeeshop/latest",
      "release/coffeeshop/v1.2.0/extra",
    ];
    expect(older.filter((b) => s?.isOlder(b))).toEqual(older);
    expect(notOlder.filter((b) => s?.isOlder(b))).toEqual([]);
    expect(s?.comment({ number: 9, url: "https://github.com/acme/gitops/pull/9" })).toBe(
      "Superseded by #9 (coffeeshop v1.3.0): https://github.com/acme/gitops/pull/9. Closed by Pourover; this branch is left in place.",
    );
  });

  it("the PR body lists every image change (new tag and digest), the execution, and says the dev deploy is pending", async () => {
    const { published } = await run("v1.3.0");
    const body = published[0]?.pullRequest.body ?? "";
    expect(body).toContain("Pins **coffeeshop v1.3.0**");
    for (const s of config.services) {
      const row = body
        .split("\n")
        .find((l) => l.startsWith(`| ${s.name} |`) || l.startsWith(`| ${imageRepository(config, s)} |`));
      expect(row, s.name).toContain(`| \`v1.3.0\` \`${DIGEST}\` |`);
    }
    expect(body).toContain("Execution: https://console.aws.amazon.com/states/home#/v2/executions/details/");
    expect(body).toContain("**Dev deploy:** pending");
  });

  it("a manifest already at a newer short tag (v2) refuses v1.3.0 unless forced", async () => {
    const web = "123456789012.dkr.ecr.us-east-1.amazonaws.com/go-coffeeshop-web";
    const compose = readFileSync(join(SEED, "docker-compose.yml"), "utf8");
    const ahead = compose.replace(`${web}:v0.0.1`, `${web}:v2`);
    expect(ahead).not.toBe(compose);
    const overrides = { "docker-compose.yml": ahead };
    await expect(run("v1.3.0", {}, overrides)).rejects.toBeInstanceOf(VersionRegressionError);
    const forced = await run("v1.3.0", { force: true }, overrides);
    expect(forced.published).toHaveLength(1);
  });
});

describe("UpdateManifests handler: the GitHub credentials secret never reaches an error, a log or an email", () => {
  const SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pourover/github-AbCdEf";
  // A classic personal access token stored bare, the likeliest mistake (the stack expects JSON).
  const TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
  const PRIVATE_KEY =
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretkeymaterialQwErTyZx\n-----END RSA PRIVATE KEY-----";
  const sm = mockClient(SecretsManagerClient);
  const written: string[] = [];
  let handler: (event: unknown, context: unknown) => Promise<unknown>;

  /** GetSecretValue's response as Secrets Manager returns it (API reference, GetSecretValue). */
  const secretResponse = (secretString: string) => ({
    ARN: SECRET_ARN,
    Name: "pourover/github",
    VersionId: "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1",
    SecretString: secretString,
    VersionStages: ["AWSCURRENT"],
    CreatedDate: new Date("2026-11-30T10:00:00Z"),
    $metadata: { httpStatusCode: 200, requestId: "e1b2c3d4-0000-1111-2222-333344445555", attempts: 1 },
  });
  const context = {
    functionName: "Pourover-coffeeshop-UpdateManifests",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:Pourover-coffeeshop-UpdateManifests",
    memoryLimitInMB: "512",
    awsRequestId: "9f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8",
    logGroupName: "/aws/lambda/Pourover-coffeeshop-UpdateManifests",
    logStreamName: "2026/12/01/[$LATEST]abcdef",
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 60_000,
  };

  /** Every 8-character window of the secret: a truncated echo (Node quotes 10 characters) is a leak too. */
  const leaks = (text: string, secret: string): string[] => {
    const found: string[] = [];
    for (let i = 0; i + 8 <= secret.length; i++) {
      const part = secret.slice(i, i + 8);
      if (/[A-Za-z0-9]{4}/.test(part) && text.includes(part)) found.push(part);
    }
    return found;
  };

  /** Invokes the handler; returns the error and everything it (and the runtime) would print about it. */
  async function failWith(secretString: string) {
    sm.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves(secretResponse(secretString));
    written.length = 0;
    const error = (await handler(input("v1.3.0"), context).then(
      () => undefined,
      (e: unknown) => e,
    )) as Error | undefined;
    expect(error, "the handler must fail").toBeInstanceOf(Error);
    const e = error as Error;
    // What Lambda reports for an uncaught error (errorType, errorMessage, trace), which Step Functions
    // puts in the Cause of the failed state and the failure email quotes.
    const cause = JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: e.stack?.split("\n") });
    const email = renderReleaseEmail({
      outcome: "FAILED",
      executionUrl: "https://console.aws.amazon.com/states/home#/v2/executions/details/x",
      release: {
        ...input("v1.3.0"),
        error: { Error: e.name, Cause: cause },
      } as unknown as Parameters<typeof renderReleaseEmail>[0]["release"],
    });
    const everything = [
      e.message,
      e.stack ?? "",
      String(e),
      JSON.stringify(e, Object.getOwnPropertyNames(e)),
      String((e as { cause?: unknown }).cause ?? ""),
      cause,
      email.subject,
      email.text,
      email.html,
      ...written,
    ].join("\n");
    return { error: e, everything, email };
  }

  beforeAll(async () => {
    process.env.GITHUB_CREDENTIALS_SECRET_ARN = SECRET_ARN;
    process.env.ARTIFACTS_BUCKET_NAME = "pourover-coffeeshop-reports";
    process.env.POUROVER_CONFIG = JSON.stringify(config);
    process.env.AWS_REGION = "us-east-1";
    process.env.AWS_ACCESS_KEY_ID = "AKIDEXAMPLE";
    process.env.AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream);
      vi.spyOn(stream, "write").mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
        written.push(String(chunk));
        return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof stream.write);
    }
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      const original = console[level].bind(console);
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        written.push(args.map(String).join(" "));
        original(...args);
      });
    }
    ({ handler } = (await import("../../functions/update-manifests/handler.js")) as unknown as {
      handler: typeof handler;
    });
  });
  afterEach(() => sm.reset());
  afterAll(() => {
    vi.restoreAllMocks();
    sm.restore();
  });

  it("a bare ghp_ token (not JSON): InvalidInputError naming the secret and the shape, the token nowhere", async () => {
    const { error, everything, email } = await failWith(TOKEN);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toContain(SECRET_ARN);
    expect(error.message).toContain('is not JSON (a bare token must be wrapped as {"token":"..."})');
    expect((error as { cause?: unknown }).cause).toBeUndefined();
    expect(email.subject).toBe("[coffeeshop] v1.3.0 failed: InvalidInputError");
    expect(leaks(everything, TOKEN)).toEqual([]);
  });

  it("the empty {} the stack creates: says to fill it", async () => {
    const { error } = await failWith("{}");
    expect(error.message).toContain("is still the empty {} the stack created: fill it after deploy");
  });

  it("a token or App key of the wrong shape is described by key name only, never by value", async () => {
    for (const secret of [
      JSON.stringify({ token: 123456789, note: TOKEN }),
      JSON.stringify({ appId: TOKEN, installationId: "not-a-number", privateKey: PRIVATE_KEY }),
      JSON.stringify([TOKEN]),
      `{"token": "${TOKEN}"`,
    ]) {
      const { error, everything } = await failWith(secret);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect(leaks(everything, TOKEN)).toEqual([]);
      expect(leaks(everything, "MIIEowIBAAKCAQEAsecretkeymaterialQwErTyZx")).toEqual([]);
    }
  });

  it("accepts the two documented shapes", () => {
    expect(githubCredentialsFromSecret(JSON.stringify({ token: TOKEN }), "s")).toEqual({
      kind: "token",
      token: TOKEN,
    });
    expect(
      githubCredentialsFromSecret(
        JSON.stringify({ appId: 12345, installationId: "678", privateKey: PRIVATE_KEY }),
        "s",
      ),
    ).toEqual({ kind: "app", appId: "12345", installationId: 678, privateKey: PRIVATE_KEY });
  });
});
