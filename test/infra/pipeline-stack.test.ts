import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { buildApp, WEBHOOK_RESERVED_CONCURRENCY_CONTEXT_KEY } from "../../infra/app.js";
import { RELEASE_PLACEHOLDERS } from "../../infra/constructs/release-state-machine.js";
import { DEPLOY_PARAMETER_PATTERNS, PipelineStack } from "../../infra/stacks/pipeline-stack.js";
import { loadConfigFile as loadAppConfig } from "../../shared/config/load-config-file.js";
import { InvalidInputError } from "../../shared/domain/errors.js";
import {
  FIXTURE_CONFIG,
  type Json,
  REPO_ROOT,
  resourcesOf,
  SYNTH_TIMEOUT_MS,
  synthPipeline,
} from "./synth-helper.js";

let template: Template;
let outdir: string;
let stackName: string;
const REPOS = ["go-coffeeshop/proxy", "go-coffeeshop/product", "go-coffeeshop/web"];

beforeAll(() => {
  const synth = synthPipeline();
  template = synth.template;
  outdir = synth.outdir;
  stackName = synth.stack.stackName;
}, SYNTH_TIMEOUT_MS);

const getAtt = (id: string) => ({ "Fn::GetAtt": [id, "Arn"] });

function only(type: string, predicate: (r: Json) => boolean = () => true): [string, Json] {
  const found = resourcesOf(template, type).filter(([, r]) => predicate(r));
  expect(found, type).toHaveLength(1);
  return found[0] as [string, Json];
}

function logicalIdOfFunction(prefix: string): string {
  const [id] = only("AWS::Lambda::Function", (r) =>
    JSON.stringify(r.Properties.Role).includes(`${prefix}Role`),
  );
  return id;
}

/** The constructs of the stack that own functions and projects: a prefix of their logical ids. */
const OWNER = /^(ReleaseFunctions|BuildAndScan|DevDeploy|Triggers)/;

/**
 * Every statement of the inline policies attached to a role whose logical id starts with
 * `rolePrefix`, after the id of the construct that owns it (OWNER), if any.
 */
function statementsOfRole(rolePrefix: string): Json[] {
  const roles = resourcesOf(template, "AWS::IAM::Role").filter(([id]) =>
    id.replace(OWNER, "").startsWith(rolePrefix),
  );
  expect(roles, rolePrefix).toHaveLength(1);
  const roleId = (roles[0] as [string, Json])[0];
  return resourcesOf(template, "AWS::IAM::Policy")
    .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[]);
}

const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** Renders an InputTransformer template with sample values, as EventBridge would. */
function renderInput(transformer: Json, values: Record<string, unknown>): Json {
  let text: string = transformer.InputTemplate;
  for (const [name, path] of Object.entries(transformer.InputPathsMap as Record<string, string>)) {
    expect(path in values, `sample value for ${path}`).toBe(true);
    text = text.replaceAll(`<${name}>`, JSON.stringify(values[path]));
  }
  return JSON.parse(text);
}

