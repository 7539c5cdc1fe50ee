import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { sdkStreamMixin } from "@smithy/core/serde";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { S3FindingsStore } from "../../shared/adapters/aws/s3-findings-store.js";
import { DirectoryFindingsStore } from "../../shared/adapters/local/directory-findings-store.js";
import type { ScanFindingsDocument } from "../../shared/contracts/release-state.js";
import { tempDir } from "../helpers/local.js";

const document: ScanFindingsDocument = {
  app: "coffeeshop",
  tag: "v1.4.0",
  service: "web",
  image: { repository: "123456789012.dkr.ecr.us-east-1.amazonaws.com/go-coffeeshop-web", tag: "v1.4.0" },
  verdict: "REJECTED",
  counts: { CRITICAL: 1, MEDIUM: 2 },
  blocking: [
    {
      id: "CVE-2024-45337",
      pkg: "golang.org/x/crypto",
      installed: "v0.21.0",
      fixed: "0.31.0",
      severity: "CRITICAL",
      title: "golang.org/x/crypto/ssh: Misuse of ServerConfig.PublicKeyCallback — é",
    },
  ],
  allowed: [],
  warnings: [],
  report: "s3://pourover-reports/coffeeshop/v1.4.0/web/trivy.json",
  scannedBy: "trivy",
  evaluatedAt: "2026-12-01T10:00:00.000Z",
};
const KEY = "coffeeshop/v1.4.0/web/findings.json";
const etag = (body: string) => `"${createHash("md5").update(body).digest("hex")}"`;
const metadata = (httpStatusCode: number) => ({
  httpStatusCode,
  requestId: "4442587FB7D0A2F9",
  extendedRequestId: "gw1+2bUJ6OmWY1ozN0d7+Ce3BpC4NUx1JG0VTrP8r7nsbvw0XxbAzGd/6S6cSRzLDp1sXqPnSdU=",
  attempts: 1,
  totalRetryDelay: 0,
});

/** A GetObject output as the SDK gives it in Node: the body is an IncomingMessage-like stream with the SDK's mixin. */
function getObjectOutput(body: string) {
  return {
    $metadata: metadata(200),
    AcceptRanges: "bytes",
    LastModified: new Date("2026-12-01T10:00:01.000Z"),
    ContentLength: Buffer.byteLength(body, "utf8"),
    ETag: etag(body),
    ContentType: "application/json",
    ServerSideEncryption: "AES256" as const,
    Metadata: {},
    Body: sdkStreamMixin(Readable.from([Buffer.from(body, "utf8")])),
  };
}

describe("S3FindingsStore (S3 SDK boundary mocked)", () => {
  const s3 = mockClient(S3Client);
  beforeEach(() => s3.reset());
  afterEach(() => s3.reset());
  const store = () => new S3FindingsStore(new S3Client({ region: "us-east-1" }), "pourover-reports");

  it("put: one PutObject of the JSON document at the key, in the reports bucket; returns its s3:// location", async () => {
    s3.on(PutObjectCommand).resolves({
      $metadata: metadata(200),
      ETag: etag(JSON.stringify(document)),
      ServerSideEncryption: "AES256",
    });
    const location = await store().put(KEY, document);
    expect(location).toBe(`s3://pourover-reports/${KEY}`);
    const calls = s3.commandCalls(PutObjectCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      Bucket: "pourover-reports",
      Key: KEY,
      Body: JSON.stringify(document),
      ContentType: "application/json",
    });
    expect(s3.calls()).toHaveLength(1);
  });

  it("put twice (a retried task): the same key both times, nothing else written", async () => {
    s3.on(PutObjectCommand).resolves({ $metadata: metadata(200), ETag: etag("x") });
    const a = await store().put(KEY, document);
    const b = await store().put(KEY, document);
    expect(b).toBe(a);
    const keys = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key);
    expect(keys).toEqual([KEY, KEY]);
  });

  it("put: an S3 error (AccessDenied) propagates, so EvaluateScan fails instead of pointing at nothing", async () => {
    s3.on(PutObjectCommand).rejects(
      Object.assign(new Error("Access Denied"), { name: "AccessDenied", $metadata: metadata(403) }),
    );
    await expect(store().put(KEY, document)).rejects.toMatchObject({ name: "AccessDenied" });
  });

  it("read: GetObject of the key behind the location; the document comes back whole (UTF-8 kept)", async () => {
    s3.on(GetObjectCommand, { Bucket: "pourover-reports", Key: KEY }).resolves(
      getObjectOutput(JSON.stringify(document)),
    );
    expect(await store().read(`s3://pourover-reports/${KEY}`)).toEqual(document);
    expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: "pourover-reports",
      Key: KEY,
    });
  });

  it("read: another bucket is refused without a call; a missing object is S3's NoSuchKey; junk is not a document", async () => {
    await expect(store().read(`s3://someone-else/${KEY}`)).rejects.toThrow(/not in the reports bucket/);
    await expect(store().read("s3://pourover-reports/")).rejects.toThrow(/not in the reports bucket/);
    expect(s3.calls()).toHaveLength(0);

    s3.on(GetObjectCommand).rejectsOnce(
      new NoSuchKey({ message: "The specified key does not exist.", $metadata: metadata(404) }),
    );
    await expect(store().read(`s3://pourover-reports/${KEY}`)).rejects.toMatchObject({ name: "NoSuchKey" });

    s3.on(GetObjectCommand).resolves(getObjectOutput('{"service":"web"}'));
    await expect(store().read(`s3://pourover-reports/${KEY}`)).rejects.toMatchObject({
      name: "InvalidInputError",
      message: expect.stringContaining("not a findings document"),
    });
  });
});

describe("DirectoryFindingsStore (local: under the state dir)", () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => {
    dir = tempDir("pourover-findings-");
  });
  afterEach(() => dir.cleanup());

  it("put writes the document at the key under its folder and returns a file:// location that reads back", async () => {
    const root = join(dir.path, "reports");
    const store = new DirectoryFindingsStore(root);
    const location = await store.put(KEY, document);
    const path = join(root, KEY);
    expect(location).toBe(pathToFileURL(path).href);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual(document);
    expect(await store.read(location)).toEqual(document);
    // Overwritten in place on a retry; no partial files left behind.
    await store.put(KEY, { ...document, verdict: "PASSED", blocking: [] });
    expect((await store.read(location)).verdict).toBe("PASSED");
    expect(readdirSync(join(root, "coffeeshop", "v1.4.0", "web"))).toEqual(["findings.json"]);
  });

  it("a key or a location outside its folder is refused", async () => {
    const store = new DirectoryFindingsStore(join(dir.path, "reports"));
    await expect(store.put("../escape.json", document)).rejects.toThrow(/escapes the store/);
    expect(existsSync(join(dir.path, "escape.json"))).toBe(false);
    await expect(store.read(pathToFileURL(join(dir.path, "other.json")).href)).rejects.toThrow(
      /not in the local findings folder/,
    );
    await expect(store.read(`s3://pourover-reports/${KEY}`)).rejects.toThrow(/file:\/\//);
  });
});
