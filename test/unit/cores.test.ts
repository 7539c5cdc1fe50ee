import { describe, expect, it } from "vitest";
import { gateOnScan } from "../../functions/gate-on-scan/gate-on-scan.js";
import { planRelease } from "../../functions/plan-release/plan-release.js";
import { recordOutcome } from "../../functions/record-outcome/record-outcome.js";
import { verifyDevDeploy } from "../../functions/verify-dev-deploy/verify-dev-deploy.js";
import type { ScanResult } from "../../shared/contracts/release.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
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
  counts: {},
  blocking:
    verdict === "REJECTED"
      ? [
          {
            id: "CVE-2024-45337",
            pkg: "x/crypto",
            installed: "0.21.0",
            fixed: "0.31.0",
            severity: "CRITICAL",
            title: "t",
          },
        ]
      : [],
  blockingOmitted: 0,
  allowed: [],
  warnings: [],
  report: "s3://b/k",
  scannedBy: "trivy",
});

describe("GateOnScan", () => {
  it("passes the images on by digest when every scan passed", () => {
    expect(gateOnScan({ scans: [scan("a", "PASSED"), scan("b", "PASSED")] }).images).toHaveLength(2);
  });
  it("one rejected service rejects the release and names its CVEs", () => {
    expect(() => gateOnScan({ scans: [scan("a", "PASSED"), scan("web", "REJECTED")] })).toThrow(
      /rejected 1 of 2 images: web: CVE-2024-45337 \(CRITICAL, x\/crypto 0\.21\.0 → 0\.31\.0\)/,
    );
  });
  it("no scans is bad input, not a pass", () => {
    expect(() => gateOnScan({ scans: [] })).toThrow(/no scan results/);
  });
});

describe("VerifyDev", () => {
  const reader = (statuses: { status: string; output?: string }[]) => ({
    read: async () =>
      statuses.map((s, i) => ({ instanceId: `i-${i}`, status: s.status as never, output: s.output ?? "" })),
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
