/**
 * Layer 2: the deployed artifacts, run. The stack is synthesized with bundling, each Lambda's asset
 * is taken from cdk.out as it would be uploaded, and its handler runs in a fresh Node process with
 * the environment the template gives it (support/run-bundle.ts), against local fakes of the AWS
 * endpoints speaking their wire protocols (support/aws-fakes.ts). This catches env wiring,
 * bundling and config-inlining mistakes that the core tests, which import the TypeScript, cannot.
 */
import { createHmac } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ECRClient, ImageTagAlreadyExistsException, PutImageCommand } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfigFile } from "../../shared/config/load-config-file.js";
import { FIXTURE_CONFIG, REPO_ROOT, SYNTH_TIMEOUT_MS } from "../infra/synth-helper.js";
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
        handler: stageBundle(synth.outdir, fn),
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

  // Giving the dev lock back (ReleaseDevLock) is a dynamodb:updateItem integration of the workflow,
  // not a Lambda: no bundle to run here.
  describe("acquire-dev-lock (DynamoDB conditional writes)", () => {
    const acquire = { app: APP, tag: TAG, executionId: EXECUTION, force: false, timeoutSeconds: 900 };

    it("acquires a free lock: consistent read, then a conditional put of devlock#<app>", async () => {
      fakes.on("DynamoDB.GetItem", {}).on("DynamoDB.PutItem", {});
      const run = await invoke("acquire-dev-lock", acquire);
      expect(run.error).toBeUndefined();
      expect(run.result.acquired).toBe(true);
      const put = fakes.callsOf("DynamoDB.PutItem")[0]?.input;
      expect(put?.TableName).toBe(envOf("acquire-dev-lock", "LEDGER_TABLE_NAME"));
      expect(put?.Item.pk).toEqual({ S: `devlock#${APP}` });
    });

    it("loses a race (ConditionalCheckFailedException on the put) as the retryable DevLockBusyError", async () => {
      fakes.on("DynamoDB.GetItem", {}).on("DynamoDB.PutItem", conditionalCheckFailed());
      const run = await invoke("acquire-dev-lock", acquire);
      expect(run.error?.name).toBe("DevLockBusyError");
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

  describe("describe-build-failure (CodeBuild, JSON 1.1)", () => {
    const buildId = "PouroverBuildProject:7a1b2c3d-0000-4000-8000-000000000001";
    // The `.sync` task's Cause is the Build as Step Functions last saw it, PascalCase.
    const event = {
      service: "web",
      triggerSource: "github",
      error: {
        Error: "States.TaskFailed",
        Cause: JSON.stringify({
          Build: {
            Id: buildId,
            Arn: `arn:aws:codebuild:${FAKE_REGION}:${FAKE_ACCOUNT}:build/${buildId}`,
            BuildStatus: "FAILED",
            ProjectName: "PouroverBuildProject",
          },
        }),
      },
    };

    it("reads the failed build (BatchGetBuilds) and names its failed phase: BuildFailedError", async () => {
      fakes.on("CodeBuild.BatchGetBuilds", {
        builds: [
          {
            id: buildId,
            buildStatus: "FAILED",
            projectName: "PouroverBuildProject",
            startTime: 1_700_000_000,
            phases: [
              { phaseType: "INSTALL", phaseStatus: "SUCCEEDED" },
              {
                phaseType: "BUILD",
                phaseStatus: "FAILED",
                contexts: [
                  {
                    statusCode: "COMMAND_EXECUTION_ERROR",
                    message:
                      "Error while executing command: docker build -f Dockerfile .. Reason: exit status 1",
                  },
                ],
              },
            ],
            logs: { deepLink: "https://console.aws.amazon.com/cloudwatch/home#logEvent:group=x" },
          },
        ],
        buildsNotFound: [],
      });
      const run = await invoke("describe-build-failure", event);
      expect(fakes.callsOf("CodeBuild.BatchGetBuilds")[0]?.input).toEqual({ ids: [buildId] });
      expect(run.error?.name).toBe("BuildFailedError");
      expect(run.error?.message).toContain("BUILD");
    });

    it("when BatchGetBuilds is refused (AccessDeniedException) it still reports from the Cause", async () => {
      fakes.on(
        "CodeBuild.BatchGetBuilds",
        new FakeAwsError(
          "AccessDeniedException",
          "User is not authorized to perform: codebuild:BatchGetBuilds",
        ),
      );
      const run = await invoke("describe-build-failure", event);
      expect(run.error?.name).toBe("BuildFailedError");
      expect(run.error?.message).toContain("AccessDeniedException");
    });
  });

  describe("record-outcome (DynamoDB, EventBridge)", () => {
    const event = {
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
        claim: { claimedAt: "2026-01-01T00:00:00.000Z" },
      },
      executionId: EXECUTION,
    };

    it("records the outcome in the ledger and publishes Release Succeeded on the pipeline bus", async () => {
      fakes
        .on("DynamoDB.UpdateItem", {})
        .on("EventBridge.PutEvents", { FailedEntryCount: 0, Entries: [{ EventId: "0a1b2c3d" }] });
      const run = await invoke("record-outcome", event);
      expect(run.error).toBeUndefined();
      expect(run.result.status).toBe("SUCCEEDED");
      expect(fakes.callsOf("DynamoDB.UpdateItem")[0]?.input.TableName).toBe(
        envOf("record-outcome", "LEDGER_TABLE_NAME"),
      );
      expect(fakes.callsOf("EventBridge.PutEvents")[0]?.input.Entries[0].EventBusName).toBe(
        envOf("record-outcome", "EVENT_BUS_NAME"),
      );
    });

    it("PutEvents answering 200 with a failed entry (FailedEntryCount 1) is an error, not a success", async () => {
      // EventBridge API Reference, PutEvents: a 200 response can still hold failed entries, each with
      // an ErrorCode and ErrorMessage, counted by FailedEntryCount.
      fakes.on("DynamoDB.UpdateItem", {}).on("EventBridge.PutEvents", {
        FailedEntryCount: 1,
        Entries: [{ ErrorCode: "InternalFailure", ErrorMessage: "Internal Failure" }],
      });
      const run = await invoke("record-outcome", event);
      expect(run.error?.name).toBe("EventPublishFailedError");
    });
  });

  describe("reconcile-releases (ECR paginator, DynamoDB, Step Functions JSON 1.0)", () => {
    const images = () => ({
      imageDetails: [
        {
          registryId: FAKE_ACCOUNT,
          repositoryName: "go-coffeeshop/web",
          imageDigest: DIGEST,
          imageTags: [TAG],
          // An hour ago: past the settle time, inside the lookback window.
          imagePushedAt: Math.floor(Date.now() / 1000) - 3600,
        },
      ],
    });

    it("starts a release for a recent v* image the ledger never claimed, on the machine the template names", async () => {
      fakes
        .on("ECR.DescribeImages", images)
        .on("DynamoDB.GetItem", {})
        .on("SFN.StartExecution", (input: Json) => ({
          executionArn: `${String(input.stateMachineArn).replace(":stateMachine:", ":execution:")}:${input.name}`,
          startDate: Date.now() / 1000,
        }));
      const run = await invoke("reconcile-releases", {});
      expect(run.error).toBeUndefined();
      const start = fakes.callsOf("SFN.StartExecution");
      expect(start).toHaveLength(1);
      expect(start[0]?.input.stateMachineArn).toBe(envOf("reconcile-releases", "STATE_MACHINE_ARN"));
    });

    it("an execution of that name already there (ExecutionAlreadyExists) is not a failure", async () => {
      fakes
        .on("ECR.DescribeImages", images)
        .on("DynamoDB.GetItem", {})
        .on(
          "SFN.StartExecution",
          new FakeAwsError("ExecutionAlreadyExists", "Execution Already Exists: 'arn:aws:states:...'", 400),
        );
      const run = await invoke("reconcile-releases", {});
      expect(run.error).toBeUndefined();
      expect(run.result.failures).toEqual([]);
    });
  });

  describe("evaluate-scan (S3, REST-XML)", () => {
    const event = () => ({
      app: APP,
      tag: TAG,
      service: {
        name: "web",
        repository: "123456789012.dkr.ecr.us-east-1.amazonaws.com/go-coffeeshop/web",
        tag: TAG,
      },
      scan: loadConfigFile(FIXTURE_CONFIG).scan,
      build: {
        buildId: "pourover-build:0b1c2d3e",
        status: "SUCCEEDED",
        exported: [
          {
            Name: "REPORT_URI",
            Value: `s3://${envOf("evaluate-scan", "REPORTS_BUCKET_NAME")}/${APP}/${TAG}/web/trivy.json`,
          },
          { Name: "SCAN_EXIT_CODE", Value: "1" },
          { Name: "IMAGE_DIGEST", Value: DIGEST },
        ],
      },
    });

    it("reads the Trivy report from the reports bucket and stores the findings next to it", async () => {
      fakes
        .on(
          "S3.GetObject",
          readFileSync(join(REPO_ROOT, "test", "fixtures", "trivy", "web-critical.json"), "utf8"),
        )
        .on("S3.PutObject", {});
      const run = await invoke("evaluate-scan", event());
      expect(run.error).toBeUndefined();
      expect(fakes.callsOf("S3.GetObject")[0]?.input).toMatchObject({
        Bucket: envOf("evaluate-scan", "REPORTS_BUCKET_NAME"),
        Key: `${APP}/${TAG}/web/trivy.json`,
      });
      expect(fakes.callsOf("S3.PutObject")[0]?.input.Key).toBe(`${APP}/${TAG}/web/findings.json`);
    });

    it("a report that is not there (S3 NoSuchKey, 404) fails the task with S3's error name", async () => {
      fakes.on("S3.GetObject", new FakeAwsError("NoSuchKey", "The specified key does not exist.", 404));
      const run = await invoke("evaluate-scan", event());
      expect(run.error?.name).toBe("NoSuchKey");
      expect(fakes.callsOf("S3.PutObject")).toHaveLength(0);
    });
  });

  describe("wake-dev-host (EC2 query protocol, XML; SSM)", () => {
    const event = { app: APP, tag: TAG, targets: [{ Key: "tag:pourover:env", Values: ["dev"] }] };
    // EC2 API Reference, DescribeInstances / StartInstances "Example responses" (ec2 XML namespace).
    const describeXml = (state: { code: number; name: string }) =>
      `<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
  <reservationSet><item><reservationId>r-1234567890abcdef0</reservationId><ownerId>${FAKE_ACCOUNT}</ownerId>
    <instancesSet><item><instanceId>${INSTANCE}</instanceId>
      <instanceState><code>${state.code}</code><name>${state.name}</name></instanceState>
    </item></instancesSet>
  </item></reservationSet>
</DescribeInstancesResponse>`;

    it("a running host whose agent is Online is ready", async () => {
      fakes
        .on("EC2.DescribeInstances", describeXml({ code: 16, name: "running" }))
        .on("SSM.DescribeInstanceInformation", {
          InstanceInformationList: [
            { InstanceId: INSTANCE, PingStatus: "Online", ResourceType: "EC2Instance" },
          ],
        });
      const run = await invoke("wake-dev-host", event);
      expect(run.error).toBeUndefined();
      expect(run.result.instances).toEqual([INSTANCE]);
      expect(fakes.callsOf("EC2.DescribeInstances")[0]?.input["Filter.1.Name"]).toBe("tag:pourover:env");
    });

    it("a stopped host is started (StartInstances) and the state is retried: DevHostStartingError", async () => {
      fakes
        .on("EC2.DescribeInstances", describeXml({ code: 80, name: "stopped" }))
        .on("SSM.DescribeInstanceInformation", { InstanceInformationList: [] })
        .on(
          "EC2.StartInstances",
          `<?xml version="1.0" encoding="UTF-8"?>
<StartInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>7a62c49f-347e-4fc4-9331-example</requestId>
  <instancesSet><item><instanceId>${INSTANCE}</instanceId>
    <currentState><code>0</code><name>pending</name></currentState>
    <previousState><code>80</code><name>stopped</name></previousState>
  </item></instancesSet>
</StartInstancesResponse>`,
        );
      const run = await invoke("wake-dev-host", event);
      expect(run.error?.name).toBe("DevHostStartingError");
      expect(fakes.callsOf("EC2.StartInstances")[0]?.input["InstanceId.1"]).toBe(INSTANCE);
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

  describe("receive-github-webhook (Function URL event; Secrets Manager plain-string secret, EventBridge)", () => {
    const secret = "plain-webhook-secret-not-json";
    const body = JSON.stringify({
      ref: `refs/tags/${TAG}`,
      before: "0".repeat(40),
      after: "a".repeat(40),
      created: true,
      deleted: false,
      repository: { full_name: "thangchung/go-coffeeshop" },
      pusher: { name: "octocat" },
    });
    const urlEvent = (signature: string) => ({
      version: "2.0",
      rawPath: "/",
      headers: {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "x-hub-signature-256": signature,
      },
      requestContext: { http: { method: "POST", path: "/" } },
      body,
      isBase64Encoded: false,
    });
    const secrets = (input: Json) =>
      // No previous version yet: Secrets Manager answers the AWSPREVIOUS label with ResourceNotFound.
      input.VersionStage === "AWSPREVIOUS"
        ? new FakeAwsError(
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS",
          )
        : { ARN: input.SecretId, Name: "WebhookSecret", SecretString: secret, VersionStages: ["AWSCURRENT"] };

    it("a signed tag push becomes one event on the bus the template names", async () => {
      fakes
        .on("SecretsManager.GetSecretValue", secrets)
        .on("DynamoDB.PutItem", {})
        .on("EventBridge.PutEvents", {
          FailedEntryCount: 0,
          Entries: [{ EventId: "11710aed-b79e-4468-a20b-bb3c0c3b4860" }],
        });
      const signature = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
      const run = await invoke("receive-github-webhook", urlEvent(signature));
      expect(run.result?.statusCode).toBe(202);
      const entries = fakes.callsOf("EventBridge.PutEvents")[0]?.input.Entries;
      expect(entries).toHaveLength(1);
      expect(entries[0].EventBusName).toBe(envOf("receive-github-webhook", "EVENT_BUS_NAME"));
    });

    it("a bad signature is a 401 and reaches neither the ledger nor the bus", async () => {
      fakes.on("SecretsManager.GetSecretValue", secrets);
      const run = await invoke("receive-github-webhook", urlEvent(`sha256=${"0".repeat(64)}`));
      expect(run.result?.statusCode).toBe(401);
      expect(fakes.callsOf("EventBridge.PutEvents")).toHaveLength(0);
      expect(fakes.callsOf("DynamoDB.PutItem")).toHaveLength(0);
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