describe("config loading", () => {
  it("fails with one line per bad field", () => {
    const bad = join(FIXTURE_CONFIG, "..", "bad.config.yaml");
    let error: unknown;
    try {
      loadAppConfig(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    const problems = (error as InvalidInputError).problems;
    expect(problems.length).toBeGreaterThanOrEqual(2);
    for (const line of problems) expect(line).not.toContain("\n");
    expect(problems.some((p) => p.includes("registry.accountId"))).toBe(true);
    expect(problems.some((p) => p.includes("services[0].repository"))).toBe(true);
  });
});

describe("event bus and rules", () => {
  it("creates the pipeline's own bus", () => {
    template.hasResourceProperties("AWS::Events::EventBus", { Name: "pourover-coffeeshop" });
  });

  it("matches verified tag pushes on the pipeline bus, exactly", () => {
    const [, rule] = only(
      "AWS::Events::Rule",
      (r) => r.Properties.EventPattern.source[0] === "pourover.webhook",
    );
    expect(rule.Properties.EventPattern).toEqual({
      source: ["pourover.webhook"],
      "detail-type": ["Release Tag Pushed"],
      detail: { app: ["coffeeshop"] },
    });
    expect(rule.Properties.EventBusName).toEqual({ Ref: only("AWS::Events::EventBus")[0] });
  });

  it("matches successful v* pushes to the configured ECR repositories on the default bus, exactly", () => {
    const [, rule] = only("AWS::Events::Rule", (r) => r.Properties.EventPattern.source[0] === "aws.ecr");
    expect(rule.Properties.EventPattern).toEqual({
      source: ["aws.ecr"],
      "detail-type": ["ECR Image Action"],
      detail: {
        "action-type": ["PUSH"],
        result: ["SUCCESS"],
        "repository-name": REPOS,
        "image-tag": [{ prefix: "v" }],
      },
    });
    expect(rule.Properties.EventBusName).toBeUndefined();
  });

  it("turns a webhook event into the release request", () => {
    const [, rule] = only(
      "AWS::Events::Rule",
      (r) => r.Properties.EventPattern.source[0] === "pourover.webhook",
    );
    const target = rule.Properties.Targets[0];
    expect(
      renderInput(target.InputTransformer, {
        "$.detail.app": "coffeeshop",
        "$.detail.tag": "v1.2.3",
        "$.detail.repository": "thangchung/go-coffeeshop",
        "$.detail.commit": "a".repeat(40),
        "$.detail.pusher": "octocat",
        "$.detail.deliveryId": "d-1",
      }),
    ).toEqual({
      app: "coffeeshop",
      tag: "v1.2.3",
      trigger: {
        source: "github",
        repository: "thangchung/go-coffeeshop",
        commit: "a".repeat(40),
        pusher: "octocat",
        deliveryId: "d-1",
      },
      force: false,
    });
  });

  it("turns an ECR push into the release request", () => {
    const [, rule] = only("AWS::Events::Rule", (r) => r.Properties.EventPattern.source[0] === "aws.ecr");
    const target = rule.Properties.Targets[0];
    const digest = `sha256:${"b".repeat(64)}`;
    expect(
      renderInput(target.InputTransformer, {
        "$.detail.image-tag": "v2.0.0",
        "$.detail.repository-name": "go-coffeeshop/web",
        "$.detail.image-digest": digest,
      }),
    ).toEqual({
      app: "coffeeshop",
      tag: "v2.0.0",
      trigger: { source: "ecr", repository: "go-coffeeshop/web", digest },
      force: false,
    });
  });

  it("gives both targets their own encrypted, SSL-only DLQ and a retry policy", () => {
    // Both rules invoke the release starter, which names the execution (<app>-<tag>-<attempt>).
    const [starterId] = resourcesOf(template, "AWS::Lambda::Function").find(([id]) =>
      id.startsWith("TriggersReleaseStarterStartRelease"),
    ) as [string, Json];
    // The trigger rules; the aws.states rule closing abandoned executions has its own test file.
    const rules = resourcesOf(template, "AWS::Events::Rule").filter(
      ([, r]) => r.Properties.EventPattern.source[0] !== "aws.states",
    );
    expect(rules).toHaveLength(2);
    const dlqs = new Set<string>();
    for (const [, rule] of rules) {
      expect(rule.Properties.Targets).toHaveLength(1);
      const target = rule.Properties.Targets[0];
      expect(target.Arn).toEqual({ "Fn::GetAtt": [starterId, "Arn"] });
      expect(target.RetryPolicy).toEqual({ MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 7200 });
      const queueId = target.DeadLetterConfig.Arn["Fn::GetAtt"][0] as string;
      dlqs.add(queueId);
      const queue = template.toJSON().Resources[queueId];
      expect(queue.Type).toBe("AWS::SQS::Queue");
      expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
      const policies = resourcesOf(template, "AWS::SQS::QueuePolicy").filter(([, p]) =>
        JSON.stringify(p.Properties.Queues).includes(queueId),
      );
      const statements = policies.flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[]);
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: "Deny",
          Condition: { Bool: { "aws:SecureTransport": "false" } },
        }),
      );
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: "Allow",
          Action: "sqs:SendMessage",
          Principal: { Service: "events.amazonaws.com" },
        }),
      );
    }
    expect(dlqs.size).toBe(2);
  });
});

