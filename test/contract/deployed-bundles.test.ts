/**
 * Layer 2: the deployed artifacts, run. The stack is synthesized with bundling, each Lambda's asset
 * is taken from cdk.out as it would be uploaded, and its handler runs in a fresh Node process with
 * the environment the template gives it (support/run-bundle.ts), against local fakes of the AWS
 * endpoints speaking their wire protocols (support/aws-fakes.ts). This catches env wiring,
 * bundling and config-inlining mistakes that the core tests, which import the TypeScript, cannot.
 */
import { rmSync } from "node:fs";
import { ECRClient, ImageTagAlreadyExistsException, PutImageCommand } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SYNTH_TIMEOUT_MS } from "../infra/synth-helper.js";
import {
  AwsFakes,
  conditionalCheckFailed,
  FakeAwsError,
  type Json,
  pluginOutput,
  sesAccessDenied,
} from "./support/aws-fakes.js";
import type { LambdaInTemplate, SynthesizedPipeline } from "./support/pipeline.js";
import { synthForContract } from "./support/pipeline.js";
import { type BundleRun, lambdaEnvironment, runBundle, stageBundle } from "./support/run-bundle.js";
import { FAKE_ACCOUNT, FAKE_REGION, resolveValue } from "./support/template.js";

const APP = "coffeeshop";
const TAG = "v1.4.0";
const EXECUTION = `arn:aws:states:${FAKE_REGION}:${FAKE_ACCOUNT}:execution:release:run-1`;
const COMMAND_ID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
const INSTANCE = "i-0123456789abcdef0";
const DIGEST = `sha256:${"a".repeat(64)}`;

