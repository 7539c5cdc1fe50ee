import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { REPO_ROOT } from "./synth-helper.js";

interface Buildspec {
  version: number | string;
  cache?: { paths: string[] };
  env: { shell?: string; variables: Record<string, string>; "exported-variables": string[] };
  phases: Record<string, { commands: string[]; "on-failure"?: string }>;
}

const load = (file: string): Buildspec =>
  parseYaml(readFileSync(join(REPO_ROOT, "infra", "buildspecs", file), "utf8")) as Buildspec;
const REFRESH = load("refresh-trivy-db.yml");
const SPECS = {
  "build-scan-push.yml": load("build-scan-push.yml"),
  "scan-image.yml": load("scan-image.yml"),
};
const commandsOf = (spec: Buildspec) =>
  Object.values(spec.phases)
    .flatMap((p) => p.commands)
    .join("\n");
const HAS_SHELLCHECK = spawnSync("shellcheck", ["--version"]).status === 0;

/** Runs an install phase with a Trivy cache holding a DB updated at `dbUpdatedAt` (null: no DB) and a cached tarball. */
function runInstall(install: string, dbUpdatedAt: string | null) {
  const dir = mkdtempSync(join(tmpdir(), "buildspec-install-"));
  const bin = join(dir, "bin");
  const cache = join(dir, "cache");
  mkdirSync(bin);
  mkdirSync(join(cache, "db"), { recursive: true });
  mkdirSync(join(cache, "dist"), { recursive: true });
  const calls = join(dir, "calls.log");
  for (const name of ["curl", "tar", "sha256sum", "trivy"]) {
    writeFileSync(
      join(bin, name),
      `#!/usr/bin/env bash\necho "${name} $*" >> "${calls}"\ncat > /dev/null 2>&1 || true\n`,
    );
    chmodSync(join(bin, name), 0o755);
  }
  writeFileSync(join(cache, "dist", "trivy_0.59.1_Linux-64bit.tar.gz"), "cached tarball");
  writeFileSync(join(cache, "dist", "trivy_0.59.1_checksums.txt"), "abc  trivy_0.59.1_Linux-64bit.tar.gz\n");
  if (dbUpdatedAt) {
    writeFileSync(join(cache, "db", "trivy.db"), "db");
    writeFileSync(join(cache, "db", "metadata.json"), JSON.stringify({ Version: 2, UpdatedAt: dbUpdatedAt }));
  }
  const env = {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: dir,
    TRIVY_VERSION: "0.59.1",
    TRIVY_SHA256: "",
    TRIVY_CACHE_DIR: cache,
    TRIVY_DIST_DIR: join(cache, "dist"),
    TRIVY_DB_MAX_AGE_DAYS: "3",
    SCANNER_ERROR_EXIT_CODE: "75",
  };
  const result = spawnSync("bash", ["-c", install], { env, encoding: "utf8", input: "" });
  const log = existsSync(calls) ? readFileSync(calls, "utf8") : "";
  return { status: result.status, stderr: result.stderr, log };
}

