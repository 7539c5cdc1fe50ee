import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { listExecutions } from "../../local/runtime.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import { CRITICAL_REPORT, EXAMPLE_DIR, startRuntime, tempDir } from "../helpers/local.js";

const SERVICES = ["proxy", "product", "counter", "barista", "kitchen", "web"];
const CLEAN_REPORT = JSON.stringify({
  SchemaVersion: 2,
  ArtifactName: "local",
  ArtifactType: "container_image",
  Results: [],
});

/**
 * Fake `docker` and `trivy` in `<dir>/bin`, logging each call (with its working directory) to
 * `<dir>/calls.log`. trivy's verdict depends on the image name: `critical` images get the CRITICAL
 * fixture and exit 10, `crash` images exit 1; the rest get a clean report.
 */
function fakeTools(
  dir: string,
  opts: { dockerInfoExit?: number; critical?: string[]; crash?: string[] } = {},
): { path: string; calls: () => string[] } {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  const log = join(dir, "calls.log");
  const clean = join(dir, "clean.json");
  writeFileSync(clean, CLEAN_REPORT);
  const pattern = (repos: string[] | undefined) =>
    repos?.length ? repos.map((r) => `${r}:*`).join("|") : "";
  writeFileSync(
    join(bin, "docker"),
    `#!/usr/bin/env bash
printf 'docker %s @ %s\\n' "$*" "$PWD" >> '${log}'
case "$1" in
  info) exit ${opts.dockerInfoExit ?? 0} ;;
  build) exit 0 ;;
  image)
    for last; do :; done
    printf 'sha256:%s\\n' "$(printf '%s' "$last" | sha256sum | cut -c1-64)" ;;
esac
`,
  );
  writeFileSync(
    join(bin, "trivy"),
    `#!/usr/bin/env bash
printf 'trivy %s\\n' "$*" >> '${log}'
if [ "$1" = --version ]; then echo "Version: 0.59.1"; exit 0; fi
out=""; prev=""
for a; do if [ "$prev" = --output ]; then out="$a"; fi; prev="$a"; image="$a"; done
case "$image" in
  ${pattern(opts.crash) || "__none__"}) echo "FATAL image scan error: db corrupt" >&2; exit 1 ;;
  ${pattern(opts.critical) || "__none__"}) cp '${CRITICAL_REPORT}' "$out"; exit 10 ;;
  *) cp '${clean}' "$out"; exit 0 ;;
esac
`,
  );
  chmodSync(join(bin, "docker"), 0o755);
  chmodSync(join(bin, "trivy"), 0o755);
  return {
    // Only the fakes and the basics: the machine's own docker or trivy must not answer.
    path: `${bin}:/usr/bin:/bin`,
    calls: () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []),
  };
}

