import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { RELEASE_TAG_PATTERN } from "../../functions/receive-github-webhook/receive-github-webhook.js";
import { DEPLOY_PARAMETER_PATTERNS, deployDocumentContent } from "../../infra/stacks/pipeline-stack.js";
import { TAG_PATTERN, tagPolicyProblem } from "../../shared/contracts/release.js";
import { REPO_ROOT } from "./synth-helper.js";

const doc = parseYaml(readFileSync(join(REPO_ROOT, "infra", "ssm", "deploy-dev.yml"), "utf8")) as {
  parameters: Record<string, { allowedPattern: string }>;
  mainSteps: { inputs: { timeoutSeconds: string } }[];
};

type Name = keyof typeof DEPLOY_PARAMETER_PATTERNS;

const VALID: Record<Name, string[]> = {
  App: ["coffeeshop", "a", "go-coffeeshop-2"],
  Tag: ["v1.2.3", "v0.0.1", "v10.20.30-rc.1", "v1.0.0-beta-2", "v999999999.0.0-a.b.c.d"],
  ComposeObject: ["releases/coffeeshop/v1.2.3/docker-compose.yml", "releases/a/v1.0.0/compose.yaml"],
  HealthUrls: [
    "",
    "http://localhost:5000/health",
    "https://dev.example.com/healthz http://10.0.0.5:8080/ready?full=1",
    "http://localhost:3000/api/v1/health#x",
  ],
  ExecutionTimeout: ["30", "99", "100", "600", "999", "1000", "2999", "3000", "3599", "3600"],
};

/** Shell metacharacters an attacker would need; each is tried alone and inside a valid value. */
const INJECTIONS = [";", "$(id)", "`id`", "\n", "&&", "|", "'", '"', `\${IFS}`, "\\", ">", "<", "\r"];

function matches(name: Name, value: string): boolean {
  return new RegExp(doc.parameters[name]?.allowedPattern as string).test(value);
}

describe("deploy document allowedPattern", () => {
  it("the document declares exactly the patterns the stack checks", () => {
    expect(Object.keys(doc.parameters).sort()).toEqual(Object.keys(DEPLOY_PARAMETER_PATTERNS).sort());
    for (const [name, pattern] of Object.entries(DEPLOY_PARAMETER_PATTERNS)) {
      expect(doc.parameters[name]?.allowedPattern).toBe(pattern);
    }
  });

  for (const name of Object.keys(DEPLOY_PARAMETER_PATTERNS) as Name[]) {
    describe(name, () => {
      it("accepts valid values", () => {
        for (const value of VALID[name]) expect(matches(name, value), JSON.stringify(value)).toBe(true);
      });

      it("rejects ; $(id) backticks newline && | and quotes, alone or appended to a valid value", () => {
        const base = VALID[name].find((v) => v !== "") as string;
        for (const bad of INJECTIONS) {
          for (const value of [bad, `${base}${bad}`, `${bad}${base}`, `${base}${bad}rm -rf /`]) {
            expect(matches(name, value), `${name}=${JSON.stringify(value)}`).toBe(false);
          }
        }
      });
    });
  }

  it("rejects values that are valid shell but wrong for the parameter", () => {
    expect(matches("App", "Coffee Shop")).toBe(false);
    expect(matches("Tag", "1.2.3")).toBe(false);
    expect(matches("Tag", "latest")).toBe(false);
    expect(matches("ComposeObject", "releases/../secrets")).toBe(false);
    expect(matches("ComposeObject", "other/compose.yml")).toBe(false);
    expect(matches("ComposeObject", "/releases/x")).toBe(false);
    expect(matches("HealthUrls", "file:///etc/passwd")).toBe(false);
    expect(matches("HealthUrls", "http://a  http://b")).toBe(false);
    expect(matches("HealthUrls", " http://a")).toBe(false);
    for (const t of ["0", "29", "3601", "4000", "9999", "01", "600s", "-600", "86400"])
      expect(matches("ExecutionTimeout", t), t).toBe(false);
  });
});

/** Docker image tag grammar (docker image tag reference): [A-Za-z0-9_], then [A-Za-z0-9_.-], at most 128. */
const DOCKER_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

