import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { listExecutions } from "../../local/runtime.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import { CRITICAL_REPORT, startRuntime } from "../helpers/local.js";

const SERVICES = ["proxy", "product", "counter", "barista", "kitchen", "web"];

/** The build/scan/gate part of the workflow through the real ASL (Map, retries, catches) locally. */
describe("build, scan and gate (real ASL, local engine)", () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  const visited = (states: { name: string }[]) => [...new Set(states.map((s) => s.name))];

  it("all six pass: six scans, every image pinned by digest, one PR", async () => {
    const env = await startRuntime();
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v2.0.0" });
    expect(out.status).toBe("SUCCEEDED");
    const state = out.output as ReleaseState;
    expect(state.scans?.map((s) => s.service).sort()).toEqual([...SERVICES].sort());
    expect(state.scans?.every((s) => s.verdict === "PASSED")).toBe(true);
    expect(state.gate?.images.map((i) => i.service).sort()).toEqual([...SERVICES].sort());
    expect(state.gate?.images.every((i) => /^sha256:[a-f0-9]{64}$/.test(i.digest ?? ""))).toBe(true);
    expect(out.states.filter((s) => s.name === "EvaluateScan")).toHaveLength(6);
    expect(visited(out.states)).not.toContain("DescribeBuildFailure");
    expect(out.pullRequest?.branch).toBe("release/coffeeshop/v2.0.0");
  });

  it("one of six rejected: nothing pinned, no PR, failure email and output with the CVE ids per service", async () => {
    const env = await startRuntime();
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v2.1.0", scanReports: { web: CRITICAL_REPORT } });
    expect(out.status).toBe("FAILED");
    expect(out.error?.error).toBe("ScanPolicyRejectedError");
    // The other five passed; the gate rejected the release as a whole.
    const state = out.output as ReleaseState;
    const verdicts = Object.fromEntries((state.scans ?? []).map((s) => [s.service, s.verdict]));
    expect(verdicts).toEqual({ ...Object.fromEntries(SERVICES.map((s) => [s, "PASSED"])), web: "REJECTED" });
    // Execution output: per service, the blocking CVE ids (in the scans and in the error).
    const web = state.scans?.find((s) => s.service === "web");
    expect(web?.blockingIds).toEqual(["CVE-2024-45337", "CVE-2023-5363"]);
    expect(out.error?.cause).toBe(
      "scan policy rejected 1 of 6 images: web: CVE-2024-45337, CVE-2023-5363 (1 CRITICAL, 1 HIGH)",
    );
    // The state carries the ids; the packages and versions are in the findings next to the report.
    expect(web?.findings).toMatch(/^file:\/\/.*\/reports\/coffeeshop\/v2\.1\.0\/web\/findings\.json$/);
    const stored = JSON.parse(readFileSync(fileURLToPath(web?.findings as string), "utf8"));
    expect(stored.blocking.map((f: { pkg: string }) => f.pkg)).toEqual(["golang.org/x/crypto", "libcrypto3"]);
    expect(out.error?.cause).not.toContain("CVE-2025-22871"); // MEDIUM: below the threshold
    // Nothing pinned or deployed: the gate produced no images, no manifest state ran.
    expect(state.gate).toBeUndefined();
    expect(out.pullRequest).toBeUndefined();
    expect(visited(out.states)).not.toContain("UpdateManifests");
    expect(visited(out.states)).not.toContain("DeployDev");
    expect(out.emails).toHaveLength(1);
    const eml = readFileSync(out.emails[0] as string, "utf8");
    expect(eml).toContain("CVE-2024-45337");
    expect(eml).toContain("CVE-2023-5363");
    expect((await env.runtime.ledger.get("coffeeshop", "v2.1.0"))?.status).toBe("FAILED");
  });

  it("scanner crash: retried once, then failed as ScanFailedError naming the phase, not as a rejection", async () => {
    const env = await startRuntime({ buildOverrides: { kitchen: { scannerExitCode: 2 } } });
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v2.2.0" });
    expect(out.status).toBe("FAILED");
    expect(out.error?.error).toBe("ScanFailedError");
    expect(out.error?.error).not.toBe("ScanPolicyRejectedError");
    expect(out.error?.cause).toMatch(
      /^kitchen: BUILD phase failed: .*scanner exit code was overridden to 2.*exit status 75/,
    );
    expect(visited(out.states)).toEqual(expect.arrayContaining(["BuildScanPush", "DescribeBuildFailure"]));
    expect(visited(out.states)).not.toContain("GateOnScan");
    expect(out.pullRequest).toBeUndefined();

    const [record] = await listExecutions(join(env.dir, "state"));
    const events = record?.history.events ?? [];
    const retried = events.filter(
      (e) =>
        e.type === "TaskRetried" &&
        (e as { retryDetails?: { name: string } }).retryDetails?.name === "BuildScanPush",
    );
    expect(retried).toHaveLength(1);
    // The crash was retried before it was caught and described.
    const failedBuilds = events.filter(
      (e) =>
        e.type === "TaskFailed" &&
        (e as { taskFailedEventDetails?: { resource: string } }).taskFailedEventDetails?.resource ===
          "BuildScanPush",
    );
    expect(failedBuilds.length).toBeGreaterThanOrEqual(1);

    const eml = readFileSync(out.emails[0] as string, "utf8");
    expect(eml).toContain("scan failed: kitchen, BUILD phase");
    expect(eml).not.toContain("blocked:");
  });

  it("a scanner exit code of 10 is a verdict, not a crash: the report decides", async () => {
    const env = await startRuntime({ buildOverrides: { web: { scannerExitCode: 10 } } });
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v2.3.0", scanReports: { web: CRITICAL_REPORT } });
    expect(out.error?.error).toBe("ScanPolicyRejectedError");
    expect(visited(out.states)).not.toContain("DescribeBuildFailure");
  });
});