describe("state machine", () => {
  it("is Standard, logs ALL with execution data, traces with X-Ray", () => {
    const [, sm] = only("AWS::StepFunctions::StateMachine");
    expect(sm.Properties.StateMachineType).toBe("STANDARD");
    expect(sm.Properties.LoggingConfiguration).toMatchObject({ Level: "ALL", IncludeExecutionData: true });
    expect(sm.Properties.LoggingConfiguration.Destinations).toHaveLength(1);
    expect(sm.Properties.TracingConfiguration).toEqual({ Enabled: true });
  });

  it("fills every placeholder of the ASL file", () => {
    const [, sm] = only("AWS::StepFunctions::StateMachine");
    const subs = sm.Properties.DefinitionSubstitutions as Record<string, Json>;
    expect(Object.keys(subs).sort()).toEqual([...RELEASE_PLACEHOLDERS].sort());
    expect(subs.ClaimReleaseFunctionArn).toEqual(getAtt(logicalIdOfFunction("ClaimRelease")));
    expect(subs.VerifyDevFunctionArn).toEqual(getAtt(logicalIdOfFunction("VerifyDevDeploy")));
    expect(subs.BuildProjectName).toEqual({
      Ref: only("AWS::CodeBuild::Project", (r) => r.Properties.Environment.PrivilegedMode)[0],
    });
    expect(subs.DeployDocumentName).toEqual({ Ref: only("AWS::SSM::Document")[0] });
    // DefinitionBody.fromFile ships the ASL file unchanged as an asset; CloudFormation substitutes.
    const key = String(sm.Properties.DefinitionS3Location.Key);
    const shipped = readFileSync(join(outdir, `asset.${key.replace(/\.json$/, "")}.json`), "utf8");
    expect(shipped).toBe(readFileSync(join(REPO_ROOT, "state-machines", "release.asl.json"), "utf8"));
  });

  it("grants each state ARN-scoped permissions; the only '*' resources are the log-delivery, X-Ray and EC2/SSM describe APIs", () => {
    const statements = statementsOfRole("ReleaseStateMachineRole");
    const wildcardOk = new Set([
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
      // The wake loop (WakeDevHost, CheckDevHostAgents): read-only, no resource-level permissions.
      "ec2:DescribeInstances",
      "ssm:DescribeInstanceInformation",
    ]);
    for (const s of statements) {
      for (const action of asArray(s.Action as string | string[])) expect(action).not.toMatch(/\*/);
      if (asArray(s.Resource).includes("*")) {
        for (const action of asArray(s.Action as string | string[]))
          expect(wildcardOk.has(action), action).toBe(true);
      }
    }
    const bySid = (sid: string) => statements.find((s) => s.Sid === sid);
    const invoke = bySid("InvokeReleaseFunctions");
    expect(invoke.Action).toBe("lambda:InvokeFunction");
    // One function per `...FunctionArn` placeholder the workflow invokes, and nothing else.
    expect(invoke.Resource).toHaveLength(
      RELEASE_PLACEHOLDERS.filter((p) => p.endsWith("FunctionArn")).length,
    );
    for (const r of invoke.Resource) expect(r).toHaveProperty("Fn::GetAtt");

    const cb = bySid("RunBuildAndScanProjects");
    expect(cb.Action).toEqual(["codebuild:StartBuild", "codebuild:StopBuild", "codebuild:BatchGetBuilds"]);
    expect(cb.Resource).toHaveLength(2);

    const rule = bySid("CodeBuildSyncManagedRule");
    expect(rule.Action).toEqual(["events:PutTargets", "events:PutRule", "events:DescribeRule"]);
    expect(JSON.stringify(rule.Resource)).toContain(":rule/StepFunctionsGetEventForCodeBuildStartBuildRule");

    const doc = bySid("SendDeployDocument");
    expect(doc.Action).toBe("ssm:SendCommand");
    expect(JSON.stringify(doc.Resource)).toContain(":document/");

    const start = bySid("StartTaggedDevHosts");
    expect(start.Action).toBe("ec2:StartInstances");
    expect(JSON.stringify(start.Resource)).toContain(":instance/*");
    expect(start.Condition).toEqual({
      StringEquals: { "aws:ResourceTag/pourover:env": "dev", "aws:ResourceTag/app": "coffeeshop" },
    });

    const instances = bySid("SendDeployToTaggedDevInstances");
    expect(JSON.stringify(instances.Resource)).toContain(":instance/*");
    expect(instances.Condition).toEqual({
      StringEquals: { "ssm:resourceTag/pourover:env": "dev", "ssm:resourceTag/app": "coffeeshop" },
    });
  });
});