describe("one tag rule everywhere: the tag policy is the dev deploy document's Tag allowedPattern", () => {
  const ssmTag = new RegExp(doc.parameters.Tag?.allowedPattern as string);
  const num = fc.oneof(
    fc.nat(12),
    fc.bigInt({ min: 0n, max: 10n ** 11n }).map(String),
    fc.constantFrom("00", "01"),
  );
  const ident = fc.stringMatching(/^[0-9A-Za-z-]{1,24}$/);
  const candidates = fc.oneof(
    fc
      .tuple(
        num,
        num,
        num,
        fc.option(fc.array(ident, { minLength: 1, maxLength: 6 })),
        fc.option(fc.array(ident, { minLength: 1, maxLength: 3 })),
      )
      .map(
        ([a, b, c, pre, build]) =>
          `v${a}.${b}.${c}${pre ? `-${pre.join(".")}` : ""}${build ? `+${build.join(".")}` : ""}`,
      ),
    fc.stringMatching(/^v[0-9A-Za-z.+_-]{0,140}$/),
    fc.string({ maxLength: 40 }),
  );

  it("any tag the policy accepts matches the SSM allowedPattern, and vice versa (property)", () => {
    fc.assert(
      fc.property(candidates, (tag) => {
        const policy = tagPolicyProblem(tag) === null;
        expect(ssmTag.test(tag), tag).toBe(policy);
        expect(TAG_PATTERN.test(tag), tag).toBe(policy);
        // The webhook's bundled copy decides the same.
        expect(RELEASE_TAG_PATTERN.test(tag), tag).toBe(policy);
        if (policy) {
          // ...and every accepted tag is a valid docker image tag: no `+`, at most 128 characters.
          expect(DOCKER_TAG.test(tag), tag).toBe(true);
          expect(tag).not.toContain("+");
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("build metadata is refused early, with the reason", () => {
    for (const tag of ["v1.2.3+x", "v1.2.3+build.5", "v1.0.0-rc.1+sha.abc"]) {
      expect(ssmTag.test(tag), tag).toBe(false);
      expect(tagPolicyProblem(tag)).toMatch(/build metadata \(\+\.\.\.\).*docker image tag/);
    }
    expect(DEPLOY_PARAMETER_PATTERNS.Tag).toBe(TAG_PATTERN.source);
  });
});

describe("deploy document commands", () => {
  const content = deployDocumentContent(
    REPO_ROOT,
    "pourover-reports-bucket",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com",
  ) as {
    mainSteps: { inputs: { runCommand: string[] } }[];
  };
  const commands = content.mainSteps[0]?.inputs.runCommand ?? [];

  it("uses every parameter only inside single quotes", () => {
    const uses = commands.join("\n").match(/.?\{\{ *[A-Za-z]+ *\}\}.?/g) ?? [];
    expect(uses).toHaveLength(4);
    for (const use of uses) expect(use).toMatch(/^'.*'$/);
  });

  it("the execution timeout is the ExecutionTimeout parameter (dev.timeoutSeconds), not a constant", () => {
    expect(doc.mainSteps[0]?.inputs.timeoutSeconds).toBe("{{ ExecutionTimeout }}");
  });

  it("no dev.envSecret: no env file arguments; with one: the secret and file are filled in single quotes", () => {
    const text = commands.join("\n");
    expect(text).toContain("ENV_SECRET=''");
    const withEnv = (
      deployDocumentContent(REPO_ROOT, "b", "123456789012.dkr.ecr.us-east-1.amazonaws.com", {
        secret: "pourover/coffeeshop/dev-env",
        file: "coffeeshop.env",
      }) as { mainSteps: { inputs: { runCommand: string[] } }[] }
    ).mainSteps[0]?.inputs.runCommand.join("\n");
    expect(withEnv).toContain("ENV_SECRET='pourover/coffeeshop/dev-env'");
    expect(withEnv).toContain("ENV_FILE='coffeeshop.env'");
    expect(withEnv).toMatch(/--env-secret "\$ENV_SECRET" --env-file "\$ENV_FILE"/);
    for (const bad of [
      { secret: "x'; rm -rf /", file: "a.env" },
      { secret: "ok", file: "../etc/passwd" },
      { secret: "ok", file: ".env" },
    ]) {
      expect(() => deployDocumentContent(REPO_ROOT, "b", "r", bad), JSON.stringify(bad)).toThrow(/envSecret/);
    }
  });

  it("embeds the deploy script and fills the bucket and registry", () => {
    const text = commands.join("\n");
    expect(text).toContain(`s3://pourover-reports-bucket/\${COMPOSE_OBJECT}`);
    expect(text).toContain("--registry '123456789012.dkr.ecr.us-east-1.amazonaws.com'");
    expect(text).toContain(readFileSync(join(REPO_ROOT, "infra", "scripts", "deploy-dev.sh"), "utf8").trim());
  });

  it.skipIf(spawnSync("shellcheck", ["--version"]).status !== 0)(
    "passes shellcheck once SSM fills in valid values",
    () => {
      const values: Record<string, string> = {
        App: "coffeeshop",
        Tag: "v1.2.3",
        ComposeObject: "releases/coffeeshop/v1.2.3/docker-compose.yml",
        HealthUrls: "http://localhost:5000/health",
        ExecutionTimeout: "600",
      };
      const script = commands
        .join("\n")
        .replace(/\{\{ *([A-Za-z]+) *\}\}/g, (_m, name: string) => values[name] ?? "");
      const file = join(mkdtempSync(join(tmpdir(), "ssm-doc-")), "run.sh");
      writeFileSync(file, `${script}\n`);
      const result = spawnSync("shellcheck", ["-s", "bash", file], { encoding: "utf8" });
      expect(result.stdout + result.stderr).toBe("");
    },
  );
});
