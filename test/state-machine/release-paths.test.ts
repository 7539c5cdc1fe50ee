import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { DeployRunner } from "../../local/local-tasks.js";
import { initManifestRepo } from "../../shared/adapters/local/git-manifest-repository.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import type { EmailMessage, Mailer } from "../../shared/ports/index.js";
import { CRITICAL_REPORT, manifestsSeedAt, startRuntime } from "../helpers/local.js";

/** Every release path (happy, duplicate, each failure) through the real ASL in aws-local-stepfunctions, with local adapters. */
describe("release workflow paths (real ASL, local engine)", () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  const visited = (states: { name: string }[]) => [...new Set(states.map((s) => s.name))];

  it("happy path: six images scanned, one commit and PR, dev deploy, success email, recorded", async () => {
    const env = await startRuntime();
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v1.0.0" });
    expect(out.status).toBe("SUCCEEDED");
    expect(out.transitions).toBeLessThanOrEqual(40);
    expect(visited(out.states)).toEqual(
      expect.arrayContaining([
        "ClaimRelease",
        "PlanRelease",
        "BuildScanPush",
        "EvaluateScan",
        "GateOnScan",
        "UpdateManifests",
        "DeployDev",
        "VerifyDev",
        "NotifySuccess",
        "RecordOutcome",
        "Released",
      ]),
    );
    expect(out.pullRequest?.branch).toBe("release/coffeeshop/v1.0.0");
    expect(out.pullRequest?.changedFiles).toHaveLength(7);
    expect(out.emails).toHaveLength(1);
    expect(readFileSync(out.emails[0] as string, "utf8")).toContain(
      "Subject: [coffeeshop] v1.0.0 ready: dev deploy was a dry run",
    );
    const record = await env.runtime.ledger.get("coffeeshop", "v1.0.0");
    expect(record?.status).toBe("SUCCEEDED");
    const state = out.output as ReleaseState;
    expect(state.scans?.every((s) => s.scannedBy === "sample-report")).toBe(true);
    expect(state.gate?.images.every((i) => /^sha256:[a-f0-9]{64}$/.test(i.digest ?? ""))).toBe(true);
  });

  it("duplicate: the second claim of app#tag ends DUPLICATE with no side effect", async () => {
    const env = await startRuntime();
    stop = env.stop;
    const first = await env.runtime.release({ tag: "v1.0.1" });
    const second = await env.runtime.release({ tag: "v1.0.1" });
    expect(first.status).toBe("SUCCEEDED");
    expect(second.status).toBe("DUPLICATE");
    expect(visited(second.states)).toEqual(["ClaimRelease", "Duplicate"]);
    expect(second.emails).toHaveLength(0);
    expect(second.pullRequest).toBeUndefined();
    expect((await env.runtime.ledger.get("coffeeshop", "v1.0.1"))?.executionId).toBe(first.executionId);
  });

  it("scan rejected: no PR, no deploy, failure email naming the CVE, recorded FAILED", async () => {
    const env = await startRuntime();
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v1.1.0", scanReports: { web: CRITICAL_REPORT } });
    expect(out.status).toBe("FAILED");
    expect(out.error?.error).toBe("ScanPolicyRejectedError");
    expect(out.pullRequest).toBeUndefined();
    expect(visited(out.states)).not.toContain("UpdateManifests");
    expect(visited(out.states)).not.toContain("DeployDev");
    const eml = readFileSync(out.emails[0] as string, "utf8");
    expect(eml).toContain("blocked: 1 critical, 1 high vulnerabilities");
    expect(eml).toContain("CVE-2024-45337");
    expect((await env.runtime.ledger.get("coffeeshop", "v1.1.0"))?.status).toBe("FAILED");
  });

  it("manifest update failed: a newer version already pinned is refused, failure email, FAILED", async () => {
    const manifests = await startRuntime();
    const repoDir = join(manifests.dir, "gitops");
    await initManifestRepo(repoDir, manifestsSeedAt("v9.0.0", manifests.dir), "main");
    await manifests.runtime.close();
    const env = await startRuntime({ manifestsDir: repoDir });
    stop = async () => {
      await env.stop();
      await manifests.stop().catch(() => {});
    };
    const out = await env.runtime.release({ tag: "v1.2.0" });
    expect(out.status).toBe("FAILED");
    expect(out.error?.error).toBe("VersionRegressionError");
    expect(out.error?.cause).toMatch(/v9\.0\.0/);
    expect(visited(out.states)).not.toContain("DeployDev");
    expect(readFileSync(out.emails[0] as string, "utf8")).toContain("manifest update failed");
  });

  it("deploy failed: the host's failure (after its rollback) fails the release with its output", async () => {
    const failing: DeployRunner = {
      mode: "custom",
      run: async () => ({
        instanceId: "i-0123456789abcdef0",
        status: "Failed",
        output: 'health check failed for http://localhost:8888/\n{"status":"rolled-back","rollback":"ok"}',
      }),
    };
    const env = await startRuntime({ deployRunner: failing });
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v1.3.0" });
    expect(out.status).toBe("FAILED");
    expect(out.error?.error).toBe("DevDeployRolledBackError");
    expect(out.error?.cause).toContain("rolled-back");
    expect(out.pullRequest?.commit).toMatch(/^[a-f0-9]{40}$/);
    expect(readFileSync(out.emails[0] as string, "utf8")).toContain("dev deploy failed");
  });

  it("no dev instance matched: its own named error", async () => {
    const env = await startRuntime({ deployRunner: { mode: "custom", run: async () => null } });
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v1.3.1" });
    expect(out.error?.error).toBe("NoDevInstancesError");
  });

  it("email failed: retried, then recorded; the release still SUCCEEDS", async () => {
    const attempts: EmailMessage[] = [];
    const broken: Mailer = {
      send: async (m) => {
        attempts.push(m);
        const error = new Error("Throttling: Maximum sending rate exceeded");
        error.name = "NotificationFailedError";
        throw error;
      },
    };
    const env = await startRuntime({ mailer: broken });
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v1.4.0" });
    expect(out.status).toBe("SUCCEEDED");
    expect(attempts.length).toBe(4); // first try + 3 retries of NotificationFailedError
    const record = await env.runtime.ledger.get("coffeeshop", "v1.4.0");
    expect(record?.status).toBe("SUCCEEDED");
    expect(record?.summary?.notified).toBe(false);
    expect(String(record?.summary?.notificationError)).toContain("Maximum sending rate");
  });

  it("a FAILED release can be released again; a SUCCEEDED one cannot", async () => {
    const env = await startRuntime();
    stop = env.stop;
    expect((await env.runtime.release({ tag: "v1.5.0", scanReports: { web: CRITICAL_REPORT } })).status).toBe(
      "FAILED",
    );
    expect((await env.runtime.release({ tag: "v1.5.0" })).status).toBe("SUCCEEDED");
    expect((await env.runtime.release({ tag: "v1.5.0" })).status).toBe("DUPLICATE");
  });
});