describe("local build+scan with docker and trivy on PATH (fake tools, real ASL)", () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  async function setup(opts: Parameters<typeof fakeTools>[1] = {}) {
    const scratch = tempDir("pourover-tools-");
    const tools = fakeTools(scratch.path, opts);
    const source = join(scratch.path, "source");
    mkdirSync(source);
    const env = await startRuntime({ tools: { path: tools.path } });
    stop = async () => {
      await env.stop();
      scratch.cleanup();
    };
    return { ...env, tools, source };
  }

  it("engine + trivy + --source: each service built and scanned here, verdicts from trivy, given reports still win", async () => {
    const env = await setup({ critical: ["go-coffeeshop-kitchen"] });
    const webReport = join(EXAMPLE_DIR, "scan-reports", "web.json");
    expect(env.runtime.tools).toMatchObject({ docker: true, trivy: true });
    const out = await env.runtime.release({
      tag: "v3.0.0",
      source: env.source,
      scanReports: { web: webReport },
    });
    expect(out.status).toBe("FAILED");
    expect(out.error?.error).toBe("ScanPolicyRejectedError");
    const state = out.output as ReleaseState;
    const byService = Object.fromEntries((state.scans ?? []).map((s) => [s.service, s]));
    expect(Object.keys(byService).sort()).toEqual([...SERVICES].sort());
    expect(byService.kitchen?.verdict).toBe("REJECTED");
    expect(byService.kitchen?.blockingIds).toContain("CVE-2024-45337");
    for (const s of ["proxy", "product", "counter", "barista"]) {
      expect(byService[s]?.verdict, s).toBe("PASSED");
      expect(byService[s]?.scannedBy, s).toBe("trivy-local");
      // Nothing was pushed: a local image id is not a registry digest, so the image is pinned by tag only.
      expect(byService[s]?.image.digest, s).toBeUndefined();
    }
    expect(byService.kitchen?.scannedBy).toBe("trivy-local");
    expect(byService.web?.scannedBy).toBe("report-file");

    const calls = env.tools.calls();
    const builds = calls.filter((c) => c.startsWith("docker build"));
    expect(builds).toHaveLength(5);
    expect(builds).toContain(
      `docker build -f docker/Dockerfile-proxy -t go-coffeeshop-proxy:v3.0.0 --label org.opencontainers.image.version=v3.0.0 . @ ${env.source}`,
    );
    expect(calls.some((c) => c.includes("go-coffeeshop-web"))).toBe(false);
    const scans = calls.filter((c) => c.startsWith("trivy image"));
    expect(scans).toHaveLength(5);
    for (const scan of scans) {
      expect(scan).toMatch(
        /--format json --output \S+\/trivy\.json --severity CRITICAL,HIGH --exit-code 10 --scanners vuln go-coffeeshop-\w+:v3\.0\.0$/,
      );
    }
    expect(calls.filter((c) => c.startsWith("docker push"))).toEqual([]);

    const line = out.standIns.find((l) => l.startsWith("CodeBuild build+scan"));
    expect(line).toContain(
      `built with docker from ${env.source} (the checkout as it is) and scanned with trivy on this machine: proxy, product, counter, barista, kitchen`,
    );
    expect(line).toContain("nothing pushed; the digest is the local image id");
    expect(line).toContain("--scan-report for web");
    expect(line).not.toContain("SAMPLE");
  });

  it("a trivy crash (exit 1) is retried, then failed as a scanner crash, not a policy rejection", async () => {
    const env = await setup({ crash: ["go-coffeeshop-kitchen"] });
    const out = await env.runtime.release({ tag: "v3.1.0", source: env.source });
    expect(out.status).toBe("FAILED");
    expect(out.error?.error).toBe("ScanFailedError");
    expect(out.error?.cause).toMatch(
      /^kitchen: BUILD phase failed: .*local trivy failed with exit code 1.*db corrupt.*exit status 75/,
    );
    const kitchenScans = env.tools
      .calls()
      .filter((c) => c.startsWith("trivy image") && c.endsWith("go-coffeeshop-kitchen:v3.1.0"));
    expect(kitchenScans).toHaveLength(2);
    const [record] = await listExecutions(join(env.dir, "state"));
    const retried = (record?.history.events ?? []).filter(
      (e) =>
        e.type === "TaskRetried" &&
        (e as { retryDetails?: { name: string } }).retryDetails?.name === "BuildScanPush",
    );
    expect(retried).toHaveLength(1);
    expect(out.states.map((s) => s.name)).not.toContain("GateOnScan");
    const eml = readFileSync(out.emails[0] as string, "utf8");
    expect(eml).toContain("scan failed: kitchen, BUILD phase");
    expect(eml).not.toContain("blocked:");
  });

  it("a docker client without an engine: samples, and the output says there is no docker engine", async () => {
    const env = await setup({ dockerInfoExit: 1 });
    expect(env.runtime.tools).toMatchObject({ docker: false, trivy: true });
    const out = await env.runtime.release({ tag: "v3.2.0", source: env.source });
    expect(out.status).toBe("SUCCEEDED");
    const state = out.output as ReleaseState;
    expect(state.scans?.every((s) => s.scannedBy === "sample-report")).toBe(true);
    expect(
      env.tools.calls().filter((c) => c.startsWith("docker build") || c.startsWith("trivy image")),
    ).toEqual([]);
    const line = out.standIns.find((l) => l.startsWith("CodeBuild build+scan"));
    expect(line).toContain(
      `labelled SAMPLE reports for ${SERVICES.join(", ")} (nothing built or scanned: no docker engine)`,
    );
    expect(line).not.toContain("built with docker");
  });

  it("no --source: samples, and the output says a source checkout is missing", async () => {
    const env = await setup();
    expect(env.runtime.tools).toMatchObject({ docker: true, trivy: true });
    const out = await env.runtime.release({ tag: "v3.3.0" });
    expect(out.status).toBe("SUCCEEDED");
    const state = out.output as ReleaseState;
    expect(state.scans?.every((s) => s.scannedBy === "sample-report")).toBe(true);
    expect(env.tools.calls().filter((c) => c.startsWith("docker build"))).toEqual([]);
    const line = out.standIns.find((l) => l.startsWith("CodeBuild build+scan"));
    expect(line).toContain("nothing built or scanned: no --source checkout)");
    expect(env.runtime.standIns({}, env.source).find((l) => l.startsWith("CodeBuild"))).toContain(
      "scanned with trivy on this machine",
    );
  });
});
