import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./synth-helper.js";

const SCRIPT = join(REPO_ROOT, "infra", "scripts", "deploy-dev.sh");
const HAS_SHELLCHECK = spawnSync("shellcheck", ["--version"]).status === 0;
const REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

interface Fakes {
  /** `docker compose pull` fails. */
  pullFails?: boolean;
  /** 1-based numbers of the `docker compose up` calls that fail. */
  upFailsOn?: number[];
  /** Every curl fails (HTTP 503). */
  curlFails?: boolean;
  /** What `aws secretsmanager get-secret-value` answers. @default "value" */
  secret?: "value" | "empty" | "missing";
  /** `cp` fails (an unexpected error the script does not handle itself). */
  cpFails?: boolean;
}

/** The env secret's text: must reach the env file and nothing else (no log, no stdout). */
const SECRET_TEXT =
  "POSTGRES_PASSWORD=s3cr3t-Zq8v\nPG_URL=postgres://coffeeshop:s3cr3t-Zq8v@postgres:5432/coffeeshop";

function setup(fakes: Fakes = {}, withPrevious = true) {
  const dir = mkdtempSync(join(tmpdir(), "deploy-dev-"));
  const bin = join(dir, "bin");
  const workdir = join(dir, "work");
  mkdirSync(bin);
  mkdirSync(workdir);
  const calls = join(dir, "calls.log");
  const fake = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/usr/bin/env bash\necho "${name} $*" >> "${calls}"\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  const upFails = (fakes.upFailsOn ?? []).map((n) => `[ "$n" = ${n} ] && exit 1`).join("\n");
  fake(
    "docker",
    `case "$*" in
  login*) cat > /dev/null; exit 0 ;;
  *" pull") ${fakes.pullFails ? "echo 'pull access denied' >&2; exit 1" : "exit 0"} ;;
  *" up "*)
    n=$(( $(cat "${dir}/up.count" 2>/dev/null || echo 0) + 1 )); echo "$n" > "${dir}/up.count"
    ${upFails}
    exit 0 ;;
esac`,
  );
  fake("curl", fakes.curlFails ? "exit 22" : "exit 0");
  const secretAnswer = {
    value: `printf '%b\\n' '${SECRET_TEXT}'`,
    // As the dev host stack creates it: a comment and nothing else.
    empty: "printf '# coffeeshop.env for the coffeeshop dev host: replace this line\\n\\n'",
    missing:
      'echo "An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: Secrets Manager can\'t find the specified secret value for staging label: AWSCURRENT" >&2; exit 254',
  }[fakes.secret ?? "value"];
  fake(
    "aws",
    `case "$1 $2" in
  "ecr get-login-password") echo token ;;
  "secretsmanager get-secret-value") ${secretAnswer} ;;
esac`,
  );
  if (fakes.cpFails) fake("cp", "echo 'cp: cannot create regular file: Read-only file system' >&2; exit 1");
  fake("sleep", "exit 0");
  const newCompose = join(dir, "new-compose.yaml");
  writeFileSync(newCompose, "services:\n  web:\n    image: web:v2\n");
  if (withPrevious) writeFileSync(join(workdir, "compose.yaml"), "services:\n  web:\n    image: web:v1\n");
  return { dir, bin, workdir, calls, newCompose };
}

function run(env: ReturnType<typeof setup>, extra: string[] = []) {
  const result = spawnSync(
    "bash",
    [
      SCRIPT,
      "--app",
      "coffeeshop",
      "--tag",
      "v2.0.0",
      "--compose-file",
      env.newCompose,
      "--workdir",
      env.workdir,
      "--health-urls",
      "http://localhost:5000/health http://localhost:3000/",
      "--registry",
      REGISTRY,
      "--wait-timeout",
      "60",
      ...extra,
    ],
    {
      encoding: "utf8",
      env: {
        PATH: `${env.bin}:${process.env.PATH}`,
        POUROVER_HEALTH_ATTEMPTS: "2",
        POUROVER_HEALTH_INTERVAL: "0",
      },
    },
  );
  const lines = result.stdout.trim().split("\n");
  const last = lines[lines.length - 1] ?? "";
  const calls = existsSync(env.calls) ? readFileSync(env.calls, "utf8") : "";
  const current = existsSync(join(env.workdir, "compose.yaml"))
    ? readFileSync(join(env.workdir, "compose.yaml"), "utf8")
    : null;
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
    json: JSON.parse(last),
    calls,
    current,
  };
}

