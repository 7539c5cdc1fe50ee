import { spawnSync } from "node:child_process";
import { createPublicKey, verify } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { REPO_ROOT } from "./synth-helper.js";

interface Buildspec {
  version: number | string;
  cache?: { key?: string; "fallback-keys"?: string[]; action?: string; paths: string[] };
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

/**
 * Runs an install phase with a Trivy cache holding a DB updated at `dbUpdatedAt` (null: no DB; an
 * object: the metadata.json content as is) and a cached tarball.
 */
function runInstall(install: string, dbUpdatedAt: string | null | { metadata: string }) {
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
  if (typeof dbUpdatedAt === "string") {
    writeFileSync(join(cache, "db", "trivy.db"), "db");
    writeFileSync(join(cache, "db", "metadata.json"), JSON.stringify({ Version: 2, UpdatedAt: dbUpdatedAt }));
  } else if (dbUpdatedAt) {
    writeFileSync(join(cache, "db", "trivy.db"), "db");
    writeFileSync(join(cache, "db", "metadata.json"), dbUpdatedAt.metadata);
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
    for (const [label, db, message] of [
      ["empty", null, /cache is empty/],
      ["stale", "2020-01-01T00:00:00Z", /days old/],
      // A cache restored from an older or damaged copy: still a scanner error, never set -e's own code.
      ["no UpdatedAt", { metadata: JSON.stringify({ Version: 2 }) }, /no readable UpdatedAt/],
      ["not JSON", { metadata: "{not json" }, /no readable UpdatedAt/],
      [
        "unparseable date",
        { metadata: JSON.stringify({ UpdatedAt: "yesterday-ish" }) },
        /unparseable UpdatedAt/,
      ],
    ] as const) {
      const run = runInstall(install, db);
      expect(run.status, label).toBe(75);
      expect(run.stderr, label).toMatch(message);
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

const DIGEST_EXISTING = `sha256:${"e".repeat(64)}`;
const DIGEST_PUSHED = `sha256:${"c".repeat(64)}`;
const REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/** How the fake `aws ecr describe-images` answers, call by call (the last answer repeats). */
type DescribeAnswer = "not-found" | "exists" | "access-denied";

interface BuildRunOptions {
  trivyExit?: number;
  describe?: DescribeAnswer[];
  /** The fake `docker push` fails as ECR does for an immutable tag that is already there. */
  pushRejected?: boolean;
  env?: Record<string, string>;
  dockerfile?: string;
}

/** Runs build-scan-push's build phase with fake docker/trivy/aws/git on PATH; returns exit code, exports and call log. */
function runBuildPhase(options: BuildRunOptions = {}) {
  const spec = SPECS["build-scan-push.yml"];
  const dir = mkdtempSync(join(tmpdir(), "buildspec-run-"));
  const bin = join(dir, "bin");
  const work = join(dir, "work");
  mkdirSync(bin);
  mkdirSync(join(work, "src"), { recursive: true });
  writeFileSync(
    join(work, "src", "Dockerfile"),
    options.dockerfile ?? "FROM golang:1.22 AS build\nFROM alpine:3.20\n",
  );
  const calls = join(dir, "calls.log");
  const describeCount = join(dir, "describe.count");
  const fake = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/usr/bin/env bash\necho "${name} $*" >> "${calls}"\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  const answers = options.describe ?? ["not-found"];
  fake("git", 'if [ "$3" = rev-parse ]; then echo 0123456789abcdef0123456789abcdef01234567; fi');
  fake(
    "docker",
    `case "$1" in
  login) cat > /dev/null ;;
  inspect) echo "reg/repo@${DIGEST_PUSHED}" ;;
  push) ${options.pushRejected ? `echo "tag invalid: The image tag '$2' already exists and cannot be overwritten because the repository is immutable." >&2; exit 1` : "true"} ;;
esac`,
  );
  // The gating scan exits with the given code; the SBOM run and the SARIF conversion always succeed.
  fake("trivy", `case "$*" in *cyclonedx*|convert*) exit 0 ;; esac\nexit ${options.trivyExit ?? 0}`);
  // describe-images answers as DescribeImages does: the digest (--query imageDetails[0].imageDigest),
  // or the CLI's error line for ImageNotFoundException / AccessDeniedException with a non-zero exit.
  fake(
    "aws",
    `if [ "$1 $2" = "ecr get-login-password" ]; then echo ecr-login-token; exit 0; fi
if [ "$1 $2" = "ecr describe-images" ]; then
  n=$(( $(cat "${describeCount}" 2>/dev/null || echo 0) + 1 )); echo "$n" > "${describeCount}"
  answers=(${answers.join(" ")}); i=$(( n - 1 )); [ "$i" -lt "\${#answers[@]}" ] || i=$(( \${#answers[@]} - 1 ))
  case "\${answers[$i]}" in
    exists) echo "${DIGEST_EXISTING}" ;;
    not-found) echo "An error occurred (ImageNotFoundException) when calling the DescribeImages operation: The image with imageId {imageDigest:'null', imageTag:'v1.2.3'} does not exist within the repository with name 'go-coffeeshop/web' in the registry with id '123456789012'" >&2; exit 254 ;;
    access-denied) echo "An error occurred (AccessDeniedException) when calling the DescribeImages operation: not authorized to perform ecr:DescribeImages" >&2; exit 254 ;;
  esac
fi`,
  );
  const env = {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: dir,
    ...spec.env.variables,
    WORK_DIR: work,
    POUROVER_APP: "coffeeshop",
    POUROVER_TAG: "v1.2.3",
    POUROVER_SERVICE: "web",
    IMAGE_REPOSITORY: "go-coffeeshop/web",
    REGISTRY,
    REPORTS_BUCKET: "reports-bucket",
    AWS_REGION: "us-east-1",
    TRIVY_ALLOW_IDS: "CVE-2024-0001, CVE-2024-0002;rm",
    TRIVY_IGNORE_UNFIXED: "true",
    ...options.env,
  };
  const script = `${spec.phases.build?.commands.join("\n")}\necho "EXPORT SCAN_EXIT_CODE=$SCAN_EXIT_CODE IMAGE_DIGEST=$IMAGE_DIGEST REPORT_URI=$REPORT_URI"\n`;
  const result = spawnSync("bash", ["-c", script], { env, encoding: "utf8" });
  const log = existsSync(calls) ? readFileSync(calls, "utf8") : "";
  const ignore = existsSync(join(work, ".trivyignore"))
    ? readFileSync(join(work, ".trivyignore"), "utf8")
    : "";
  const lines = log.split("\n");
  const firstIndex = (prefix: string) => lines.findIndex((l) => l.startsWith(prefix));
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, log, ignore, firstIndex };
}

describe("build-scan-push build phase (fake docker, trivy, aws, git)", () => {
  it("passing scan: builds, scans the built image, uploads the report, pushes, exports the pushed digest", () => {
    const run = runBuildPhase();
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(
      `EXPORT SCAN_EXIT_CODE=0 IMAGE_DIGEST=${DIGEST_PUSHED} REPORT_URI=s3://reports-bucket/coffeeshop/v1.2.3/web/trivy.json`,
    );
    expect(run.log).toContain(`docker push ${REGISTRY}/go-coffeeshop/web:v1.2.3`);
    // Build, then scan, then push: the pushed image is the scanned image.
    const build = run.firstIndex("docker buildx build");
    const scan = run.firstIndex("trivy image");
    const push = run.firstIndex("docker push");
    expect(build).toBeGreaterThanOrEqual(0);
    expect(build).toBeLessThan(scan);
    expect(scan).toBeLessThan(push);
    expect(run.log).toContain("aws s3 cp --only-show-errors");
    expect(run.log).toContain("trivy convert --format sarif");
    expect(run.log).toContain("trivy.sarif s3://reports-bucket/coffeeshop/v1.2.3/web/trivy.sarif");
    expect(run.log).toMatch(
      /trivy image --cache-dir \S+ --skip-db-update --skip-java-db-update --scanners vuln --severity CRITICAL,HIGH --ignore-unfixed --ignorefile/,
    );
    expect(run.ignore).toBe("CVE-2024-0001\n");
  });

  it("policy rejection: the build succeeds with SCAN_EXIT_CODE=1, the report is uploaded, nothing is pushed", () => {
    const run = runBuildPhase({ trivyExit: 10 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain("EXPORT SCAN_EXIT_CODE=1 IMAGE_DIGEST= REPORT_URI=s3://reports-bucket/");
    expect(run.log).not.toContain("docker push");
    expect(run.log).toContain("trivy.json s3://reports-bucket/coffeeshop/v1.2.3/web/trivy.json");
    expect(run.log).toContain("trivy.sarif s3://reports-bucket/coffeeshop/v1.2.3/web/trivy.sarif");
  });

  it("scanner crash: the build fails with the scanner error exit code, nothing is pushed or uploaded", () => {
    const run = runBuildPhase({ trivyExit: 1 });
    expect(run.status).toBe(75);
    expect(run.stderr).toContain("scanner error, not a verdict");
    expect(run.log).not.toContain("docker push");
    expect(run.log).not.toContain("aws s3 cp");
  });

  it("release tag already in ECR: no build, no push; the ECR image is scanned by digest and its digest reported", () => {
    const run = runBuildPhase({ describe: ["exists"] });
    expect(run.status, run.stderr).toBe(0);
    expect(run.log).toContain(
      "aws ecr describe-images --repository-name go-coffeeshop/web --image-ids imageTag=v1.2.3 --query imageDetails[0].imageDigest --output text",
    );
    expect(run.log).not.toMatch(/^docker (buildx )?build/m);
    expect(run.log).not.toContain("docker push");
    expect(run.log).toContain(
      `--image-src remote --scanners vuln --severity CRITICAL,HIGH --ignore-unfixed --ignorefile`,
    );
    expect(run.log).toContain(`--format json --output`);
    expect(run.log).toContain(`${REGISTRY}/go-coffeeshop/web@${DIGEST_EXISTING}`);
    expect(run.stdout).toContain(
      `EXPORT SCAN_EXIT_CODE=0 IMAGE_DIGEST=${DIGEST_EXISTING} REPORT_URI=s3://reports-bucket/coffeeshop/v1.2.3/web/trivy.json`,
    );
    // The ECR token reaches Trivy through its environment, never the log.
    expect(run.stdout + run.stderr + run.log).not.toContain("ecr-login-token");
  });

  it("release tag already in ECR and rejected: the verdict is reported with that digest, nothing built", () => {
    const run = runBuildPhase({ describe: ["exists"], trivyExit: 10 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`EXPORT SCAN_EXIT_CODE=1 IMAGE_DIGEST=${DIGEST_EXISTING}`);
    expect(run.log).not.toMatch(/^docker (buildx )?build/m);
  });

  it("tag absent (ImageNotFoundException): builds as usual", () => {
    const run = runBuildPhase({ describe: ["not-found"] });
    expect(run.status, run.stderr).toBe(0);
    expect(run.log).toMatch(/^docker buildx build /m);
    expect(run.log).not.toContain("--image-src remote");
  });

  it("push race (ImageTagAlreadyExistsException): re-reads the tag's digest and scans that image instead of failing", () => {
    const run = runBuildPhase({ describe: ["not-found", "exists"], pushRejected: true });
    expect(run.status, run.stderr).toBe(0);
    expect(run.log.match(/aws ecr describe-images/g)).toHaveLength(2);
    expect(run.log).toContain(`${REGISTRY}/go-coffeeshop/web@${DIGEST_EXISTING}`);
    expect(run.stdout).toContain(`EXPORT SCAN_EXIT_CODE=0 IMAGE_DIGEST=${DIGEST_EXISTING}`);
  });

  it("a failed push with the tag still absent fails the build", () => {
    const run = runBuildPhase({ describe: ["not-found"], pushRejected: true });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain("docker push of");
  });

  it("any other DescribeImages error fails the build before anything is built", () => {
    const run = runBuildPhase({ describe: ["access-denied"] });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain("AccessDeniedException");
    expect(run.log).not.toMatch(/^docker (buildx )?build/m);
  });

  it("layer cache: BuildKit registry cache in the service repository under a non-release tag", () => {
    const run = runBuildPhase();
    expect(run.status, run.stderr).toBe(0);
    const build = run.log.split("\n").find((l) => l.startsWith("docker buildx build")) ?? "";
    expect(build).toContain(`--cache-from type=registry,ref=${REGISTRY}/go-coffeeshop/web:buildcache`);
    expect(build).toContain(
      `--cache-to type=registry,ref=${REGISTRY}/go-coffeeshop/web:buildcache,mode=max,image-manifest=true,oci-mediatypes=true`,
    );
    expect(build).toContain("--load");
    // The registry cache needs a container builder; the login precedes the build (cache and base pulls).
    expect(run.log).toContain("docker buildx create --name pourover --driver docker-container");
    expect(run.firstIndex("docker login")).toBeLessThan(run.firstIndex("docker buildx build"));
    // A v* cache tag would collide with the immutable release tags: refused.
    const bad = runBuildPhase({ env: { LAYER_CACHE_TAG: "v-cache" } });
    expect(bad.status).toBe(2);
    expect(bad.log).not.toMatch(/^docker buildx build/m);
  });

  it("without a base image mirror, FROM images are left alone", () => {
    const run = runBuildPhase();
    expect(run.log).not.toContain("--build-context");
    expect(run.log).toContain("--driver-opt image=moby/buildkit:buildx-stable-1");
  });

  it("with BASE_IMAGE_MIRROR, Docker Hub FROM images (and the BuildKit image) come through the pull-through cache", () => {
    const mirror = `${REGISTRY}/docker-hub`;
    const run = runBuildPhase({
      env: { BASE_IMAGE_MIRROR: mirror },
      dockerfile: [
        "# syntax=docker/dockerfile:1",
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build",
        "FROM build AS test",
        "from grafana/grafana:11.0.0",
        "FROM docker.io/library/nginx",
        "FROM alpine:latest",
        "FROM ghcr.io/org/tool:1 AS tool",
        "FROM public.ecr.aws/docker/library/busybox:1.36",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile ARG reference, not JS
        "FROM ${BASE}",
        "FROM scratch",
        "FROM golang:1.22",
        "",
      ].join("\n"),
    });
    expect(run.status, run.stderr).toBe(0);
    const build = run.log.split("\n").find((l) => l.startsWith("docker buildx build")) ?? "";
    const contexts = [...build.matchAll(/--build-context (\S+)/g)].map((m) => m[1]);
    expect(contexts).toEqual([
      `golang:1.22=docker-image://${mirror}/library/golang:1.22`,
      `grafana/grafana:11.0.0=docker-image://${mirror}/grafana/grafana:11.0.0`,
      `nginx=docker-image://${mirror}/library/nginx`,
      `alpine=docker-image://${mirror}/library/alpine:latest`,
    ]);
    expect(run.log).toContain(`--driver-opt image=${mirror}/moby/buildkit:buildx-stable-1`);
  });
});

describe("build-scan-push source clone credentials (fake aws, curl, git; real openssl)", () => {
  const KEY_DIR = mkdtempSync(join(tmpdir(), "gh-app-key-"));
  const keyPath = join(KEY_DIR, "app.pem");
  spawnSync("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", keyPath]);
  const PRIVATE_KEY = readFileSync(keyPath, "utf8");
  const PUBLIC_KEY = createPublicKey(PRIVATE_KEY);
  const INSTALLATION_TOKEN = "ghs_InstallationTokenValue0123456789abcd";
  const PAT = "ghp_PersonalAccessTokenValue0123456789ab";

  /** Runs pre_build with the credentials secret holding `secret`; curl answers `curlAnswer` (or fails). */
  function runPreBuild(
    secret: string | null,
    curlAnswer: { status: number; body: string } = { status: 201, body: "" },
  ) {
    const spec = SPECS["build-scan-push.yml"];
    const dir = mkdtempSync(join(tmpdir(), "buildspec-pre-"));
    const bin = join(dir, "bin");
    mkdirSync(bin);
    const calls = join(dir, "calls.log");
    const curlConfig = join(dir, "curl-config");
    const gitHeader = join(dir, "git-header");
    const secretFile = join(dir, "secret");
    if (secret !== null) writeFileSync(secretFile, secret);
    const fake = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/usr/bin/env bash\necho "${name} $*" >> "${calls}"\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    // GetSecretValue --query SecretString --output text prints the string; an empty secret has no version.
    fake(
      "aws",
      `if [ -f "${secretFile}" ]; then cat "${secretFile}"; echo; else echo "An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: Secrets Manager can't find the specified secret value for staging label: AWSCURRENT" >&2; exit 254; fi`,
    );
    fake(
      "curl",
      `cat > "${curlConfig}"\nif [ ${curlAnswer.status} -ge 400 ]; then echo "curl: (22) The requested URL returned error: ${curlAnswer.status}" >&2; exit 22; fi\nprintf '%s' '${curlAnswer.body || JSON.stringify({ token: INSTALLATION_TOKEN, expires_at: "2026-12-01T11:00:00Z" })}'`,
    );
    fake(
      "git",
      `case "$*" in *" fetch "*) printf '%s' "\${GIT_CONFIG_VALUE_0:-}" > "${gitHeader}" ;; *rev-parse*) echo 0123456789abcdef0123456789abcdef01234567 ;; esac`,
    );
    const env = {
      PATH: `${bin}:${process.env.PATH}`,
      HOME: dir,
      ...spec.env.variables,
      WORK_DIR: join(dir, "work"),
      POUROVER_APP: "coffeeshop",
      POUROVER_TAG: "v1.2.3",
      POUROVER_SERVICE: "web",
      IMAGE_REPOSITORY: "go-coffeeshop/web",
      SOURCE_REPO: "example/private-source",
      SOURCE_VERSION: "v1.2.3",
      REPORTS_BUCKET: "reports-bucket",
      REGISTRY,
      SOURCE_TOKEN_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:github-abc123",
    };
    const result = spawnSync("bash", ["-c", spec.phases.pre_build?.commands.join("\n") ?? ""], {
      env,
      encoding: "utf8",
    });
    const read = (f: string) => (existsSync(f) ? readFileSync(f, "utf8") : "");
    return {
      status: result.status,
      output: result.stdout + result.stderr,
      stderr: result.stderr,
      log: read(calls),
      curlConfig: read(curlConfig),
      gitHeader: read(gitHeader),
    };
  }
  const basicFor = (token: string) =>
    `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`;
  const keyLines = PRIVATE_KEY.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"));

  it("a {token} secret: the clone sends it as a Basic header through git's environment, never argv or the log", () => {
    const run = runPreBuild(JSON.stringify({ token: PAT }));
    expect(run.status, run.stderr).toBe(0);
    expect(run.gitHeader).toBe(basicFor(PAT));
    expect(run.log).toContain("git -C");
    expect(run.log).not.toContain("curl");
    for (const text of [run.output, run.log]) {
      expect(text).not.toContain(PAT);
      expect(text).not.toContain(Buffer.from(`x-access-token:${PAT}`).toString("base64"));
    }
  });

  for (const [label, privateKey] of [
    ["PEM with newlines", PRIVATE_KEY],
    ["PEM with literal \\n (one-line JSON)", PRIVATE_KEY.replaceAll("\n", "\\n")],
  ] as const) {
    it(`a GitHub App secret (${label}): mints an installation token with an RS256 JWT and clones with it, printing no secret`, () => {
      const secret = JSON.stringify({ appId: "123456", installationId: 987654, privateKey });
      const run = runPreBuild(secret);
      expect(run.status, run.stderr).toBe(0);
      // POST /app/installations/{installation_id}/access_tokens, JWT in a curl config on stdin.
      expect(run.log).toMatch(
        /^curl .*-X POST .*https:\/\/api\.github\.com\/app\/installations\/987654\/access_tokens$/m,
      );
      expect(run.log).toContain("Accept: application/vnd.github+json");
      const jwt = /^header = "Authorization: Bearer ([^"]+)"$/m.exec(run.curlConfig)?.[1] ?? "";
      const [head, body, signature] = jwt.split(".");
      expect(JSON.parse(Buffer.from(head ?? "", "base64url").toString())).toEqual({
        alg: "RS256",
        typ: "JWT",
      });
      const claims = JSON.parse(Buffer.from(body ?? "", "base64url").toString()) as Record<
        string,
        number | string
      >;
      expect(claims.iss).toBe("123456");
      const now = Math.floor(Date.now() / 1000);
      expect(Number(claims.iat)).toBeLessThanOrEqual(now - 30);
      expect(Number(claims.exp) - Number(claims.iat)).toBeLessThanOrEqual(600);
      expect(
        verify(
          "sha256",
          Buffer.from(`${head}.${body}`),
          PUBLIC_KEY,
          Buffer.from(signature ?? "", "base64url"),
        ),
      ).toBe(true);
      // git fetches with the installation token.
      expect(run.gitHeader).toBe(basicFor(INSTALLATION_TOKEN));
      // No key material, JWT or token in the log or in any command line.
      for (const text of [run.output, run.log]) {
        expect(text).not.toContain(INSTALLATION_TOKEN);
        expect(text).not.toContain(jwt);
        for (const line of keyLines) expect(text).not.toContain(line);
      }
    });
  }

  it("a GitHub App that cannot get a token fails the build with a clear line and no secret", () => {
    const secret = JSON.stringify({ appId: "123456", installationId: "987654", privateKey: PRIVATE_KEY });
    const run = runPreBuild(secret, { status: 401, body: "" });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("GitHub App installation 987654: no installation token");
    expect(run.gitHeader).toBe("");
    for (const line of keyLines) expect(run.output + run.log).not.toContain(line);
  });

  it("an empty or non-JSON secret: public clone without a header, the secret text appears nowhere", () => {
    for (const secret of [null, "ghp_not_json_at_all_0123456789"]) {
      const run = runPreBuild(secret);
      expect(run.status, run.stderr).toBe(0);
      expect(run.gitHeader).toBe("");
      if (secret) expect(run.output + run.log).not.toContain(secret);
    }
  });
});

describe("Trivy DB cache keys (CodeBuild S3 cache sharing)", () => {
  /** Evaluates a cache key expression as CodeBuild does (shell expansion) with `date` fixed at `now`. */
  function evaluateKey(expression: string, now: string, buildNumber = "7"): string {
    const dir = mkdtempSync(join(tmpdir(), "cache-key-"));
    // GNU date relative to a fixed instant: `date -u [-d '<n> days ago'] +FMT`.
    writeFileSync(
      join(dir, "date"),
      `#!/usr/bin/env bash\nrel=""; fmt=""\nwhile [ $# -gt 0 ]; do case "$1" in -u) ;; -d) rel="$2"; shift ;; +*) fmt="$1" ;; esac; shift; done\nexec /usr/bin/date -u -d "${now} \${rel}" "$fmt"\n`,
    );
    chmodSync(join(dir, "date"), 0o755);
    const result = spawnSync("bash", ["-c", `printf '%s' "${expression.replaceAll('"', '\\"')}"`], {
      env: { PATH: `${dir}:${process.env.PATH}`, CODEBUILD_BUILD_NUMBER: buildNumber },
      encoding: "utf8",
    });
    expect(result.status, result.stderr).toBe(0);
    return result.stdout;
  }
  const refreshKey = REFRESH.cache?.key ?? "";
  const NOW = "2026-12-01T10:00:00Z";

  it("every Trivy buildspec has a cache key and the same cache paths (CodeBuild shares keyed caches only)", () => {
    for (const spec of [REFRESH, ...Object.values(SPECS)]) {
      expect(spec.cache?.key).toBeTruthy();
      expect(spec.cache?.paths).toEqual(["/root/.cache/trivy/**/*"]);
    }
  });

  it("the refresh saves only, under a key unique to each run", () => {
    expect(REFRESH.cache?.action).toBe("save");
    expect(REFRESH.cache?.["fallback-keys"]).toBeUndefined();
    const a = evaluateKey(refreshKey, NOW, "41");
    const b = evaluateKey(refreshKey, NOW, "42");
    const c = evaluateKey(refreshKey, "2026-12-01T10:00:01Z", "41");
    expect(a).toMatch(/^trivy-db-v1-20261201100000-41$/);
    expect(new Set([a, b, c]).size).toBe(3);
  });

  for (const [name, spec] of Object.entries(SPECS)) {
    it(`${name} restores only, the newest refresh first through dated fallback keys (prefix matches)`, () => {
      expect(spec.cache?.action).toBe("restore");
      const fallbacks = spec.cache?.["fallback-keys"] ?? [];
      // CodeBuild takes up to five fallback keys.
      expect(fallbacks.length).toBeGreaterThan(0);
      expect(fallbacks.length).toBeLessThanOrEqual(5);
      const evaluated = fallbacks.map((k) => evaluateKey(k, NOW));
      // A refresh that ran today, yesterday, ... is found by the fallback for that day, in that order.
      for (const [i, day] of ["2026-12-01", "2026-11-30", "2026-11-29", "2026-11-28"].entries()) {
        const saved = evaluateKey(refreshKey, `${day}T03:17:42Z`);
        const matching = evaluated.findIndex((f) => saved.startsWith(f));
        expect(matching, `refresh of ${day}`).toBe(i);
      }
      // Anything older is still restored by the bare prefix, then rejected as stale by the install phase.
      expect(evaluateKey(refreshKey, "2026-10-01T03:17:42Z").startsWith(evaluated.at(-1) ?? "-")).toBe(true);
      // The primary key never equals a refresh key (those end with the build number).
      expect(evaluateKey(spec.cache?.key ?? "", NOW)).not.toBe(evaluateKey(refreshKey, NOW));
      // Days covered match the staleness bound the install phase enforces.
      expect(fallbacks.length - 1).toBe(Number(spec.env.variables.TRIVY_DB_MAX_AGE_DAYS) + 1);
    });
  }
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