describe("Lambda functions", () => {
  const names = [
    "ClaimRelease",
    "PlanRelease",
    "EvaluateScan",
    "GateOnScan",
    "UpdateManifests",
    "VerifyDevDeploy",
    "SendNotification",
    "RecordOutcome",
    "AcquireDevLock",
    "ReceiveGithubWebhook",
    "ReleaseReconcilerReconcileReleases",
    "DescribeBuildFailure",
    "AbandonedReleasesFinishAbandonedRelease",
    "ReportDevResult",
    "ReleaseStarterStartRelease",
  ];

  it("all run Node 24 on arm64 with X-Ray, JSON logs into their own log group with retention", () => {
    const fns = resourcesOf(template, "AWS::Lambda::Function");
    expect(fns).toHaveLength(names.length);
    for (const [, fn] of fns) {
      expect(fn.Properties.Runtime).toBe("nodejs24.x");
      expect(fn.Properties.Architectures).toEqual(["arm64"]);
      expect(fn.Properties.TracingConfig).toEqual({ Mode: "Active" });
      expect(fn.Properties.Handler).toBe("index.handler");
      expect(fn.Properties.LoggingConfig.LogFormat).toBe("JSON");
      expect(fn.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME).toMatch(/^pourover-/);
      expect(fn.Properties.Environment.Variables.POWERTOOLS_METRICS_NAMESPACE).toBe("Pourover");
      // The config is compiled into the bundle, never an env var (4 KB limit).
      expect(fn.Properties.Environment.Variables.POUROVER_CONFIG).toBeUndefined();
      const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref as string;
      expect(template.toJSON().Resources[logGroupId].Properties.RetentionInDays).toBeGreaterThan(0);
    }
    for (const name of names) logicalIdOfFunction(name);
  });

  it("compiles POUROVER_CONFIG into the ESM bundles (minified, source-mapped, split) with the AWS SDK bundled in", () => {
    const assetOf = (name: string) => {
      const fn = template.toJSON().Resources[logicalIdOfFunction(name)];
      const key = String(fn.Properties.Code.S3Key);
      return join(outdir, `asset.${key.replace(/\.zip$/, "")}`);
    };
    // The entry and the chunks it or its branches import: all of it is the function's code.
    const codeOf = (name: string) =>
      readdirSync(assetOf(name))
        .filter((f) => f.endsWith(".mjs"))
        .map((f) => readFileSync(join(assetOf(name), f), "utf8"))
        .join("\n");
    for (const name of names) {
      expect(existsSync(join(assetOf(name), "index.mjs")), name).toBe(true);
      // Build-time define: no bundle reads the variable at run time.
      expect(codeOf(name), name).not.toMatch(/process\.env\.POUROVER_CONFIG/);
      expect(readFileSync(join(assetOf(name), "index.mjs.map"), "utf8").length).toBeGreaterThan(0);
    }
    const plan = codeOf("PlanRelease");
    expect(plan).toContain("go-coffeeshop/proxy");
    expect(plan).toContain("pourover-demo/coffeeshop-gitops");
    // The SDK commands used are bundled (tree-shaken ES modules), nothing is imported from the runtime's copy.
    expect(codeOf("ClaimRelease")).not.toMatch(/from\s*"@aws-sdk\//);
    expect(codeOf("ClaimRelease")).toContain("DynamoDB_20120810");
  });

  it("passes each function exactly the env it reads", () => {
    const env = (name: string) =>
      Object.keys(
        template.toJSON().Resources[logicalIdOfFunction(name)].Properties.Environment.Variables as Record<
          string,
          Json
        >,
      )
        .filter(
          (k) => !["POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "NODE_OPTIONS"].includes(k),
        )
        .sort();
    expect(env("ClaimRelease")).toEqual(["LEDGER_TABLE_NAME"]);
    // A rollback reads the ledger record of the release it goes back to.
    expect(env("PlanRelease")).toEqual(["LEDGER_TABLE_NAME"]);
    expect(env("ReportDevResult")).toEqual(["GITHUB_CREDENTIALS_SECRET_ARN"]);
    expect(env("ReleaseStarterStartRelease")).toEqual(["LEDGER_TABLE_NAME", "STATE_MACHINE_ARN"]);
    expect(env("EvaluateScan")).toEqual(["REPORTS_BUCKET_NAME"]);
    expect(env("GateOnScan")).toEqual([]);
    expect(env("UpdateManifests")).toEqual(["ARTIFACTS_BUCKET_NAME", "GITHUB_CREDENTIALS_SECRET_ARN"]);
    // The sender comes from the bundled app config; no SES_FROM (it was set and never read).
    expect(env("SendNotification")).toEqual([]);
    expect(env("RecordOutcome")).toEqual(["EVENT_BUS_NAME", "LEDGER_TABLE_NAME"]);
    expect(env("ReceiveGithubWebhook")).toEqual([
      "EVENT_BUS_NAME",
      "LEDGER_TABLE_NAME",
      "WEBHOOK_SECRET_ARN",
    ]);
  });

  it("scopes each function's grants to ARNs (only X-Ray, the SSM command calls and the EC2/SSM describe calls use '*')", () => {
    for (const name of names) {
      for (const s of statementsOfRole(`${name}Role`)) {
        for (const action of asArray(s.Action as string | string[])) expect(action).not.toMatch(/\*/);
        if (asArray(s.Resource).includes("*")) {
          expect(
            asArray(s.Action).every(
              (a: string) =>
                a.startsWith("xray:") ||
                [
                  // VerifyDev: none of the four takes a resource type (service authorization reference).
                  "ssm:ListCommands",
                  "ssm:ListCommandInvocations",
                  "ssm:GetCommandInvocation",
                  "ssm:CancelCommand",
                  "ec2:DescribeInstances",
                  "ssm:DescribeInstanceInformation",
                ].includes(a),
            ),
          ).toBe(true);
        }
      }
    }
    const manifests = statementsOfRole("UpdateManifestsRole").find((s) => s.Action === "s3:PutObject");
    expect(JSON.stringify(manifests.Resource)).toContain("/releases/*");
    const evaluate = statementsOfRole("EvaluateScanRole").find((s) => s.Action === "s3:GetObject");
    expect(JSON.stringify(evaluate.Resource)).toContain("/coffeeshop/*");
  });

  it("SES: sends only From notify.from to the configured recipients, through any identity SES checks", () => {
    // SES authorizes against the From address identity, its domain, and in the sandbox each
    // recipient identity: an `identity/<domain>`-only grant is answered AccessDenied.
    const ses = statementsOfRole("SendNotificationRole").filter((s) =>
      asArray(s.Action).some((a: string) => a.startsWith("ses:")),
    );
    expect(ses).toEqual([
      {
        Sid: "SendReleaseEmail",
        Effect: "Allow",
        Action: "ses:SendEmail",
        Resource: {
          "Fn::Join": [
            "",
            [
              "arn:",
              { Ref: "AWS::Partition" },
              ":ses:",
              { Ref: "AWS::Region" },
              ":",
              { Ref: "AWS::AccountId" },
              ":identity/*",
            ],
          ],
        },
        Condition: {
          StringEquals: { "ses:FromAddress": "releases@example.com" },
          "ForAllValues:StringEquals": { "ses:Recipients": ["team@example.com"] },
        },
      },
    ]);
  });

  it("exposes the webhook through a Function URL with auth NONE and, by default, no reserved concurrency", () => {
    const webhookId = logicalIdOfFunction("ReceiveGithubWebhook");
    const [, url] = only("AWS::Lambda::Url");
    expect(url.Properties.AuthType).toBe("NONE");
    expect(url.Properties.TargetFunctionArn).toEqual(getAtt(webhookId));
    // Lambda keeps 100 of the account's concurrency unreserved: on a new account with a low quota
    // any reservation fails the deploy, so none is set unless asked for.
    expect(template.toJSON().Resources[webhookId].Properties).not.toHaveProperty(
      "ReservedConcurrentExecutions",
    );
  });
});

describe("storage", () => {
  it("ledger: pk string, on-demand, PITR, TTL expiresAt, encrypted", () => {
    const [, table] = only("AWS::DynamoDB::Table");
    expect(table.Properties.KeySchema).toEqual([{ AttributeName: "pk", KeyType: "HASH" }]);
    expect(table.Properties.AttributeDefinitions).toEqual([{ AttributeName: "pk", AttributeType: "S" }]);
    expect(table.Properties.BillingMode).toBe("PAY_PER_REQUEST");
    expect(table.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table.Properties.TimeToLiveSpecification).toEqual({ AttributeName: "expiresAt", Enabled: true });
    expect(table.Properties.SSESpecification).toEqual({ SSEEnabled: true });
  });

  it("reports bucket: encrypted, public access blocked, SSL only, reports expire, access logs", () => {
    // The reports bucket is the one whose lifecycle expires the app's reports (the Trivy cache has its own).
    const [bucketId, bucket] = only("AWS::S3::Bucket", (b) =>
      JSON.stringify(b.Properties.LifecycleConfiguration ?? {}).includes('"Prefix":"coffeeshop/"'),
    );
    expect(bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0]).toMatchObject({
      ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" },
    });
    expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.Properties.LifecycleConfiguration.Rules).toContainEqual(
      expect.objectContaining({ Prefix: "coffeeshop/", ExpirationInDays: 180, Status: "Enabled" }),
    );
    const [, policy] = only("AWS::S3::BucketPolicy", (p) =>
      JSON.stringify(p.Properties.Bucket).includes(bucketId),
    );
    expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
    );
  });

  it("ECR repositories: one per service, v* tags immutable, scan on push, lifecycle", () => {
    const repos = resourcesOf(template, "AWS::ECR::Repository");
    expect(repos.map(([, r]) => r.Properties.RepositoryName).sort()).toEqual([...REPOS].sort());
    for (const [, r] of repos) {
      expect(r.Properties.ImageTagMutability).toBe("MUTABLE_WITH_EXCLUSION");
      expect(r.Properties.ImageTagMutabilityExclusionFilters).toEqual([
        { ImageTagMutabilityExclusionFilterType: "WILDCARD", ImageTagMutabilityExclusionFilterValue: "v*" },
      ]);
      expect(r.Properties.ImageScanningConfiguration).toEqual({ ScanOnPush: true });
    }
  });

  it("ECR lifecycle: no rule can ever select an image carrying a v* tag (nor the build cache tag)", () => {
    // Selection as the ECR user guide defines it ("Lifecycle policy properties", "evaluation rules"):
    // `any` selects every image; `untagged` only images with no tag; `tagged` images for which every
    // entry of tagPrefixList / tagPatternList matches one of their tags. An image a rule expires loses
    // all its tags, so a rule that selects an image carrying a v* tag deletes a release.
    const escapeRegex = (text: string) => text.replace(/[.+?^$(){}|[\]\\]/g, "\\$&");
    const wildcard = (pattern: string) => new RegExp(`^${pattern.split("*").map(escapeRegex).join(".*")}$`);
    const selects = (selection: Json, tags: string[]): boolean => {
      if (selection.tagStatus === "any") return true;
      if (selection.tagStatus === "untagged") return tags.length === 0;
      const prefixes: string[] = selection.tagPrefixList ?? [];
      const patterns: string[] = selection.tagPatternList ?? [];
      return (
        prefixes.every((p) => tags.some((t) => t.startsWith(p))) &&
        patterns.every((p) => tags.some((t) => wildcard(p).test(t)))
      );
    };
    const kept = [
      ["v1.2.3"],
      ["v0.0.1-rc.1"],
      ["v1.2.3", "buildcache"],
      ["v1.2.3", "latest"],
      ["buildcache"],
    ];
    const repos = resourcesOf(template, "AWS::ECR::Repository");
    expect(repos).toHaveLength(REPOS.length);
    for (const [, r] of repos) {
      const policy = JSON.parse(r.Properties.LifecyclePolicy.LifecyclePolicyText);
      expect(policy.rules.length).toBeGreaterThan(0);
      for (const rule of policy.rules) {
        expect(rule.action.type).toBe("expire");
        // No `any` rule and no tagged rule: ECR has no exclude filter, so only `untagged` is safe.
        expect(rule.selection.tagStatus).toBe("untagged");
        expect(rule.selection.tagPrefixList ?? rule.selection.tagPatternList).toBeUndefined();
        for (const tags of kept)
          expect(selects(rule.selection, tags), `${rule.description} ${tags}`).toBe(false);
        expect(selects(rule.selection, [])).toBe(true);
      }
      expect(policy.rules).toEqual([
        {
          rulePriority: 1,
          description: expect.stringContaining("untagged"),
          selection: {
            tagStatus: "untagged",
            countType: "sinceImagePushed",
            countNumber: 14,
            countUnit: "days",
          },
          action: { type: "expire" },
        },
      ]);
    }
  });

  it("secrets: a generated webhook secret and the GitHub credentials, both documented", () => {
    const secrets = resourcesOf(template, "AWS::SecretsManager::Secret");
    expect(secrets).toHaveLength(2);
    expect(secrets.some(([, s]) => s.Properties.GenerateSecretString)).toBe(true);
    expect(secrets.some(([, s]) => String(s.Properties.Description).includes('{"token":"..."}'))).toBe(true);
  });
});

