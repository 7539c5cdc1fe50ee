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
  sesAccount,
} from "./support/aws-fakes.js";
import type { LambdaInTemplate, SynthesizedPipeline } from "./support/pipeline.js";
import { synthForContract } from "./support/pipeline.js";
import { type BundleRun, lambdaEnvironment, runBundle, stageBundle } from "./support/run-bundle.js";
import { FAKE_ACCOUNT, FAKE_REGION, resolveValue, statementsOfRole } from "./support/template.js";

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

  /**
   * Each function's scenarios: its happy path and at least one failure. Which functions there are
   * comes from the template, not from this file: a function that leaves the stack (its work moved
   * into the workflow) has its scenarios skipped, and one that joins it fails the coverage test below
   * until it has both.
   */
  type Kind = "happy" | "failure";
  const scenarios = new Map<string, Set<Kind>>();
  const scenario =
    (kind: Kind) =>
    (functionDir: string, name: string, body: () => Promise<void>): void => {
      scenarios.set(functionDir, (scenarios.get(functionDir) ?? new Set<Kind>()).add(kind));
      it(name, async (ctx) => {
        if (!staged.has(functionDir)) ctx.skip(`${functionDir} is not in the synthesized template`);
        await body();
      });
    };
  const happy = scenario("happy");
  const failure = scenario("failure");

  it("every function the template deploys has a happy path and a failure scenario here", () => {
    const missing = [...staged.keys()].flatMap((dir) =>
      (["happy", "failure"] as const)
        .filter((k) => !scenarios.get(dir)?.has(k))
        .map((k) => `${dir}: no ${k} scenario`),
    );
    expect(missing).toEqual([]);
  });

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

    happy("claim-release", "claims app#tag in the table the template names", async () => {
      fakes.on("DynamoDB.PutItem", {});
      const run = await invoke("claim-release", event);
      expect(run.error).toBeUndefined();
      const put = fakes.callsOf("DynamoDB.PutItem");
      expect(put).toHaveLength(1);
      expect(put[0]?.input.TableName).toBe(envOf("claim-release", "LEDGER_TABLE_NAME"));
      expect(put[0]?.input.Item.pk).toEqual({ S: `${APP}#${TAG}` });
    });

    failure(
      "claim-release",
      "turns DynamoDB's ConditionalCheckFailedException into ReleaseAlreadyClaimedError",
      async () => {
        fakes.on("DynamoDB.PutItem", conditionalCheckFailed());
        const run = await invoke("claim-release", event);
        expect(run.error?.name).toBe("ReleaseAlreadyClaimedError");
      },
    );
  });

  // Giving the dev lock back (ReleaseDevLock) is a dynamodb:updateItem integration of the workflow,
  // not a Lambda: no bundle to run here.
  describe("acquire-dev-lock (DynamoDB conditional writes)", () => {
    const acquire = { app: APP, tag: TAG, executionId: EXECUTION, force: false, timeoutSeconds: 900 };

    happy(
      "acquire-dev-lock",
      "acquires a free lock: consistent read, then a conditional put of devlock#<app>",
      async () => {
        fakes.on("DynamoDB.GetItem", {}).on("DynamoDB.PutItem", {});
        const run = await invoke("acquire-dev-lock", acquire);
        expect(run.error).toBeUndefined();
        expect(run.result.acquired).toBe(true);
        const put = fakes.callsOf("DynamoDB.PutItem")[0]?.input;
        expect(put?.TableName).toBe(envOf("acquire-dev-lock", "LEDGER_TABLE_NAME"));
        expect(put?.Item.pk).toEqual({ S: `devlock#${APP}` });
      },
    );

    failure(
      "acquire-dev-lock",
      "loses a race (ConditionalCheckFailedException on the put) as the retryable DevLockBusyError",
      async () => {
        fakes.on("DynamoDB.GetItem", {}).on("DynamoDB.PutItem", conditionalCheckFailed());
        const run = await invoke("acquire-dev-lock", acquire);
        expect(run.error?.name).toBe("DevLockBusyError");
      },
    );
  });

  describe("verify-dev-deploy (SSM, JSON 1.1)", () => {
    const event = { commandId: COMMAND_ID, app: APP, tag: TAG, timeoutSeconds: 900 };
    const sentAt = () => Date.now() / 1000 - 5;

    failure(
      "verify-dev-deploy",
      "right after SendCommand (no invocation listed yet) the deploy is in progress, not 'no instances'",
      async () => {
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
      },
    );

    let capacity = 2500;
    failure(
      "verify-dev-deploy",
      "reads the result from stdout, not from the truncated plugin Output: a rolled-back deploy is named so",
      async () => {
        const stdout = `${JSON.stringify({ status: "rolled-back", app: APP, tag: TAG, step: "health" })}\n`;
        const stderr = Array.from(
          { length: 120 },
          (_, i) => `deploy-dev: [${i}] waiting for web health`,
        ).join("\n");
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
                          Output: pluginOutput(stdout, stderr, capacity),
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
        // Both agent generations: the result line never survives in Output, only in stdout.
        for (const agentCapacity of [2400, 2500]) {
          capacity = agentCapacity;
          const output = pluginOutput(stdout, stderr, capacity);
          expect(output.length).toBeLessThanOrEqual(capacity);
          expect(output).toContain("\n----------ERROR-------\n");
          expect(output.endsWith("\n---Error truncated----")).toBe(true);
          const run = await invoke("verify-dev-deploy", event);
          expect(run.error?.name).toBe("DevDeployRolledBackError");
          expect(fakes.callsOf("SSM.GetCommandInvocation")[0]?.input).toMatchObject({
            CommandId: COMMAND_ID,
            InstanceId: INSTANCE,
          });
          fakes.calls.length = 0;
        }
      },
    );

    happy(
      "verify-dev-deploy",
      "a host whose stdout ends in the deployed result line is a verified deploy",
      async () => {
        const stdout = `pulling 6 images\n${JSON.stringify({ status: "deployed", app: APP, tag: TAG })}\n`;
        const stderr = "deploy-dev: compose up --wait done";
        fakes
          .on("SSM.ListCommands", {
            Commands: [
              {
                CommandId: COMMAND_ID,
                Status: "Success",
                StatusDetails: "Success",
                TargetCount: 1,
                CompletedCount: 1,
                ErrorCount: 0,
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
                Status: "Success",
                StatusDetails: "Success",
                ...(input.Details
                  ? {
                      CommandPlugins: [
                        {
                          Name: "deploy",
                          Status: "Success",
                          ResponseCode: 0,
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
            Status: "Success",
            StatusDetails: "Success",
            ResponseCode: 0,
            StandardOutputContent: stdout,
            StandardErrorContent: stderr,
          });
        const run = await invoke("verify-dev-deploy", event);
        expect(run.error).toBeUndefined();
        expect(run.result.instances.map((i: { instanceId: string }) => i.instanceId)).toEqual([INSTANCE]);
      },
    );
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

    happy(
      "describe-build-failure",
      "reads the failed build (BatchGetBuilds) and names its failed phase: BuildFailedError",
      async () => {
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
      },
    );

    failure(
      "describe-build-failure",
      "when BatchGetBuilds is refused (AccessDeniedException) it still reports from the Cause",
      async () => {
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
      },
    );
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

    happy(
      "record-outcome",
      "records the outcome in the ledger and publishes Release Succeeded on the pipeline bus",
      async () => {
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
      },
    );

    failure(
      "record-outcome",
      "PutEvents answering 200 with a failed entry (FailedEntryCount 1) is an error, not a success",
      async () => {
        // EventBridge API Reference, PutEvents: a 200 response can still hold failed entries, each with
        // an ErrorCode and ErrorMessage, counted by FailedEntryCount.
        fakes.on("DynamoDB.UpdateItem", {}).on("EventBridge.PutEvents", {
          FailedEntryCount: 1,
          Entries: [{ ErrorCode: "InternalFailure", ErrorMessage: "Internal Failure" }],
        });
        const run = await invoke("record-outcome", event);
        expect(run.error?.name).toBe("EventPublishFailedError");
      },
    );
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

    happy(
      "reconcile-releases",
      "starts a release for a recent v* image the ledger never claimed, on the machine the template names",
      async () => {
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
      },
    );

    failure(
      "reconcile-releases",
      "an execution of that name already there (ExecutionAlreadyExists) is not a failure",
      async () => {
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
      },
    );
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

    happy(
      "evaluate-scan",
      "reads the Trivy report from the reports bucket and stores the findings next to it",
      async () => {
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
      },
    );

    failure(
      "evaluate-scan",
      "a report that is not there (S3 NoSuchKey, 404) fails the task with S3's error name",
      async () => {
        fakes.on("S3.GetObject", new FakeAwsError("NoSuchKey", "The specified key does not exist.", 404));
        const run = await invoke("evaluate-scan", event());
        expect(run.error?.name).toBe("NoSuchKey");
        expect(fakes.callsOf("S3.PutObject")).toHaveLength(0);
      },
    );
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

    happy("send-notification", "sends from the configured address and returns SES's MessageId", async () => {
      fakes.on("SESv2.SendEmail", { MessageId: "0100018f-fake-message-id" });
      const run = await invoke("send-notification", event);
      expect(run.error).toBeUndefined();
      expect(run.result.messageId).toBe("0100018f-fake-message-id");
      expect(fakes.callsOf("SESv2.SendEmail")[0]?.input.FromEmailAddress).toBe(
        loadConfigFile(FIXTURE_CONFIG).notify.from,
      );
    });

    happy(
      "send-notification",
      "SES authorizes the send under the role's own template policy: sandbox with verified addresses, and production with a verified domain",
      async () => {
        const fn = staged.get("send-notification")?.fn as LambdaInTemplate;
        const statements = statementsOfRole(synth.template, fn.roleId);
        const { notify } = loadConfigFile(FIXTURE_CONFIG);
        const addresses = [notify.from, ...notify.to, ...notify.onFailure];
        const account = { region: FAKE_REGION, account: FAKE_ACCOUNT, statements };
        // The README's first-deploy path: sandbox, each address verified on its own.
        fakes.on("SESv2.SendEmail", sesAccount({ ...account, sandbox: true, verified: addresses }));
        const sandboxed = await invoke("send-notification", event);
        expect(sandboxed.error).toBeUndefined();
        expect(sandboxed.result.messageId).toMatch(/^0100018f-/);
        // Production access, the From domain verified.
        fakes.on(
          "SESv2.SendEmail",
          sesAccount({ ...account, sandbox: false, verified: [notify.from.split("@")[1] as string] }),
        );
        const production = await invoke("send-notification", event);
        expect(production.error).toBeUndefined();
        expect(fakes.callsOf("SESv2.SendEmail")).toHaveLength(2);
      },
    );

    failure(
      "send-notification",
      "a recipient SES has not verified (sandbox) is MessageRejected: NotificationFailedError names it",
      async () => {
        const fn = staged.get("send-notification")?.fn as LambdaInTemplate;
        const { notify } = loadConfigFile(FIXTURE_CONFIG);
        fakes.on(
          "SESv2.SendEmail",
          sesAccount({
            region: FAKE_REGION,
            account: FAKE_ACCOUNT,
            statements: statementsOfRole(synth.template, fn.roleId),
            sandbox: true,
            verified: [notify.from],
          }),
        );
        const run = await invoke("send-notification", event);
        expect(run.error?.name).toBe("NotificationFailedError");
        expect(run.error?.message).toContain("MessageRejected");
      },
    );

    failure(
      "send-notification",
      "reports SES AccessDenied (identity not covered by the policy) as NotificationFailedError",
      async () => {
        fakes.on(
          "SESv2.SendEmail",
          sesAccessDenied(`arn:aws:ses:${FAKE_REGION}:${FAKE_ACCOUNT}:identity/releases@example.com`),
        );
        const run = await invoke("send-notification", event);
        expect(run.error?.name).toBe("NotificationFailedError");
        expect(run.error?.message).toContain("AccessDeniedException");
      },
    );
  });

  describe("update-manifests (Secrets Manager, JSON 1.1)", () => {
    happy(
      "update-manifests",
      "a re-run whose manifests already pin the release is a no-op: no commit, the compose file still goes to the artifacts bucket",
      async () => {
        const config = loadConfigFile(FIXTURE_CONFIG);
        const registry = `${config.registry.accountId}.dkr.ecr.${config.registry.region}.amazonaws.com`;
        const images = config.services.map((s) => ({
          service: s.name,
          repository: `${registry}/${s.repository}`,
          tag: TAG,
          digest: DIGEST,
        }));
        const pinned = (service: string) =>
          `${registry}/${config.services.find((s) => s.name === service)?.repository}:${TAG}@${DIGEST}`;
        const contents: Record<string, string> = {
          "k8s/proxy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: proxy
spec:
  template:
    spec:
      containers:
        - name: proxy
          image: ${pinned("proxy")}
`,
          "docker-compose.yaml": `services:
${config.services.map((s) => `  ${s.name}:\n    image: ${pinned(s.name)}\n`).join("")}`,
        };
        expect(Object.keys(contents).sort()).toEqual(config.manifests.files.map((f) => f.path).sort());
        fakes
          .on("SecretsManager.GetSecretValue", (input: Json) => ({
            ARN: input.SecretId,
            Name: "GithubCredentials",
            SecretString: JSON.stringify({ token: "ghp_contract_update_manifests" }),
            VersionStages: ["AWSCURRENT"],
          }))
          // GitHub GraphQL: POST /graphql answers {"data": ...}; the read asks for each path as `fN`.
          .on("GitHub.POST /graphql", (body: Json) => {
            const target: Record<string, Json> = { oid: "d".repeat(40) };
            for (const [name, value] of Object.entries(body.variables as Record<string, string>)) {
              const m = /^p(\d+)$/.exec(name);
              if (!m) continue;
              target[`f${m[1]}`] = {
                object: { oid: "e".repeat(40), text: contents[value], isBinary: false, isTruncated: false },
              };
            }
            return { data: { repository: { ref: { target } } } };
          })
          .on("S3.PutObject", {});
        const run = await invoke("update-manifests", {
          app: APP,
          tag: TAG,
          executionId: EXECUTION,
          force: false,
          images,
          scans: [],
          rollback: null,
        });
        expect(run.error).toBeUndefined();
        expect(run.result).toMatchObject({ commit: null, unchanged: true });
        const put = fakes.callsOf("S3.PutObject")[0]?.input;
        expect(put?.Bucket).toBe(envOf("update-manifests", "ARTIFACTS_BUCKET_NAME"));
        expect(put?.Key).toBe(`releases/${APP}/${TAG}/docker-compose.yaml`);
        expect(fakes.callsOf("GitHub.POST /graphql")).toHaveLength(1);
      },
    );

    failure(
      "update-manifests",
      "a GitHub secret that is not JSON fails with a named error, and the token appears nowhere",
      async () => {
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
      },
    );
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

    happy(
      "receive-github-webhook",
      "a signed tag push becomes one event on the bus the template names",
      async () => {
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
      },
    );

    failure(
      "receive-github-webhook",
      "a bad signature is a 401 and reaches neither the ledger nor the bus",
      async () => {
        fakes.on("SecretsManager.GetSecretValue", secrets);
        const run = await invoke("receive-github-webhook", urlEvent(`sha256=${"0".repeat(64)}`));
        expect(run.result?.statusCode).toBe(401);
        expect(fakes.callsOf("EventBridge.PutEvents")).toHaveLength(0);
        expect(fakes.callsOf("DynamoDB.PutItem")).toHaveLength(0);
      },
    );

    failure(
      "receive-github-webhook",
      "a redelivery (the dedupe's conditional put fails as DynamoDB sends it) is a 202 duplicate that reaches no bus",
      async () => {
        fakes.on("SecretsManager.GetSecretValue", secrets).on("DynamoDB.PutItem", conditionalCheckFailed());
        const signature = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
        const run = await invoke("receive-github-webhook", urlEvent(signature));
        expect(run.result?.statusCode).toBe(202);
        expect(String(run.result?.body)).toContain("duplicate delivery");
        expect(fakes.callsOf("DynamoDB.PutItem").length).toBeGreaterThan(0);
        expect(fakes.callsOf("EventBridge.PutEvents")).toHaveLength(0);
      },
    );
  });

  describe("plan-release (ECR, JSON 1.1)", () => {
    const event = {
      app: APP,
      tag: TAG,
      trigger: { source: "ecr", repository: "go-coffeeshop/web", digest: DIGEST },
      force: false,
    };

    happy("plan-release", "resolves the other services' digests with DescribeImages", async () => {
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

    failure(
      "plan-release",
      "an image ECR does not have yet (ImageNotFoundException) makes the plan wait: ImagesNotReadyError",
      async () => {
        fakes.on(
          "ECR.DescribeImages",
          new FakeAwsError(
            "ImageNotFoundException",
            "The image with imageId {imageTag:'v1.4.0'} does not exist",
          ),
        );
        const run = await invoke("plan-release", event);
        expect(run.error?.name).toBe("ImagesNotReadyError");
      },
    );
  });

  const releaseRequest = {
    app: APP,
    tag: TAG,
    trigger: { source: "github", repository: "o/r", commit: "a".repeat(40), pusher: "p", deliveryId: "d" },
    force: false,
  };

  describe("gate-on-scan (no AWS call: the bundle and its named errors)", () => {
    const scan = (service: string, verdict: "PASSED" | "REJECTED") => ({
      service,
      image: { repository: `go-coffeeshop/${service}`, tag: TAG, digest: DIGEST },
      verdict,
      counts: verdict === "PASSED" ? {} : { CRITICAL: 1 },
      blockingIds: verdict === "PASSED" ? [] : ["CVE-2024-45337"],
      blockingOmitted: 0,
      blockingCounts: verdict === "PASSED" ? {} : { CRITICAL: 1 },
      allowed: [],
      warnings: [],
      report: `s3://reports/${APP}/${TAG}/${service}/trivy.json`,
      findings: `s3://reports/${APP}/${TAG}/${service}/findings.json`,
      scannedBy: "trivy",
    });

    happy("gate-on-scan", "every image passed: the images go on to UpdateManifests", async () => {
      const run = await invoke("gate-on-scan", { scans: [scan("web", "PASSED"), scan("proxy", "PASSED")] });
      expect(run.error).toBeUndefined();
      expect(run.result.images.map((i: { service: string }) => i.service)).toEqual(["web", "proxy"]);
    });

    failure(
      "gate-on-scan",
      "one rejected image rejects the release with the error name the ASL catches",
      async () => {
        const run = await invoke("gate-on-scan", {
          scans: [scan("web", "REJECTED"), scan("proxy", "PASSED")],
        });
        expect(run.error?.name).toBe("ScanPolicyRejectedError");
        expect(run.error?.message).toContain("CVE-2024-45337");
      },
    );
  });

  describe("start-release (DynamoDB, Step Functions JSON 1.0)", () => {
    happy("start-release", "a new tag starts attempt 1 on the state machine the template names", async () => {
      fakes.on("DynamoDB.GetItem", {}).on("SFN.StartExecution", (input: Json) => ({
        executionArn: `${String(input.stateMachineArn).replace(":stateMachine:", ":execution:")}:${input.name}`,
        startDate: Date.now() / 1000,
      }));
      const run = await invoke("start-release", releaseRequest);
      expect(run.error).toBeUndefined();
      expect(run.result.started).toBe(true);
      const start = fakes.callsOf("SFN.StartExecution")[0]?.input;
      expect(start?.stateMachineArn).toBe(envOf("start-release", "STATE_MACHINE_ARN"));
      expect(JSON.parse(start?.input).tag).toBe(TAG);
      expect(fakes.callsOf("DynamoDB.GetItem")[0]?.input.TableName).toBe(
        envOf("start-release", "LEDGER_TABLE_NAME"),
      );
    });

    failure(
      "start-release",
      "a state machine Step Functions does not know fails the invocation (EventBridge retries, then its DLQ)",
      async () => {
        fakes
          .on("DynamoDB.GetItem", {})
          .on(
            "SFN.StartExecution",
            new FakeAwsError(
              "StateMachineDoesNotExist",
              "State Machine Does Not Exist: 'arn:aws:states:...'",
            ),
          );
        const run = await invoke("start-release", releaseRequest);
        expect(run.ok).toBe(false);
        expect(run.error?.name).toBe("StateMachineDoesNotExist");
      },
    );
  });

  describe("finish-abandoned-release (EventBridge status-change event; DynamoDB, SES v2)", () => {
    const statusChange = (input: string | null) => ({
      version: "0",
      id: "315c1398-40ff-a850-213b-158f73e60175",
      source: "aws.states",
      "detail-type": "Step Functions Execution Status Change",
      account: FAKE_ACCOUNT,
      region: FAKE_REGION,
      time: "2026-01-01T01:00:00Z",
      resources: [EXECUTION],
      detail: {
        executionArn: EXECUTION,
        stateMachineArn: `arn:aws:states:${FAKE_REGION}:${FAKE_ACCOUNT}:stateMachine:release`,
        name: "run-1",
        status: "TIMED_OUT",
        startDate: 1_767_225_600_000,
        stopDate: 1_767_229_200_000,
        input,
        inputDetails: { included: input !== null },
        error: null,
        cause: null,
      },
    });

    happy(
      "finish-abandoned-release",
      "a timed-out execution that holds the claim: outcome recorded, lock given back, one email",
      async () => {
        fakes
          .on("DynamoDB.UpdateItem", {})
          .on("DynamoDB.GetItem", {
            Item: {
              pk: { S: `${APP}#${TAG}` },
              app: { S: APP },
              tag: { S: TAG },
              executionId: { S: EXECUTION },
              claimedAt: { S: "2026-01-01T00:00:00.000Z" },
              status: { S: "TIMED_OUT" },
              trigger: { S: JSON.stringify(releaseRequest.trigger) },
              summary: { S: JSON.stringify({ abandoned: true, outcome: "failed" }) },
            },
          })
          .on("SESv2.SendEmail", { MessageId: "0100018f-abandoned" });
        const run = await invoke("finish-abandoned-release", statusChange(JSON.stringify(releaseRequest)));
        expect(run.error).toBeUndefined();
        expect(run.result).toMatchObject({ finished: true, status: "TIMED_OUT", emailed: true });
        expect(fakes.callsOf("SESv2.SendEmail")).toHaveLength(1);
        for (const c of fakes.callsOf("DynamoDB.UpdateItem"))
          expect(c.input.TableName).toBe(envOf("finish-abandoned-release", "LEDGER_TABLE_NAME"));
      },
    );

    failure(
      "finish-abandoned-release",
      "an event that is not a status change is refused as InvalidInputError, nothing written",
      async () => {
        const run = await invoke("finish-abandoned-release", { source: "aws.states", detail: {} });
        expect(run.error?.name).toBe("InvalidInputError");
        expect(fakes.calls).toHaveLength(0);
      },
    );
  });

  describe("report-dev-result (Secrets Manager, GitHub REST)", () => {
    const config = () => loadConfigFile(FIXTURE_CONFIG);
    const input = {
      release: {
        ...releaseRequest,
        pullRequest: {
          branch: `release/${APP}/${TAG}`,
          number: 42,
          commit: "c".repeat(40),
          url: "https://github.com/o/r/pull/42",
          body: "Release v1.4.0",
          changedFiles: [],
        },
        deploy: {
          commandId: COMMAND_ID,
          result: {
            instances: [{ instanceId: INSTANCE, status: "Success", summary: "deployed" }],
            dryRun: false,
          },
        },
      },
      executionId: EXECUTION,
    };
    const secret = (value: string) => (req: Json) => ({
      ARN: req.SecretId,
      Name: "GithubCredentials",
      SecretString: value,
      VersionStages: ["AWSCURRENT"],
    });

    happy(
      "report-dev-result",
      "rewrites the PR body's dev section and sets the pourover/dev status (two GitHub calls)",
      async () => {
        const repo = config().manifests.repo;
        fakes
          .on("SecretsManager.GetSecretValue", secret(JSON.stringify({ token: "ghp_contract_report" })))
          .on(`GitHub.PATCH /repos/${repo}/pulls/42`, { number: 42, state: "open" })
          .on(`GitHub.POST /repos/${repo}/statuses/${"c".repeat(40)}`, (body: Json) => ({
            id: 1,
            state: body.state,
            context: body.context,
          }));
        const run = await invoke("report-dev-result", input);
        expect(run.error).toBeUndefined();
        expect(run.result).toMatchObject({ reported: true, state: "success" });
        expect(fakes.calls.filter((c) => c.service === "GitHub").map((c) => c.operation)).toEqual([
          `PATCH /repos/${repo}/pulls/42`,
          `POST /repos/${repo}/statuses/${"c".repeat(40)}`,
        ]);
        expect(fakes.callsOf("SecretsManager.GetSecretValue")[0]?.input.SecretId).toBe(
          envOf("report-dev-result", "GITHUB_CREDENTIALS_SECRET_ARN"),
        );
      },
    );

    failure(
      "report-dev-result",
      "a credentials secret that is not JSON is a named error that never shows the token",
      async () => {
        const token = "ghp_ReportDevResultTokenThatMustNeverLeak01";
        fakes.on("SecretsManager.GetSecretValue", secret(token));
        const run = await invoke("report-dev-result", input);
        expect(run.error?.name).toBe("InvalidInputError");
        expect(JSON.stringify(run)).not.toContain("ghp_");
        expect(fakes.calls.filter((c) => c.service === "GitHub")).toHaveLength(0);
      },
    );
  });

  describe("receive-argocd-notification (Function URL event; Secrets Manager, DynamoDB)", () => {
    const token = "argocd-token-0123456789abcdefghijklmnopqrstuv";
    const notification = () => {
      const config = loadConfigFile(FIXTURE_CONFIG);
      const registry = `${config.registry.accountId}.dkr.ecr.${config.registry.region}.amazonaws.com`;
      return JSON.stringify({
        event: "on-deployed",
        app: APP,
        revision: "a".repeat(40),
        images: config.services.map((s) => `${registry}/${s.repository}:${TAG}@${DIGEST}`),
        syncStatus: "Synced",
        health: "Healthy",
        finishedAt: "2026-01-01T00:00:00Z",
      });
    };
    const urlEvent = (authorization: string) => ({
      version: "2.0",
      rawPath: "/",
      headers: { "content-type": "application/json", authorization },
      requestContext: { http: { method: "POST", path: "/" } },
      body: notification(),
      isBase64Encoded: false,
    });
    const secrets = (input: Json) =>
      input.VersionStage === "AWSPREVIOUS"
        ? new FakeAwsError(
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS",
          )
        : { ARN: input.SecretId, Name: "ArgocdToken", SecretString: JSON.stringify({ token }) };

    happy(
      "receive-argocd-notification",
      "an authenticated notification for a tag the ledger never released is accepted and ignored (202)",
      async () => {
        fakes.on("SecretsManager.GetSecretValue", secrets).on("DynamoDB.GetItem", {});
        const run = await invoke("receive-argocd-notification", urlEvent(`Bearer ${token}`));
        expect(run.result?.statusCode).toBe(202);
        expect(fakes.callsOf("DynamoDB.GetItem")[0]?.input.Key).toEqual({ pk: { S: `${APP}#${TAG}` } });
      },
    );

    failure("receive-argocd-notification", "a wrong bearer token is a 401 that reads no ledger", async () => {
      fakes.on("SecretsManager.GetSecretValue", secrets);
      const run = await invoke("receive-argocd-notification", urlEvent(`Bearer ${token.slice(0, -1)}X`));
      expect(run.result?.statusCode).toBe(401);
      expect(fakes.callsOf("DynamoDB.GetItem")).toHaveLength(0);
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