describe.each(Object.entries(SPECS))("%s", (_name, spec) => {
  it("is a valid 0.2 buildspec run by bash, exporting IMAGE_DIGEST, REPORT_URI, SCAN_EXIT_CODE", () => {
    expect(String(spec.version)).toBe("0.2");
    expect(spec.env.shell).toBe("bash");
    expect(spec.env["exported-variables"]).toEqual(
      expect.arrayContaining(["IMAGE_DIGEST", "REPORT_URI", "SCAN_EXIT_CODE"]),
    );
    for (const phase of ["install", "pre_build", "build"]) {
      expect(spec.phases[phase]?.["on-failure"], phase).toBe("ABORT");
    }
  });

  it("installs a pinned Trivy release and verifies its checksum", () => {
    const text = commandsOf(spec);
    expect(text).toContain(`trivy_\${TRIVY_VERSION}_Linux-64bit.tar.gz`);
    expect(text).toContain(`releases/download/v\${TRIVY_VERSION}`);
    expect(text).toContain("sha256sum -c");
  });

  it("reads the Trivy DB from the shared cache only: --skip-db-update on every scan, cache paths declared", () => {
    const text = commandsOf(spec);
    expect(spec.cache?.paths).toEqual(["/root/.cache/trivy/**/*"]);
    expect(spec.env.variables.TRIVY_CACHE_DIR).toBe("/root/.cache/trivy");
    expect(text).toContain('offline=(--cache-dir "$TRIVY_CACHE_DIR" --skip-db-update --skip-java-db-update)');
    // Every `trivy image` run is offline; nothing downloads a DB.
    const runs = text.split("\n").filter((l) => /^\s*trivy image\b/.test(l));
    expect(runs.length).toBeGreaterThanOrEqual(2);
    for (const line of text.split("trivy image").slice(1))
      expect(line.slice(0, 40)).toContain(`"\${offline[@]}"`);
    expect(text).not.toMatch(/--download-(java-)?db-only/);
  });

  it("fails as a scanner error before downloading anything when the DB cache is empty or stale", () => {
    const install = spec.phases.install?.commands.join("\n") ?? "";
    expect(install.indexOf("Trivy DB cache is empty")).toBeLessThan(install.indexOf("curl"));
    for (const [label, db] of [
      ["empty", null],
      ["stale", "2020-01-01T00:00:00Z"],
    ] as const) {
      const run = runInstall(install, db);
      expect(run.status, label).toBe(75);
      expect(run.stderr, label).toMatch(label === "empty" ? /cache is empty/ : /days old/);
      expect(run.log, label).not.toContain("curl");
    }
    const fresh = runInstall(install, new Date().toISOString());
    expect(fresh.status, fresh.stderr).toBe(0);
    expect(fresh.log).not.toContain("curl"); // the cached tarball is used
    expect(fresh.log).toContain("tar -xzf trivy_0.59.1_Linux-64bit.tar.gz");
  });

  it("uploads a SARIF report converted from the JSON report (no second scan) next to the JSON and SBOM", () => {
    const text = commandsOf(spec);
    expect(text).toContain(
      'trivy convert --format sarif --output "$WORK_DIR/trivy.sarif" "$WORK_DIR/trivy.json"',
    );
    expect(text).toContain(`"\${prefix}/trivy.sarif"`);
    expect(text).toContain(`export SARIF_URI="\${prefix}/trivy.sarif"`);
    expect(spec.env["exported-variables"]).toContain("SARIF_URI");
  });

  it("scans vulnerabilities only, gated by --exit-code and --severity, JSON report and CycloneDX SBOM", () => {
    const text = commandsOf(spec);
    for (const flag of [
      '--exit-code "$TRIVY_VULN_EXIT_CODE"',
      '--severity "$TRIVY_SEVERITY"',
      "--format json",
      "--format cyclonedx",
      "--scanners vuln",
      '--ignorefile "$WORK_DIR/.trivyignore"',
      "--ignore-unfixed",
      `\${POUROVER_APP}/\${POUROVER_TAG}/\${POUROVER_SERVICE}`,
      "trivy.json",
    ]) {
      expect(text, flag).toContain(flag);
    }
    expect(text).toContain(`s3://\${REPORTS_BUCKET}/`);
  });

  it.skipIf(!HAS_SHELLCHECK)("its commands pass shellcheck", () => {
    const dir = mkdtempSync(join(tmpdir(), "buildspec-sc-"));
    const file = join(dir, "commands.sh");
    // Variables come from the buildspec env and CodeBuild (SC2154: referenced but not assigned).
    writeFileSync(file, `#!/usr/bin/env bash\n# shellcheck disable=SC2154\n${commandsOf(spec)}\n`);
    const result = spawnSync("shellcheck", ["-s", "bash", file], { encoding: "utf8" });
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });
});

describe("shellcheck availability", () => {
  it("is reported when missing", () => {
    if (!HAS_SHELLCHECK)
      console.warn("shellcheck not installed: buildspec shellcheck skipped (apt-get install -y shellcheck)");
    expect(true).toBe(true);
  });
});