describe("CodeBuild", () => {
  const build = () =>
    only("AWS::CodeBuild::Project", (p) => p.Properties.Environment.PrivilegedMode === true);
  const scan = () =>
    only(
      "AWS::CodeBuild::Project",
      (p) =>
        // build-scan-push also scans remotely (a release tag already in ECR); scan-image has no Docker.
        p.Properties.Environment.PrivilegedMode === false &&
        JSON.stringify(p.Properties.Source).includes("--image-src remote"),
    );

  it("two NO_SOURCE projects with inline buildspecs, KMS encryption and CloudWatch logs", () => {
    for (const [, p] of [build(), scan()]) {
      expect(p.Properties.Source.Type).toBe("NO_SOURCE");
      expect(p.Properties.Source.BuildSpec).toContain("trivy image");
      // The other key encrypts the alarm topic (PipelineObservability).
      const buildKey = only(
        "AWS::KMS::Key",
        (k) => k.Properties.Description === "Pourover CodeBuild artifacts and logs",
      );
      expect(p.Properties.EncryptionKey).toEqual(getAtt(buildKey[0]));
      expect(p.Properties.LogsConfig.CloudWatchLogs.Status).toBe("ENABLED");
    }
    expect(build()[1].Properties.Source.BuildSpec).toContain("docker build");
    expect(scan()[1].Properties.Source.BuildSpec).toContain("--image-src remote");
  });

  it("pushes to ECR only in the configured repositories and writes S3 only under the reports prefix", () => {
    const repoIds = resourcesOf(template, "AWS::ECR::Repository").map(([id]) => getAtt(id));
    const pushActions = [
      "ecr:PutImage",
      "ecr:InitiateLayerUpload",
      "ecr:UploadLayerPart",
      "ecr:CompleteLayerUpload",
    ];
    const [reportsBucketId] = only("AWS::S3::Bucket", (b) =>
      JSON.stringify(b.Properties.LifecycleConfiguration ?? {}).includes('"Prefix":"coffeeshop/"'),
    );
    for (const [projectId, statementsFor] of [
      ["BuildProject", true],
      ["ScanProject", false],
    ] as const) {
      const statements = statementsOfRole(`${projectId}Role`);
      for (const s of statements) {
        const actions = asArray(s.Action as string | string[]);
        if (actions.some((a) => a.startsWith("ecr:") && a !== "ecr:GetAuthorizationToken")) {
          expect(s.Resource).toEqual(repoIds);
        }
        if (actions.includes("ecr:GetAuthorizationToken"))
          expect(actions).toEqual(["ecr:GetAuthorizationToken"]);
        // Writes to the reports bucket only under the app's prefix; the other S3 grant is
        // CodeBuild's own cache grant on the Trivy cache bucket.
        if (
          actions.some((a) => a.startsWith("s3:")) &&
          JSON.stringify(s.Resource).includes(reportsBucketId)
        ) {
          expect(actions).toEqual(["s3:PutObject"]);
          expect(JSON.stringify(s.Resource)).toContain("/coffeeshop/*");
        }
      }
      const all = statements.flatMap((s) => asArray(s.Action as string | string[]));
      for (const a of pushActions) expect(all.includes(a), `${projectId} ${a}`).toBe(statementsFor);
    }
  });
});

