/**
 * `cdk synth` the way a user runs it: the CDK CLI itself, on the whole app, with cdk-nag registered by
 * infra/app.ts. A stack validated alone can pass while the app does not (a cross-stack reference is
 * only rewritten to an import when the app is synthesized, and cdk-nag sees the rewritten form), so
 * every documented context is synthesized here through `npx cdk synth --quiet --output <dir>`.
 * The contexts share one invocation (the CLI accepts many `-c`), the default app has its own, and
 * both run at once: about 30 s on two cores, most of it esbuild.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ALARM_EMAIL_CONTEXT_KEY,
  CONFIG_CONTEXT_KEY,
  PROD_FEEDBACK_CONTEXT_KEY,
  WEBHOOK_RESERVED_CONCURRENCY_CONTEXT_KEY,
} from "../../infra/app.js";
import { PLATFORM_CONTEXT_KEY } from "../../infra/constructs/platform/platform-config.js";
import { DEV_HOST_CONTEXT_KEY } from "../../infra/stacks/dev-host-stack.js";
import { type Json, REPO_ROOT } from "./synth-helper.js";

interface CliRun {
  code: number | null;
  output: string;
  outdir: string;
}

/**
 * No credentials, no network: the CLI then knows no account (CDK_DEFAULT_ACCOUNT unset) and the
 * stacks stay environment-agnostic, as on a fresh clone.
 */
function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(AWS_|CDK_)/.test(key) && key !== "AWS_CA_BUNDLE") continue;
    env[key] = value;
  }
  const nowhere = join(tmpdir(), "pourover-no-aws-config");
  return {
    ...env,
    AWS_CONFIG_FILE: nowhere,
    AWS_SHARED_CREDENTIALS_FILE: nowhere,
    AWS_EC2_METADATA_DISABLED: "true",
    CDK_DISABLE_VERSION_CHECK: "true",
    CI: "true",
    ...extra,
  };
}

function cdkSynth(contextArgs: string[], extraEnv: Record<string, string> = {}): Promise<CliRun> {
  const outdir = mkdtempSync(join(tmpdir(), "pourover-cli-synth-"));
  const args = ["cdk", "synth", "--quiet", "--output", outdir, ...contextArgs.flatMap((c) => ["-c", c])];
  return new Promise((resolve, reject) => {
    const child = spawn("npx", args, {
      cwd: REPO_ROOT,
      env: cliEnv(extraEnv),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => {
      output += String(d);
    });
    child.stderr.on("data", (d) => {
      output += String(d);
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output, outdir }));
  });
}

const stacksIn = (outdir: string): string[] => {
  const manifest = JSON.parse(readFileSync(join(outdir, "manifest.json"), "utf8"));
  return Object.entries(manifest.artifacts as Record<string, { type: string }>)
    .filter(([, a]) => a.type === "aws:cloudformation:stack")
    .map(([id]) => id)
    .sort();
};
const templateOf = (outdir: string, stack: string): Json =>
  JSON.parse(readFileSync(join(outdir, `${stack}.template.json`), "utf8"));
const resourcesOf = (template: Json, type: string): Json[] =>
  Object.values(template.Resources as Record<string, Json>).filter((r) => r.Type === type);

/**
 * cdk-nag (registered by infra/app.ts through `Validations`) fails the synth and prints
 * `ERROR ... (AwsSolutions)` with the finding id; the CloudFormation validation report lists no
 * violation either.
 */
function expectCleanValidation(run: CliRun): void {
  expect(run.output).not.toMatch(/\bERROR\b/);
  expect(run.output).not.toMatch(/AwsSolutions-[A-Z]+\d+/);
  expect(run.output).not.toContain("Synthesis finished with errors");
  const report = JSON.parse(readFileSync(join(run.outdir, "validation-report.json"), "utf8"));
  const plugins = report.pluginReports as { pluginName: string; conclusion: string; violations: unknown[] }[];
  for (const p of plugins) {
    expect(p.violations, p.pluginName).toEqual([]);
    expect(p.conclusion, p.pluginName).toBe("success");
  }
}

// The README's dev host command, character for character.
const DEV_HOST = `${DEV_HOST_CONTEXT_KEY}={"instanceType":"t3.small","allowedCidr":"203.0.113.0/24"}`;
const CONTEXTS = [
  `${CONFIG_CONTEXT_KEY}=examples/coffeeshop/pourover.config.yaml`,
  DEV_HOST,
  // docs/prod-platform.md points at this file as a full example of the platform config.
  `${PLATFORM_CONTEXT_KEY}=test/fixtures/platform/platform.yaml`,
  `${PROD_FEEDBACK_CONTEXT_KEY}=true`,
  `${ALARM_EMAIL_CONTEXT_KEY}=oncall@example.com`,
  `${WEBHOOK_RESERVED_CONCURRENCY_CONTEXT_KEY}=10`,
];