describe("build-scan-push gate", () => {
  const spec = SPECS["build-scan-push.yml"];

  it("pushes only after the scan passed, and checks the exit code before pushing", () => {
    const build = spec.phases.build?.commands.join("\n") ?? "";
    expect(build.indexOf("docker build")).toBeLessThan(build.indexOf("trivy image"));
    expect(build.indexOf('if [ "$SCAN_EXIT_CODE" -ne 0 ]')).toBeLessThan(build.indexOf("docker push"));
    expect(build.indexOf("trivy image")).toBeLessThan(build.indexOf("docker push"));
  });

  /** Runs the build phase with fake docker/trivy/aws/git on PATH; returns exit code, exports and call log. */
  function runBuildPhase(trivyExit: number) {
    const dir = mkdtempSync(join(tmpdir(), "buildspec-run-"));
    const bin = join(dir, "bin");
    const work = join(dir, "work");
    mkdirSync(bin);
    mkdirSync(join(work, "src"), { recursive: true });
    const calls = join(dir, "calls.log");
    const fake = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/usr/bin/env bash\necho "${name} $*" >> "${calls}"\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    fake("git", 'if [ "$3" = rev-parse ]; then echo 0123456789abcdef0123456789abcdef01234567; fi');
    fake(
      "docker",
      `case "$1" in login) cat > /dev/null ;; inspect) echo "reg/repo@sha256:${"c".repeat(64)}" ;; esac`,
    );
    // The gating scan exits with the given code; the SBOM run always succeeds.
    fake("trivy", `case "$*" in *cyclonedx*|convert*) exit 0 ;; esac\nexit ${trivyExit}`);
    fake("aws", 'if [ "$1" = ecr ]; then echo token; fi');
    const env = {
      PATH: `${bin}:${process.env.PATH}`,
      HOME: dir,
      ...spec.env.variables,
      WORK_DIR: work,
      POUROVER_APP: "coffeeshop",
      POUROVER_TAG: "v1.2.3",
      POUROVER_SERVICE: "web",
      IMAGE_REPOSITORY: "go-coffeeshop/web",
      REGISTRY: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
      REPORTS_BUCKET: "reports-bucket",
      AWS_REGION: "us-east-1",
      TRIVY_ALLOW_IDS: "CVE-2024-0001, CVE-2024-0002;rm",
      TRIVY_IGNORE_UNFIXED: "true",
    };
    const script = `${spec.phases.build?.commands.join("\n")}\necho "EXPORT SCAN_EXIT_CODE=$SCAN_EXIT_CODE IMAGE_DIGEST=$IMAGE_DIGEST REPORT_URI=$REPORT_URI"\n`;
    const result = spawnSync("bash", ["-c", script], { env, encoding: "utf8" });
    const log = existsSync(calls) ? readFileSync(calls, "utf8") : "";
    const ignore = existsSync(join(work, ".trivyignore"))
      ? readFileSync(join(work, ".trivyignore"), "utf8")
      : "";
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, log, ignore };
  }

  it("passing scan: uploads the report, pushes, exports the digest", () => {
    const run = runBuildPhase(0);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(
      `EXPORT SCAN_EXIT_CODE=0 IMAGE_DIGEST=sha256:${"c".repeat(64)} REPORT_URI=s3://reports-bucket/coffeeshop/v1.2.3/web/trivy.json`,
    );
    expect(run.log).toContain(
      "docker push 123456789012.dkr.ecr.us-east-1.amazonaws.com/go-coffeeshop/web:v1.2.3",
    );
    expect(run.log).toContain("aws s3 cp --only-show-errors");
    expect(run.log).toContain("trivy convert --format sarif");
    expect(run.log).toContain("trivy.sarif s3://reports-bucket/coffeeshop/v1.2.3/web/trivy.sarif");
    expect(run.log).toMatch(
      /trivy image --cache-dir \S+ --skip-db-update --skip-java-db-update --scanners vuln --severity CRITICAL,HIGH --ignore-unfixed --ignorefile/,
    );
    expect(run.ignore).toBe("CVE-2024-0001\n");
  });

  it("policy rejection: the build succeeds with SCAN_EXIT_CODE=1, the report is uploaded, nothing is pushed", () => {
    const run = runBuildPhase(10);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain("EXPORT SCAN_EXIT_CODE=1 IMAGE_DIGEST= REPORT_URI=s3://reports-bucket/");
    expect(run.log).not.toContain("docker push");
    expect(run.log).toContain("trivy.json s3://reports-bucket/coffeeshop/v1.2.3/web/trivy.json");
    expect(run.log).toContain("trivy.sarif s3://reports-bucket/coffeeshop/v1.2.3/web/trivy.sarif");
  });

  it("scanner crash: the build fails with the scanner error exit code, nothing is pushed or uploaded", () => {
    const run = runBuildPhase(1);
    expect(run.status).toBe(75);
    expect(run.stderr).toContain("scanner error, not a verdict");
    expect(run.log).not.toContain("docker push");
    expect(run.log).not.toContain("aws s3 cp");
  });
});

describe("refresh-trivy-db.yml", () => {
  it("downloads the DB and Java DB into the cache the release projects read, with the same pinned Trivy install", () => {
    const text = Object.values(REFRESH.phases)
      .flatMap((p) => p.commands)
      .join("\n");
    expect(String(REFRESH.version)).toBe("0.2");
    expect(REFRESH.cache?.paths).toEqual(SPECS["scan-image.yml"].cache?.paths);
    expect(REFRESH.env.variables.TRIVY_CACHE_DIR).toBe(SPECS["scan-image.yml"].env.variables.TRIVY_CACHE_DIR);
    expect(text).toContain('trivy image --cache-dir "$TRIVY_CACHE_DIR" --download-db-only');
    expect(text).toContain('trivy image --cache-dir "$TRIVY_CACHE_DIR" --download-java-db-only');
    expect(text).toContain("sha256sum -c");
    // The pinned install block is the same text in all three buildspecs.
    const installOf = (spec: Buildspec) => {
      const t = spec.phases.install?.commands.join("\n") ?? "";
      return t.slice(t.indexOf("# Trivy from a pinned release tarball"));
    };
    for (const spec of Object.values(SPECS)) expect(installOf(spec)).toBe(installOf(REFRESH));
  });

  it.skipIf(!HAS_SHELLCHECK)("its commands pass shellcheck", () => {
    const dir = mkdtempSync(join(tmpdir(), "buildspec-sc-"));
    const file = join(dir, "commands.sh");
    writeFileSync(file, `#!/usr/bin/env bash\n# shellcheck disable=SC2154\n${commandsOf(REFRESH)}\n`);
    const result = spawnSync("shellcheck", ["-s", "bash", file], { encoding: "utf8" });
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });
});