describe("dev deploy document", () => {
  it("has App, Tag, ComposeObject, HealthUrls, ExecutionTimeout, each with its allowedPattern", () => {
    const [, doc] = only("AWS::SSM::Document");
    expect(doc.Properties.DocumentType).toBe("Command");
    const params = doc.Properties.Content.parameters as Record<string, Json>;
    expect(Object.keys(params).sort()).toEqual([
      "App",
      "ComposeObject",
      "ExecutionTimeout",
      "HealthUrls",
      "Tag",
    ]);
    for (const [name, pattern] of Object.entries(DEPLOY_PARAMETER_PATTERNS)) {
      expect(params[name].allowedPattern).toBe(pattern);
    }
    const commands = JSON.stringify(doc.Properties.Content.mainSteps[0].inputs.runCommand);
    expect(commands).toContain("set -euo pipefail");
    expect(commands).toContain("docker compose");
    expect(commands).not.toContain("__DEPLOY_SCRIPT__");
    expect(commands).not.toContain("__ARTIFACTS_BUCKET__");
  });

  it("sends its output to a log group with retention", () => {
    const [, sm] = only("AWS::StepFunctions::StateMachine");
    const ref = sm.Properties.DefinitionSubstitutions.DeployLogGroupName.Ref as string;
    const group = template.toJSON().Resources[ref];
    expect(group.Type).toBe("AWS::Logs::LogGroup");
    expect(group.Properties.LogGroupName).toBe("/pourover/coffeeshop/deploy-dev");
    expect(group.Properties.RetentionInDays).toBeGreaterThan(0);
  });
});