describe("deploy-dev.sh", () => {
  it.skipIf(!HAS_SHELLCHECK)("passes shellcheck", () => {
    const result = spawnSync("shellcheck", ["-s", "bash", SCRIPT], { encoding: "utf8" });
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("reports when shellcheck is missing instead of failing", () => {
    if (!HAS_SHELLCHECK)
      console.warn("shellcheck not installed: deploy-dev.sh lint skipped (apt-get install -y shellcheck)");
    expect(true).toBe(true);
  });

  it("--dry-run prints every command prefixed DRY-RUN:, runs nothing, ends with the JSON line", () => {
    const env = setup();
    const r = run(env, ["--dry-run"]);
    expect(r.status).toBe(0);
    const dry = r.stdout.split("\n").filter((l) => l.startsWith("DRY-RUN: "));
    expect(dry).toEqual([
      `DRY-RUN: mkdir -p ${env.workdir}`,
      `DRY-RUN: cp -p ${env.workdir}/compose.yaml ${env.workdir}/compose.previous.yaml`,
      `DRY-RUN: cp ${env.newCompose} ${env.workdir}/compose.yaml`,
      `DRY-RUN: aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin ${REGISTRY}`,
      `DRY-RUN: docker compose --project-name coffeeshop --project-directory ${env.workdir} --file ${env.workdir}/compose.yaml pull`,
      `DRY-RUN: docker compose --project-name coffeeshop --project-directory ${env.workdir} --file ${env.workdir}/compose.yaml up -d --remove-orphans --wait --wait-timeout 60`,
      "DRY-RUN: curl -fsS --max-time 5 -o /dev/null http://localhost:5000/health (up to 2 attempts)",
      "DRY-RUN: curl -fsS --max-time 5 -o /dev/null http://localhost:3000/ (up to 2 attempts)",
    ]);
    expect(r.json).toMatchObject({ status: "dry-run", app: "coffeeshop", tag: "v2.0.0" });
    expect(r.calls).toBe("");
    expect(r.current).toContain("web:v1");
  });

  it("deploys: keeps the rollback point, logs in, pulls, waits, checks health", () => {
    const env = setup();
    const r = run(env);
    expect(r.status, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ status: "deployed", app: "coffeeshop", tag: "v2.0.0" });
    expect(r.current).toContain("web:v2");
    expect(readFileSync(join(env.workdir, "compose.previous.yaml"), "utf8")).toContain("web:v1");
    // aws and docker login run concurrently in one pipe: only their presence is ordered-independent.
    expect(r.calls).toContain("aws ecr get-login-password --region eu-west-1");
    const order = [`docker login --username AWS --password-stdin ${REGISTRY}`, " pull", " up -d", "curl "];
    let at = -1;
    for (const step of order) {
      const next = r.calls.indexOf(step, at + 1);
      expect(next, step).toBeGreaterThan(at);
      at = next;
    }
    expect(r.calls.match(/^curl /gm)).toHaveLength(2);
  });

  it("pull failure: nothing was started, the previous file is put back, status failed", () => {
    const env = setup({ pullFails: true });
    const r = run(env);
    expect(r.status).toBe(1);
    expect(r.json).toMatchObject({ status: "failed", step: "pull", rollback: "not-needed" });
    expect(r.calls).not.toMatch(/ up /);
    expect(r.current).toContain("web:v1");
  });

  it("health failure: rolls back to the previous compose file and reports both results", () => {
    const env = setup({ curlFails: true });
    const r = run(env);
    expect(r.status).toBe(1);
    expect(r.json).toMatchObject({ status: "rolled-back", step: "health", rollback: "ok" });
    expect(r.json.error).toContain("http://localhost:5000/health");
    expect(r.calls.match(/^curl /gm)).toHaveLength(2);
    expect(r.calls.match(/ up -d/g)).toHaveLength(2);
    expect(r.current).toContain("web:v1");
  });

  it("failed rollback: says so and exits 3", () => {
    const env = setup({ curlFails: true, upFailsOn: [2] });
    const r = run(env);
    expect(r.status).toBe(3);
    expect(r.json).toMatchObject({ status: "rollback-failed", step: "health", rollback: "failed" });
  });

  it("first deploy without a previous file: failed, no rollback possible", () => {
    const env = setup({ upFailsOn: [1] }, false);
    const r = run(env);
    expect(r.status).toBe(1);
    expect(r.json).toMatchObject({ status: "failed", step: "up", rollback: "none" });
    // The file of what was (partly) started stays, so a person can inspect or `down` it.
    expect(r.current).toContain("web:v2");
  });

  it("rejects bad usage with exit 2 and still ends with a JSON line", () => {
    const env = setup();
    const r = run(env, ["--tag", "latest"]);
    expect(r.status).toBe(2);
    expect(r.json).toMatchObject({ status: "failed", step: "usage" });
  });

  it("refuses a tag with build metadata (+), as the tag policy does", () => {
    const env = setup();
    const r = run(env, ["--tag", "v2.0.0+build.1"]);
    expect(r.status).toBe(2);
    expect(r.json).toMatchObject({ status: "failed", step: "usage" });
  });

  it("stdout holds only the result line; an unexpected failure still ends stdout with a failed result", () => {
    const ok = run(setup());
    expect(ok.stdout.trim().split("\n")).toHaveLength(1);
    const env = setup({ cpFails: true });
    const r = run(env);
    expect(r.status).not.toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    expect(r.json).toMatchObject({ status: "failed", step: "prepare" });
    expect(r.json.error).toMatch(/stopped unexpectedly \(exit status 1\)/);
    expect(r.calls).not.toMatch(/ pull/);
  });
});

describe("deploy-dev.sh --env-secret: the app's env file from Secrets Manager", () => {
  const SECRET = "pourover/coffeeshop/dev-env";
  const envArgs = ["--env-secret", SECRET, "--env-file", "coffeeshop.env"];

  it("writes the env file mode 0600 before docker compose pull, atomically, and never prints the secret", () => {
    const env = setup();
    const r = run(env, envArgs);
    expect(r.status, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ status: "deployed" });
    const file = join(env.workdir, "coffeeshop.env");
    expect(readFileSync(file, "utf8")).toBe(`${SECRET_TEXT.replace("\\n", "\n")}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // No temporary file left next to it: it was renamed into place.
    expect(readdirSync(env.workdir).filter((f) => f.includes("coffeeshop.env"))).toEqual(["coffeeshop.env"]);
    expect(r.calls).toContain(
      `aws secretsmanager get-secret-value --region eu-west-1 --secret-id ${SECRET} --query SecretString --output text`,
    );
    expect(r.calls.indexOf("aws secretsmanager")).toBeLessThan(r.calls.indexOf(" pull"));
    for (const out of [r.stdout, r.stderr, r.calls]) expect(out).not.toContain("s3cr3t-Zq8v");
  });

  it.each([
    ["missing", "env-secret-missing", /cannot read the app env secret pourover\/coffeeshop\/dev-env/],
    ["empty", "env-secret-empty", /the app env secret pourover\/coffeeshop\/dev-env is empty/],
  ] as const)(
    "a %s secret is a named failure before anything changes on the host",
    (secret, reason, error) => {
      const env = setup({ secret });
      const r = run(env, envArgs);
      expect(r.status).toBe(1);
      expect(r.json).toMatchObject({
        status: "failed",
        step: "env",
        reason,
        secret: SECRET,
        rollback: "not-needed",
      });
      expect(r.json.error).toMatch(error);
      expect(r.calls).not.toMatch(/ pull| up /);
      expect(r.current).toContain("web:v1");
      expect(existsSync(join(env.workdir, "coffeeshop.env"))).toBe(false);
      expect(readdirSync(env.workdir).filter((f) => f.includes("coffeeshop.env"))).toEqual([]);
    },
  );

  it("--dry-run says where the env file would come from, reads no secret", () => {
    const env = setup();
    const r = run(env, [...envArgs, "--dry-run"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(
      `DRY-RUN: aws secretsmanager get-secret-value --region eu-west-1 --secret-id ${SECRET} --query SecretString --output text > ${env.workdir}/coffeeshop.env (mode 0600)`,
    );
    expect(r.calls).toBe("");
  });

  it("rejects a secret name or file name that is not one", () => {
    for (const extra of [
      ["--env-secret", "x;id", "--env-file", "a.env"],
      ["--env-secret", SECRET, "--env-file", "../a.env"],
      ["--env-secret", SECRET],
    ]) {
      const r = run(setup(), extra);
      expect(r.status, extra.join(" ")).toBe(2);
      expect(r.json).toMatchObject({ status: "failed", step: "usage" });
    }
  });
});