describe("contract layer 2: the deployed Lambda bundles, run against AWS wire fakes", () => {
  let synth: SynthesizedPipeline;
  const fakes = new AwsFakes();
  const staged = new Map<string, { fn: LambdaInTemplate; handler: string; env: Record<string, string> }>();

  beforeAll(async () => {
    synth = synthForContract({ bundle: true });
    await fakes.start();
    for (const fn of synth.lambdas) {
      staged.set(fn.functionDir, {
        fn,
        handler: stageBundle(synth.outdir, synth.template, fn),
        env: { ...lambdaEnvironment(synth.template, fn), ...fakes.endpointEnv() },
      });
    }
  }, SYNTH_TIMEOUT_MS);

  afterAll(async () => {
    await fakes.stop();
    if (synth) rmSync(synth.outdir, { recursive: true, force: true });
  });

  beforeEach(() => fakes.reset());

  async function invoke(functionDir: string, event: unknown): Promise<BundleRun> {
    const s = staged.get(functionDir);
    if (!s) throw new Error(`${functionDir} is not deployed`);
    return runBundle(s.handler, s.env, event);
  }
  /** The value a template env var of the function resolves to (the resource the code must address). */
  const envOf = (functionDir: string, name: string): string => {
    const fn = staged.get(functionDir)?.fn;
    return String(resolveValue(synth.template, fn?.properties.Environment?.Variables?.[name]));
  };

  it("every function cold-starts from its asset with the template's environment", async () => {
    const failures: string[] = [];
    for (const dir of staged.keys()) {
      // `{}` is not a valid event for most handlers: a cold start that gets as far as the handler
      // (any invoke-phase outcome) proves the bundle loads, its env is complete and its config parses.
      const run = await invoke(dir, {});
      if (run.phase === "init") failures.push(`${dir}: ${run.error?.name}: ${run.error?.message}`);
    }
    expect(failures).toEqual([]);
    expect(staged.size).toBeGreaterThan(10);
  });

  describe("claim-release (DynamoDB, JSON 1.0)", () => {
    const event = {
      request: {
        app: APP,
        tag: TAG,
        trigger: {
          source: "github",
          repository: "o/r",
          commit: "a".repeat(40),
          pusher: "p",
          deliveryId: "d",
        },
        force: false,
      },
      executionId: EXECUTION,
      startedAt: "2026-01-01T00:00:00.000Z",
    };

    it("claims app#tag in the table the template names", async () => {
      fakes.on("DynamoDB.PutItem", {});
      const run = await invoke("claim-release", event);
      expect(run.error).toBeUndefined();
      const put = fakes.callsOf("DynamoDB.PutItem");
      expect(put).toHaveLength(1);
      expect(put[0]?.input.TableName).toBe(envOf("claim-release", "LEDGER_TABLE_NAME"));
      expect(put[0]?.input.Item.pk).toEqual({ S: `${APP}#${TAG}` });
    });

    it("turns DynamoDB's ConditionalCheckFailedException into ReleaseAlreadyClaimedError", async () => {
      fakes.on("DynamoDB.PutItem", conditionalCheckFailed());
      const run = await invoke("claim-release", event);
      expect(run.error?.name).toBe("ReleaseAlreadyClaimedError");
    });
  });

  describe("verify-dev-deploy (SSM, JSON 1.1)", () => {
    const event = { commandId: COMMAND_ID, app: APP, tag: TAG, timeoutSeconds: 900 };
    const sentAt = () => Date.now() / 1000 - 5;

    it("right after SendCommand (no invocation listed yet) the deploy is in progress, not 'no instances'", async () => {
      // Tag targets are resolved after SendCommand returns: ListCommandInvocations answers an empty
      // list meanwhile, and the command's TargetCount is not known yet.
      fakes
        .on("SSM.ListCommands", {
          Commands: [
            {
              CommandId: COMMAND_ID,
              Status: "Pending",
              StatusDetails: "Pending",
              TargetCount: 0,
              CompletedCount: 0,
              RequestedDateTime: sentAt(),
              TimeoutSeconds: 600,
            },
          ],
        })
        .on("SSM.ListCommandInvocations", { CommandInvocations: [] });
      const run = await invoke("verify-dev-deploy", event);
      expect(run.error?.name).toBe("DevDeployInProgressError");
    });

    it("reads the result from stdout, not from the truncated plugin Output: a rolled-back deploy is named so", async () => {
      const stdout = `${JSON.stringify({ status: "rolled-back", app: APP, tag: TAG, step: "health" })}\n`;
      const stderr = Array.from({ length: 120 }, (_, i) => `deploy-dev: [${i}] waiting for web health`).join(
        "\n",
      );
      fakes
        .on("SSM.ListCommands", {
          Commands: [
            {
              CommandId: COMMAND_ID,
              Status: "Failed",
              StatusDetails: "Failed",
              TargetCount: 1,
              CompletedCount: 1,
              ErrorCount: 1,
              RequestedDateTime: sentAt(),
              TimeoutSeconds: 600,
            },
          ],
        })
        .on("SSM.ListCommandInvocations", (input: Json) => ({
          CommandInvocations: [
            {
              CommandId: COMMAND_ID,
              InstanceId: INSTANCE,
              Status: "Failed",
              StatusDetails: "Failed",
              ...(input.Details
                ? {
                    CommandPlugins: [
                      {
                        Name: "deploy",
                        Status: "Failed",
                        ResponseCode: 1,
                        Output: pluginOutput(stdout, stderr),
                      },
                    ],
                  }
                : {}),
            },
          ],
        }))
        .on("SSM.GetCommandInvocation", {
          CommandId: COMMAND_ID,
          InstanceId: INSTANCE,
          Status: "Failed",
          StatusDetails: "Failed",
          ResponseCode: 1,
          StandardOutputContent: stdout,
          StandardErrorContent: stderr.slice(0, 8000),
        });
      expect(pluginOutput(stdout, stderr).length).toBe(2500);
      const run = await invoke("verify-dev-deploy", event);
      expect(run.error?.name).toBe("DevDeployRolledBackError");
    });
  });

  describe("send-notification (SES v2, REST-JSON)", () => {
    const event = {
      outcome: "FAILED",
      release: {
        app: APP,
        tag: TAG,
        trigger: {
          source: "github",
          repository: "o/r",
          commit: "a".repeat(40),
          pusher: "p",
          deliveryId: "d",
        },
        force: false,
        error: { Error: "BuildFailedError", Cause: "web: BUILD phase failed" },
      },
      executionId: EXECUTION,
    };

    it("sends from the configured address and returns SES's MessageId", async () => {
      fakes.on("SESv2.SendEmail", { MessageId: "0100018f-fake-message-id" });
      const run = await invoke("send-notification", event);
      expect(run.error).toBeUndefined();
      expect(run.result.messageId).toBe("0100018f-fake-message-id");
      expect(fakes.callsOf("SESv2.SendEmail")[0]?.input.FromEmailAddress).toBe(
        envOf("send-notification", "SES_FROM"),
      );
    });

    it("reports SES AccessDenied (identity not covered by the policy) as NotificationFailedError", async () => {
      fakes.on(
        "SESv2.SendEmail",
        sesAccessDenied(`arn:aws:ses:${FAKE_REGION}:${FAKE_ACCOUNT}:identity/releases@example.com`),
      );
      const run = await invoke("send-notification", event);
      expect(run.error?.name).toBe("NotificationFailedError");
      expect(run.error?.message).toContain("AccessDeniedException");
    });
  });

  describe("update-manifests (Secrets Manager, JSON 1.1)", () => {
    it("a GitHub secret that is not JSON fails with a named error, and the token appears nowhere", async () => {
      const token = "ghp_ContractTestTokenThatMustNeverLeak0123456789";
      fakes.on("SecretsManager.GetSecretValue", (input: Json) => ({
        ARN: input.SecretId,
        Name: "GithubCredentials",
        VersionId: "v1",
        SecretString: token,
        VersionStages: ["AWSCURRENT"],
        CreatedDate: 1_700_000_000,
      }));
      const run = await invoke("update-manifests", {
        app: APP,
        tag: TAG,
        executionId: EXECUTION,
        images: [],
        scans: [],
      });
      expect(fakes.callsOf("SecretsManager.GetSecretValue")[0]?.input.SecretId).toBe(
        envOf("update-manifests", "GITHUB_CREDENTIALS_SECRET_ARN"),
      );
      expect(run.ok).toBe(false);
      expect(JSON.stringify(run.error)).not.toContain("ghp_");
      expect(run.output).not.toContain("ghp_");
    });
  });

  describe("plan-release (ECR, JSON 1.1)", () => {
    const event = {
      app: APP,
      tag: TAG,
      trigger: { source: "ecr", repository: "go-coffeeshop/web", digest: DIGEST },
      force: false,
    };

    it("resolves the other services' digests with DescribeImages", async () => {
      fakes.on("ECR.DescribeImages", (input: Json) => ({
        imageDetails: [
          {
            registryId: FAKE_ACCOUNT,
            repositoryName: input.repositoryName,
            imageDigest: `sha256:${"b".repeat(64)}`,
            imageTags: [TAG],
            imagePushedAt: 1_700_000_000,
          },
        ],
      }));
      const run = await invoke("plan-release", event);
      expect(run.error).toBeUndefined();
      expect(run.result.services.every((s: { digest: string }) => /^sha256:/.test(s.digest))).toBe(true);
    });

    it("an image ECR does not have yet (ImageNotFoundException) makes the plan wait: ImagesNotReadyError", async () => {
      fakes.on(
        "ECR.DescribeImages",
        new FakeAwsError(
          "ImageNotFoundException",
          "The image with imageId {imageTag:'v1.4.0'} does not exist",
        ),
      );
      const run = await invoke("plan-release", event);
      expect(run.error?.name).toBe("ImagesNotReadyError");
    });
  });

  it("the ECR fake answers a push over an immutable tag as AWS does (ImageTagAlreadyExistsException)", async () => {
    // Exercised against the real SDK client so that the build path's duplicate-push handling can be
    // tested against this shape: PutImage on an existing immutable tag.
    fakes.on(
      "ECR.PutImage",
      new FakeAwsError(
        "ImageTagAlreadyExistsException",
        "The image tag 'v1.4.0' already exists in the 'go-coffeeshop/web' repository and cannot be overwritten because the repository is immutable.",
      ),
    );
    const ecr = new ECRClient({
      region: FAKE_REGION,
      endpoint: fakes.url,
      credentials: { accessKeyId: "AKIAFAKE", secretAccessKey: "fake" },
    });
    const error = await ecr
      .send(new PutImageCommand({ repositoryName: "go-coffeeshop/web", imageManifest: "{}", imageTag: TAG }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageTagAlreadyExistsException);
  });
});
