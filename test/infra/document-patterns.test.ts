import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { DEPLOY_PARAMETER_PATTERNS, deployDocumentContent } from "../../infra/stacks/pipeline-stack.js";
import { REPO_ROOT } from "./synth-helper.js";

const doc = parseYaml(readFileSync(join(REPO_ROOT, "infra", "ssm", "deploy-dev.yml"), "utf8")) as {
  parameters: Record<string, { allowedPattern: string }>;
};

type Name = keyof typeof DEPLOY_PARAMETER_PATTERNS;

const VALID: Record<Name, string[]> = {
  App: ["coffeeshop", "a", "go-coffeeshop-2"],
  Tag: ["v1.2.3", "v0.0.1", "v10.20.30-rc.1", "v1.0.0+build.5", "v1.0.0-beta-2"],
  ComposeObject: ["releases/coffeeshop/v1.2.3/docker-compose.yml", "releases/a/v1.0.0/compose.yaml"],
  HealthUrls: [
    "",
    "http://localhost:5000/health",
    "https://dev.example.com/healthz http://10.0.0.5:8080/ready?full=1",
    "http://localhost:3000/api/v1/health#x",
  ],
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