let plain: CliRun;
let withContexts: CliRun;
let mismatch: CliRun;

beforeAll(async () => {
  [plain, withContexts, mismatch] = await Promise.all([
    cdkSynth([]),
    cdkSynth(CONTEXTS),
    // A deploying account other than config.registry (what the CLI passes when credentials are set).
    cdkSynth([], { CDK_DEFAULT_ACCOUNT: "210987654321", CDK_DEFAULT_REGION: "us-east-1" }),
  ]);
}, 240_000);

describe("npx cdk synth through the CDK CLI", () => {
  it("cdk.json keeps the CLI offline: notices off, telemetry off, the app run with tsx", () => {
    const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, "cdk.json"), "utf8"));
    expect(cdkJson.notices).toBe(false);
    expect(cdkJson.context["cli-telemetry"]).toBe(false);
    expect(cdkJson.app).toBe("npx tsx infra/app.ts");
  });

  it("the default app: exit 0, cdk-nag clean, exactly the pipeline stack", () => {
    expect(plain.code, plain.output).toBe(0);
    expectCleanValidation(plain);
    expect(stacksIn(plain.outdir)).toEqual(["Pourover-coffeeshop"]);
    const pipeline = templateOf(plain.outdir, "Pourover-coffeeshop");
    const webhook = resourcesOf(pipeline, "AWS::Lambda::Function").find((f) =>
      JSON.stringify(f.Properties.Role).includes("ReceiveGithubWebhookRole"),
    );
    expect(webhook?.Properties).not.toHaveProperty("ReservedConcurrentExecutions");
    expect(resourcesOf(pipeline, "AWS::SNS::Subscription")).toEqual([]);
  });

  it("every documented context at once: exit 0, cdk-nag clean, the three stacks, each context applied", () => {
    expect(withContexts.code, withContexts.output).toBe(0);
    expectCleanValidation(withContexts);
    expect(stacksIn(withContexts.outdir)).toEqual([
      "Pourover-coffeeshop",
      "Pourover-coffeeshop-dev-host",
      "Pourover-coffeeshop-platform",
    ]);
    const pipeline = templateOf(withContexts.outdir, "Pourover-coffeeshop");
    // pourover:prodFeedback
    expect(Object.keys(pipeline.Outputs)).toContain("ArgoCdNotificationsUrl");
    // pourover:alarmEmail
    expect(resourcesOf(pipeline, "AWS::SNS::Subscription").map((s) => s.Properties.Endpoint)).toEqual([
      "oncall@example.com",
    ]);
    // pourover:webhookReservedConcurrency
    const webhook = resourcesOf(pipeline, "AWS::Lambda::Function").find((f) =>
      JSON.stringify(f.Properties.Role).includes("ReceiveGithubWebhookRole"),
    );
    expect(webhook?.Properties.ReservedConcurrentExecutions).toBe(10);
    // pourover:devHost: the bucket comes through the pipeline's named export.
    const exportName = "Pourover-coffeeshop-ArtifactsBucketName";
    expect(
      Object.values(pipeline.Outputs as Record<string, Json>).some((o) => o.Export?.Name === exportName),
    ).toBe(true);
    const devHost = templateOf(withContexts.outdir, "Pourover-coffeeshop-dev-host");
    expect(JSON.stringify(devHost.Resources)).toContain(`{"Fn::ImportValue":"${exportName}"}`);
    const manifest = JSON.parse(readFileSync(join(withContexts.outdir, "manifest.json"), "utf8"));
    expect(manifest.artifacts["Pourover-coffeeshop-dev-host"].dependencies).toContain("Pourover-coffeeshop");
  });

  it("a deploying account other than config.registry fails synth with one line saying so", () => {
    expect(mismatch.code).not.toBe(0);
    const lines = mismatch.output.split("\n").filter((l) => l.includes("registry mismatch"));
    expect(lines).toEqual([
      "registry mismatch: the deploy target (CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION) account 210987654321 is not registry.accountId 123456789012; images are pushed to the deploying account's ECR, so set registry in the config to the account and region you deploy to",
    ]);
  });
});
