import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { REPO_ROOT } from "./synth-helper.js";

interface Buildspec {
  version: number | string;
  env: { shell?: string; variables: Record<string, string>; "exported-variables": string[] };
  phases: Record<string, { commands: string[]; "on-failure"?: string }>;
}

const load = (file: string): Buildspec =>
  parseYaml(readFileSync(join(REPO_ROOT, "infra", "buildspecs", file), "utf8")) as Buildspec;
const SPECS = {
  "build-scan-push.yml": load("build-scan-push.yml"),
  "scan-image.yml": load("scan-image.yml"),
};
const commandsOf = (spec: Buildspec) =>
  Object.values(spec.phases)
    .flatMap((p) => p.commands)
    .join("\n");
const HAS_SHELLCHECK = spawnSync("shellcheck", ["--version"]).status === 0;

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
    fake("trivy", `case "$*" in *cyclonedx*) exit 0 ;; esac\nexit ${trivyExit}`);
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
    expect(run.log).toMatch(
      /trivy image --scanners vuln --severity CRITICAL,HIGH --ignore-unfixed --ignorefile/,
    );
    expect(run.ignore).toBe("CVE-2024-0001\n");
  });

  it("policy rejection: the build succeeds with SCAN_EXIT_CODE=1, the report is uploaded, nothing is pushed", () => {
    const run = runBuildPhase(10);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain("EXPORT SCAN_EXIT_CODE=1 IMAGE_DIGEST= REPORT_URI=s3://reports-bucket/");
    expect(run.log).not.toContain("docker push");
    expect(run.log).toContain("trivy.json s3://reports-bucket/coffeeshop/v1.2.3/web/trivy.json");
  });

  it("scanner crash: the build fails, nothing is pushed or uploaded", () => {
    const run = runBuildPhase(1);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain("scanner error, not a verdict");
    expect(run.log).not.toContain("docker push");
    expect(run.log).not.toContain("aws s3 cp");
  });
});