describe("outputs", () => {
  it("exports the webhook URL, state machine ARN and console URL, bus name and secret ARNs", () => {
    const outputs = Object.keys(template.toJSON().Outputs as Record<string, Json>);
    for (const name of [
      "WebhookUrl",
      "StateMachineArn",
      "StateMachineConsoleUrl",
      "EventBusName",
      "WebhookSecretArn",
      "GithubCredentialsSecretArn",
    ]) {
      expect(outputs).toContain(name);
    }
    expect(stackName).toBe("Pourover-coffeeshop");
  });
});

describe("fixture sanity", () => {
  it("the fixture config is valid", () => {
    expect(loadAppConfig(FIXTURE_CONFIG).services.map((s) => s.repository)).toEqual(REPOS);
    expect(parseYaml(readFileSync(FIXTURE_CONFIG, "utf8")).app).toBe("coffeeshop");
  });
});

describe("app context and deploy target (fast synths, no bundling)", () => {
  const NO_BUNDLING = { "aws:cdk:bundling-stacks": [] };
  const webhookProps = (t: Template): Json => {
    const [, fn] = resourcesOf(t, "AWS::Lambda::Function").find(([, r]) =>
      JSON.stringify(r.Properties.Role).includes("ReceiveGithubWebhookRole"),
    ) as [string, Json];
    return fn.Properties;
  };

  it(`"${WEBHOOK_RESERVED_CONCURRENCY_CONTEXT_KEY}" sets the webhook's reserved concurrency; without it there is none`, () => {
    const build = (context: Record<string, unknown>) =>
      buildApp({ configFile: FIXTURE_CONFIG, nag: false, context: { ...NO_BUNDLING, ...context } });
    const off = Template.fromStack(build({}).stack);
    expect(webhookProps(off)).not.toHaveProperty("ReservedConcurrentExecutions");
    // `-c key=10` passes the string "10"; cdk.json may hold the number.
    for (const value of ["10", 10]) {
      const on = Template.fromStack(build({ [WEBHOOK_RESERVED_CONCURRENCY_CONTEXT_KEY]: value }).stack);
      expect(webhookProps(on).ReservedConcurrentExecutions).toBe(10);
    }
    for (const bad of ["0", "ten", -1, 2.5]) {
      expect(() => build({ [WEBHOOK_RESERVED_CONCURRENCY_CONTEXT_KEY]: bad })).toThrow(
        `context "${WEBHOOK_RESERVED_CONCURRENCY_CONTEXT_KEY}" must be a positive integer`,
      );
    }
  });

  it("fails synth in one line when the deploying account or region differs from config.registry", () => {
    const build = (deployTarget: { account?: string; region?: string }) =>
      buildApp({ configFile: FIXTURE_CONFIG, nag: false, context: NO_BUNDLING, deployTarget });
    // Unknown target (no credentials) and a matching one synthesize.
    expect(build({}).stack.stackName).toBe("Pourover-coffeeshop");
    expect(build({ account: "123456789012", region: "us-east-1" }).stack).toBeDefined();
    let error: unknown;
    try {
      build({ account: "210987654321", region: "us-east-1" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).problems).toEqual([
      "registry mismatch: the deploy target (CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION) account 210987654321 is not registry.accountId 123456789012; images are pushed to the deploying account's ECR, so set registry in the config to the account and region you deploy to",
    ]);
    expect(() => build({ region: "eu-west-1" })).toThrow(/region eu-west-1 is not registry.region us-east-1/);
  });

  it("an explicit stack env is checked the same way", () => {
    const config = loadAppConfig(FIXTURE_CONFIG);
    const stack = (env: { account: string; region: string }) =>
      new PipelineStack(new App({ context: NO_BUNDLING }), "Pipeline", { config, env });
    expect(stack({ account: "123456789012", region: "us-east-1" }).account).toBe("123456789012");
    expect(() => stack({ account: "123456789012", region: "eu-central-1" })).toThrow(
      "registry mismatch: the deploy target (the stack's env) region eu-central-1 is not registry.region us-east-1",
    );
  });
});
