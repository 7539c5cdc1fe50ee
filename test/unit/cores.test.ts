import { describe, expect, it } from "vitest";
import {
  evaluateScan,
  findingsKey,
  SUMMARY_BLOCKING_IDS,
} from "../../functions/evaluate-scan/evaluate-scan.js";
import { gateOnScan } from "../../functions/gate-on-scan/gate-on-scan.js";
import { planRelease } from "../../functions/plan-release/plan-release.js";
import { recordOutcome } from "../../functions/record-outcome/record-outcome.js";
import { verifyDevDeploy } from "../../functions/verify-dev-deploy/verify-dev-deploy.js";
import type { ScanResult } from "../../shared/contracts/release.js";
import type { ReleaseState, ScanFindingsDocument } from "../../shared/contracts/release-state.js";
import type { FindingsStore } from "../../shared/ports/findings-store.js";
import type { LedgerRecord, OutcomeEntry, ReleaseLedger } from "../../shared/ports/index.js";
import { exampleConfig } from "../helpers/local.js";

const config = exampleConfig();
const registry = (digests: Record<string, string>) => ({
  digestOf: async (repo: string) => digests[repo] ?? null,
});
const noRegistry = registry({});

describe("PlanRelease", () => {
  const cli = { source: "cli" as const, pusher: "me" };

  it("resolves six services, their full repositories and the dev target from the config", async () => {
    const plan = await planRelease({ app: "coffeeshop", tag: "v1.2.3", trigger: cli }, config, {
      registry: noRegistry,
    });
    expect(plan.services.map((s) => s.name)).toEqual([
      "proxy",
      "product",
      "counter",
      "barista",
      "kitchen",
      "web",
    ]);
    expect(plan.services[5]?.repository).toBe(
      "123456789012.dkr.ecr.us-east-1.amazonaws.com/go-coffeeshop-web",
    );
    expect(plan.dev.targets).toEqual([
      { Key: "tag:Environment", Values: ["dev"] },
      { Key: "tag:App", Values: ["coffeeshop"] },
    ]);
    // The same selection as EC2 DescribeInstances filters, for WakeDevHost's Filters.
    expect(plan.dev.instanceFilters).toEqual([
      { Name: "tag:Environment", Values: ["dev"] },
      { Name: "tag:App", Values: ["coffeeshop"] },
      { Name: "instance-state-name", Values: ["pending", "running", "stopping", "stopped", "shutting-down"] },
    ]);
    expect(plan.scanEnv).toEqual({ severity: "CRITICAL,HIGH", ignoreUnfixed: "false", allowIds: "" });
    expect(plan.sourceVersion).toBe("v1.2.3");
  });

  it("builds the tagged commit when the trigger names it, the tag when it does not (create event)", async () => {
    const sha = "a".repeat(40);
    const github = {
      source: "github" as const,
      repository: "thangchung/go-coffeeshop",
      pusher: "me",
      deliveryId: "d1",
    };
    const withSha = await planRelease(
      { app: "coffeeshop", tag: "v1.2.3", trigger: { ...github, commit: sha } },
      config,
      { registry: noRegistry },
    );
    expect(withSha.sourceVersion).toBe(sha);
    const noSha = await planRelease(
      { app: "coffeeshop", tag: "v1.2.3", trigger: { ...github, commit: null } },
      config,
      { registry: noRegistry },
    );
    expect(noSha.sourceVersion).toBe("v1.2.3");
  });

  it("an ECR-triggered release waits until every service image of the tag is pushed, then pins each by its own digest", async () => {
    const d = (c: string) => `sha256:${c.repeat(64)}`;
    const ecr = { source: "ecr" as const, repository: "go-coffeeshop-web", digest: d("1") };
    const partial = registry({ "go-coffeeshop-proxy": d("2") });
    await expect(
      planRelease({ app: "coffeeshop", tag: "v2.0.0", trigger: ecr }, config, { registry: partial }),
    ).rejects.toMatchObject({
      name: "ImagesNotReadyError",
      message: expect.stringContaining("waiting for 4 of 6 images of v2.0.0: go-coffeeshop-product:v2.0.0"),
    });
    const all = registry(Object.fromEntries(config.services.map((s, i) => [s.repository, d(String(i + 2))])));
    const plan = await planRelease({ app: "coffeeshop", tag: "v2.0.0", trigger: ecr }, config, {
      registry: all,
    });
    expect(plan.services.find((s) => s.name === "web")?.digest).toBe(d("1"));
    expect(plan.services.find((s) => s.name === "proxy")?.digest).toBe(d("2"));
  });

  it("refuses another app, a bad tag and an ECR repository that is not a service", async () => {
    const deps = { registry: noRegistry };
    await expect(planRelease({ app: "other", tag: "v1.0.0", trigger: cli }, config, deps)).rejects.toThrow(
      /serves "coffeeshop"/,
    );
    await expect(
      planRelease({ app: "coffeeshop", tag: "latest", trigger: cli }, config, deps),
    ).rejects.toThrow(/v-prefixed/);
    const nginx = { source: "ecr" as const, repository: "nginx", digest: `sha256:${"b".repeat(64)}` };
    await expect(
      planRelease({ app: "coffeeshop", tag: "v1.0.0", trigger: nginx }, config, deps),
    ).rejects.toThrow(/not one of coffeeshop's services/);
  });
});

const scan = (service: string, verdict: "PASSED" | "REJECTED"): ScanResult => ({
  service,
  image: { repository: `r/${service}`, tag: "v1.0.0", digest: `sha256:${"c".repeat(64)}` },
  verdict,
  counts: verdict === "REJECTED" ? { CRITICAL: 1, LOW: 4 } : {},
  blockingIds: verdict === "REJECTED" ? ["CVE-2024-45337"] : [],
  blockingOmitted: 0,
  blockingCounts: verdict === "REJECTED" ? { CRITICAL: 1 } : {},
  allowed: [],
  warnings: [],
  report: "s3://b/k",
  findings: "s3://b/f",
  scannedBy: "trivy",
});

describe("GateOnScan", () => {
  it("passes the images on by digest when every scan passed", () => {
    expect(gateOnScan({ scans: [scan("a", "PASSED"), scan("b", "PASSED")] }).images).toHaveLength(2);
  });
  it("one rejected service rejects the release and names its CVEs", () => {
    expect(() => gateOnScan({ scans: [scan("a", "PASSED"), scan("web", "REJECTED")] })).toThrow(
      /rejected 1 of 2 images: web: CVE-2024-45337 \(1 CRITICAL\)$/,
    );
  });
  it("no scans is bad input, not a pass", () => {
    expect(() => gateOnScan({ scans: [] })).toThrow(/no scan results/);
  });
  it("60 rejected services: the message names 10 services and 5 ids each, and counts the rest (a failure's cause is capped at 32,768 characters)", () => {
    const scans = Array.from({ length: 60 }, (_, i) => ({
      ...scan(`svc-${i}`, "REJECTED"),
      blockingIds: Array.from({ length: 10 }, (_, j) => `CVE-2026-${10_000 + i * 100 + j}`),
      blockingOmitted: 40,
      blockingCounts: { CRITICAL: 25, HIGH: 25 },
    }));
    let message = "";
    try {
      gateOnScan({ scans });
    } catch (error) {
      expect((error as Error).name).toBe("ScanPolicyRejectedError");
      message = (error as Error).message;
    }
    expect(message).toMatch(
      /^scan policy rejected 60 of 60 images: svc-0: CVE-2026-10000, CVE-2026-10001, CVE-2026-10002, CVE-2026-10003, CVE-2026-10004 and 45 more \(25 CRITICAL, 25 HIGH\); svc-1: /,
    );
    expect(message).toContain("svc-9: CVE-2026-10900");
    expect(message).not.toContain("svc-10:");
    expect(message).toMatch(/; and 50 more rejected services$/);
    expect(message.length).toBeLessThan(2048);
  });
  it("allow-list warnings are the same for every service: each is handed on once", () => {
    const warned = (name: string) => ({
      ...scan(name, "PASSED"),
      warnings: ["allow-list entry CVE-1 expires on 2026-12-01"],
    });
    expect(gateOnScan({ scans: [warned("a"), warned("b"), warned("c")] }).warnings).toEqual([
      "allow-list entry CVE-1 expires on 2026-12-01",
    ]);
  });
});

describe("EvaluateScan", () => {
  const finding = (j: number) => ({
    VulnerabilityID: `CVE-2026-${1000 + j}`,
    PkgName: `pkg-${j}`,
    InstalledVersion: "1.0.0",
    FixedVersion: "1.0.1",
    Severity: j % 5 === 0 ? "CRITICAL" : j % 5 === 1 ? "LOW" : "HIGH",
    Title: `title ${j} ${"t".repeat(190)}`,
  });
  const trivyReport = (n: number) =>
    JSON.stringify({
      SchemaVersion: 2,
      ArtifactName: "r/web:v1.0.0",
      Results: [{ Target: "web", Vulnerabilities: Array.from({ length: n }, (_, j) => finding(j)) }],
    });
  const input = (service = "web") => ({
    app: "coffeeshop",
    tag: "v1.0.0",
    service: { name: service, repository: "123456789012.dkr.ecr.us-east-1.amazonaws.com/web", tag: "v1.0.0" },
    scan: { failOn: ["CRITICAL", "HIGH"], ignoreUnfixed: false, allow: [] },
    build: {
      buildId: "b:1",
      status: "SUCCEEDED",
      exported: [
        { Name: "REPORT_URI", Value: "s3://reports/coffeeshop/v1.0.0/web/trivy.json" },
        { Name: "SCAN_EXIT_CODE", Value: "1" },
        { Name: "IMAGE_DIGEST", Value: `sha256:${"e".repeat(64)}` },
      ],
    },
  });
  const memoryStore = () => {
    const puts: { key: string; body: string }[] = [];
    const store: FindingsStore = {
      put: async (key, document) => {
        puts.push({ key, body: JSON.stringify(document) });
        return `s3://reports/${key}`;
      },
      read: async () => {
        throw new Error("not read by EvaluateScan");
      },
    };
    return { puts, store };
  };
  const clock = { now: () => new Date("2026-12-01T10:00:00.000Z") };
  const reportsOf = (text: string) => ({ read: async () => text });

  it("stores every finding next to the report and returns a summary with the 10 most severe ids, counts and the reference", async () => {
    const { puts, store } = memoryStore();
    const out = await evaluateScan(input(), { reports: reportsOf(trivyReport(50)), findings: store, clock });
    expect(puts.map((p) => p.key)).toEqual(["coffeeshop/v1.0.0/web/findings.json"]);
    const stored = JSON.parse(puts[0]?.body ?? "{}") as ScanFindingsDocument;
    // 10 CRITICAL + 30 HIGH block; 10 LOW do not.
    expect(stored.blocking).toHaveLength(40);
    expect(stored.blocking[0]).toEqual({
      id: "CVE-2026-1000",
      pkg: "pkg-0",
      installed: "1.0.0",
      fixed: "1.0.1",
      severity: "CRITICAL",
      title: expect.stringMatching(/^title 0 t+$/),
    });
    expect(stored).toMatchObject({ app: "coffeeshop", tag: "v1.0.0", service: "web", verdict: "REJECTED" });
    expect(out).toMatchObject({
      verdict: "REJECTED",
      counts: { CRITICAL: 10, HIGH: 30, LOW: 10 },
      blockingCounts: { CRITICAL: 10, HIGH: 30 },
      blockingOmitted: 30,
      findings: "s3://reports/coffeeshop/v1.0.0/web/findings.json",
      report: "s3://reports/coffeeshop/v1.0.0/web/trivy.json",
      image: { digest: `sha256:${"e".repeat(64)}` },
    });
    expect(out.blockingIds).toEqual(
      [0, 5, 10, 15, 20, 25, 30, 35, 40, 45].map((j) => `CVE-2026-${1000 + j}`),
    );
    expect(out.blockingIds).toHaveLength(SUMMARY_BLOCKING_IDS);
    // No titles, packages or versions in the state: the summary stays small whatever the report holds.
    expect(Buffer.byteLength(JSON.stringify(out), "utf8")).toBeLessThan(1024);
    expect(JSON.stringify(out)).not.toContain("pkg-");
  });

  it("a retried evaluation writes the same key with the same content (idempotent)", async () => {
    const { puts, store } = memoryStore();
    const deps = { reports: reportsOf(trivyReport(12)), findings: store, clock };
    const first = await evaluateScan(input(), deps);
    const second = await evaluateScan(input(), deps);
    expect(second).toEqual(first);
    expect(puts).toHaveLength(2);
    expect(puts[1]).toEqual(puts[0]);
  });

  it("a passing scan stores its (empty) blocking list too and lists no ids", async () => {
    const { puts, store } = memoryStore();
    const clean = JSON.stringify({ SchemaVersion: 2, ArtifactName: "r/web:v1.0.0", Results: [] });
    const out = await evaluateScan(input(), { reports: reportsOf(clean), findings: store, clock });
    expect(out).toMatchObject({ verdict: "PASSED", blockingIds: [], blockingOmitted: 0, blockingCounts: {} });
    expect(puts).toHaveLength(1);
  });

  it("a service name that is not one path segment never becomes a key elsewhere in the bucket", async () => {
    const { puts, store } = memoryStore();
    await expect(
      evaluateScan(input("../other-app"), { reports: reportsOf(trivyReport(1)), findings: store, clock }),
    ).rejects.toMatchObject({ name: "InvalidInputError" });
    expect(puts).toEqual([]);
    expect(() => findingsKey("coffeeshop", "..", "web")).toThrow(/tag "\.\." is not one path segment/);
    expect(findingsKey("coffeeshop", "v1.2.3-rc.1", "web")).toBe("coffeeshop/v1.2.3-rc.1/web/findings.json");
  });

  it.each([
    [
      "a severity Trivy never writes",
      JSON.stringify({
        SchemaVersion: 2,
        ArtifactName: "r/web:v1.0.0",
        Results: [{ Target: "web", Vulnerabilities: [{ ...finding(0), Severity: "SEVERE" }] }],
      }),
    ],
    ["not a Trivy report", JSON.stringify({ hello: "world" })],
    ["not JSON", "<html>502</html>"],
  ])(
    "%s fails as a scanner failure (ScanFailedError), never a verdict, and stores nothing",
    async (_what, text) => {
      const { puts, store } = memoryStore();
      await expect(
        evaluateScan(input(), { reports: reportsOf(text), findings: store, clock }),
      ).rejects.toMatchObject({
        name: "ScanFailedError",
      });
      expect(puts).toEqual([]);
    },
  );

  it("a store that fails fails the evaluation (no summary pointing at nothing)", async () => {
    const failing: FindingsStore = {
      put: async () => {
        throw Object.assign(new Error("Access Denied"), { name: "AccessDenied" });
      },
      read: async () => {
        throw new Error("unused");
      },
    };
    await expect(
      evaluateScan(input(), { reports: reportsOf(trivyReport(3)), findings: failing, clock }),
    ).rejects.toMatchObject({ name: "AccessDenied" });
  });
});

describe("VerifyDev", () => {
  const reader = (statuses: { status: string; output?: string }[]) => ({
    read: async () => ({
      // As ListCommands answers once SSM has resolved the tag targets.
      command: {
        status: statuses.length === 0 ? "Success" : "InProgress",
        statusDetails: statuses.length === 0 ? "No Instances In Tag" : "In Progress",
        targetCount: statuses.length,
        requestedAt: new Date(),
        deliveryTimeoutSeconds: 120,
      },
      invocations: statuses.map((s, i) => ({
        instanceId: `i-${i}`,
        status: s.status as never,
        output: s.output ?? "",
      })),
    }),
    cancel: async () => {},
  });
  it("running: 'retry after' as DevDeployInProgressError", async () => {
    await expect(
      verifyDevDeploy(
        { commandId: "c" },
        { reader: reader([{ status: "Success" }, { status: "InProgress" }]) },
      ),
    ).rejects.toMatchObject({
      name: "DevDeployInProgressError",
    });
  });
  it("no invocation: NoDevInstancesError", async () => {
    await expect(verifyDevDeploy({ commandId: "c" }, { reader: reader([]) })).rejects.toMatchObject({
      name: "NoDevInstancesError",
    });
  });
  it("a failed host: DevDeployFailedError with its last output line", async () => {
    await expect(
      verifyDevDeploy(
        { commandId: "c" },
        { reader: reader([{ status: "Failed", output: 'x\n{"status":"rolled-back"}' }]) },
      ),
    ).rejects.toThrow(/i-0 Failed \{"status":"rolled-back"\}/);
  });
  it("all succeeded: per-instance results, dry run detected", async () => {
    const res = await verifyDevDeploy(
      { commandId: "c" },
      { reader: reader([{ status: "Success", output: '{"status":"dry-run"}' }]) },
    );
    expect(res).toEqual({
      instances: [{ instanceId: "i-0", status: "Success", summary: '{"status":"dry-run"}' }],
      dryRun: true,
    });
  });
});

describe("RecordOutcome", () => {
  class MemoryLedger implements ReleaseLedger {
    entries: OutcomeEntry[] = [];
    async claim() {}
    async record(e: OutcomeEntry) {
      this.entries.push(e);
    }
    async get(): Promise<LedgerRecord | null> {
      return null;
    }
  }
  const base: ReleaseState = {
    app: "coffeeshop",
    tag: "v1.0.0",
    trigger: { source: "cli", pusher: "me" },
    force: false,
  };
  const clock = { now: () => new Date("2026-11-26T10:00:00Z") };

  it("no error: SUCCEEDED and a Release Succeeded event; an email failure does not change that", async () => {
    const ledger = new MemoryLedger();
    const events: { detailType: string }[] = [];
    const res = await recordOutcome(
      {
        release: { ...base, notificationError: { Error: "NotificationFailedError", Cause: "throttled" } },
        executionId: "e1",
      },
      { ledger, clock, events: { publish: async (e) => void events.push(e) } },
    );
    expect(res).toEqual({ status: "SUCCEEDED", finishedAt: "2026-11-26T10:00:00.000Z" });
    expect(ledger.entries[0]?.summary).toMatchObject({ notified: false, notificationError: "throttled" });
    expect(events[0]?.detailType).toBe("Release Succeeded");
  });

  it("a caught error: FAILED with the error parsed from a Lambda Cause", async () => {
    const ledger = new MemoryLedger();
    const cause = JSON.stringify({ errorType: "ScanPolicyRejectedError", errorMessage: "web: CVE-1" });
    const res = await recordOutcome(
      { release: { ...base, error: { Error: "ScanPolicyRejectedError", Cause: cause } }, executionId: "e1" },
      { ledger, clock, events: { publish: async () => {} } },
    );
    expect(res.status).toBe("FAILED");
    expect(ledger.entries[0]?.summary.error).toEqual({
      name: "ScanPolicyRejectedError",
      message: "web: CVE-1",
    });
  });
});
