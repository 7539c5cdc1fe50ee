import { readFileSync } from "node:fs";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { PipelineStack } from "../../infra/stacks/pipeline-stack.js";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import { exampleConfig } from "../helpers/local.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;

/** Template assertions for issue #4: the CodeBuild projects, their IAM, the Trivy DB cache, the Map. */
describe("build, scan and gate: template", () => {
  const config = exampleConfig();
  // Bundling is skipped: nothing here reads the Lambda bundles.
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new PipelineStack(app, "BuildScan", { config });
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<string, Json>;
  const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
    stack.resolve((construct.node.defaultChild as { logicalId: string }).logicalId) as string;

  const projects = template.findResources("AWS::CodeBuild::Project") as Record<string, Json>;
  const projectId = (prefix: string) => {
    const id = Object.keys(projects).find((k) => k.startsWith(prefix));
    if (!id) throw new Error(`no project ${prefix}`);
    return id;
  };
  const buildId = projectId("BuildProject");
  const scanId = projectId("ScanProject");
  const refreshId = projectId("TrivyDbRefreshProject");
  const cacheBucketId = logicalId(stack.trivyCacheBucket);
  const reportsBucketId = logicalId(stack.bucket);

  /** Every policy statement attached to the role whose ARN a resource references. */
  const statementsOfRole = (roleId: string): Json[] =>
    Object.values(resources)
      .filter((r) => r.Type === "AWS::IAM::Policy")
      .filter((r) => (r.Properties.Roles as Json[]).some((ref) => ref.Ref === roleId))
      .flatMap((r) => r.Properties.PolicyDocument.Statement as Json[]);
  const roleOfProject = (id: string) => projects[id].Properties.ServiceRole["Fn::GetAtt"][0] as string;
  const actions = (s: Json): string[] => [s.Action].flat();
  const resourcesOf = (s: Json): Json[] => [s.Resource].flat();

  it("build-scan-push: privileged (Docker), MEDIUM, standard 7.0, 60 min, KMS, no source", () => {
    const p = projects[buildId].Properties;
    expect(p.Environment).toMatchObject({
      PrivilegedMode: true,
      ComputeType: "BUILD_GENERAL1_MEDIUM",
      Image: "aws/codebuild/standard:7.0",
      Type: "LINUX_CONTAINER",
    });
    expect(p.TimeoutInMinutes).toBe(60);
    expect(p.EncryptionKey).toEqual({ "Fn::GetAtt": [expect.stringMatching(/^BuildKey/), "Arn"] });
    expect(p.Source.Type).toBe("NO_SOURCE");
    expect(p.Source.BuildSpec).toContain("trivy convert --format sarif");
  });

  it("scan-image and refresh-trivy-db: not privileged, SMALL, KMS", () => {
    for (const [id, timeout] of [
      [scanId, 30],
      [refreshId, 20],
    ] as const) {
      const p = projects[id].Properties;
      expect(p.Environment.PrivilegedMode, id).toBe(false);
      expect(p.Environment.ComputeType, id).toBe("BUILD_GENERAL1_SMALL");
      expect(p.TimeoutInMinutes, id).toBe(timeout);
      expect(p.EncryptionKey, id).toEqual({ "Fn::GetAtt": [expect.stringMatching(/^BuildKey/), "Arn"] });
    }
    expect(projects[refreshId].Properties.Source.BuildSpec).toContain("--download-db-only");
  });

  it("the three Trivy projects share one S3 cache (namespace) in a bucket of its own", () => {
    const caches = [buildId, scanId, refreshId].map((id) => projects[id].Properties.Cache);
    for (const cache of caches) {
      expect(cache).toEqual({
        Type: "S3",
        Location: { "Fn::Join": ["/", [{ Ref: cacheBucketId }, "trivy-cache"]] },
        CacheNamespace: "pourover-coffeeshop-trivy",
      });
    }
    template.hasResourceProperties("AWS::S3::Bucket", {
      BucketEncryption: Match.anyValue(),
      PublicAccessBlockConfiguration: Match.objectLike({
        BlockPublicAcls: true,
        RestrictPublicBuckets: true,
      }),
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: "trivy-cache-bucket/" }),
    });
  });

  it("the Trivy DB cache is shared the documented way: same namespace, location and paths, a key in every buildspec", () => {
    // CodeBuild shares an S3 cache across projects only with the same cacheNamespace, the same key,
    // identical paths and the same bucket/prefix; keys are what releases and the refresh have in common.
    const specOf = (id: string) =>
      parseYaml(projects[id].Properties.Source.BuildSpec as string) as {
        cache: { key: string; "fallback-keys"?: string[]; action?: string; paths: string[] };
      };
    const refresh = specOf(refreshId).cache;
    const releases = [specOf(buildId).cache, specOf(scanId).cache];
    expect(refresh.action).toBe("save");
    // Unique per refresh run: a timestamp and the project's build number.
    expect(refresh.key).toMatch(/^trivy-db-v1-\$\(date -u \+%Y%m%d%H%M%S\)-\$CODEBUILD_BUILD_NUMBER$/);
    const refreshPrefix = refresh.key.slice(0, refresh.key.indexOf("$"));
    for (const cache of releases) {
      expect(cache.action).toBe("restore");
      expect(cache.key.startsWith(refreshPrefix)).toBe(true);
      expect(cache["fallback-keys"]?.length).toBeLessThanOrEqual(5);
      for (const fallback of cache["fallback-keys"] ?? [])
        expect(fallback.startsWith(refreshPrefix)).toBe(true);
      expect(cache["fallback-keys"]).toContain(refreshPrefix);
      expect(cache.paths).toEqual(refresh.paths);
    }
    const caches = [buildId, scanId, refreshId].map((id) => projects[id].Properties.Cache);
    expect(new Set(caches.map((c) => JSON.stringify(c))).size).toBe(1);
  });

  it("build-scan-push may describe and read back its own repositories (existing release tags, layer cache)", () => {
    const repoIds = Object.entries(template.findResources("AWS::ECR::Repository"))
      .filter(([, r]) => config.services.some((s) => s.repository === r.Properties.RepositoryName))
      .map(([id]) => id)
      .sort();
    const reads = statementsOfRole(roleOfProject(buildId)).filter((s) =>
      actions(s).includes("ecr:DescribeImages"),
    );
    expect(reads).toHaveLength(1);
    expect(actions(reads[0])).toEqual(
      expect.arrayContaining(["ecr:DescribeImages", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]),
    );
    expect(
      resourcesOf(reads[0])
        .map((r: Json) => r["Fn::GetAtt"]?.[0])
        .sort(),
    ).toEqual(repoIds);
    // No pull-through cache configured: no rule, no mirror, no import rights.
    expect(Object.keys(template.findResources("AWS::ECR::PullThroughCacheRule"))).toEqual([]);
    const env = projects[buildId].Properties.Environment.EnvironmentVariables as { Name: string }[];
    expect(env.map((v) => v.Name)).not.toContain("BASE_IMAGE_MIRROR");
    for (const id of [buildId, scanId, refreshId]) {
      const imports = statementsOfRole(roleOfProject(id)).filter((s) =>
        actions(s).some((a) => a === "ecr:BatchImportUpstreamImage" || a === "ecr:CreateRepository"),
      );
      expect(imports, id).toEqual([]);
    }
  });

  it("the layer cache tag is mutable in every repository (never matched by the v* immutability exclusion)", () => {
    const spec = parseYaml(projects[buildId].Properties.Source.BuildSpec as string) as {
      env: { variables: Record<string, string> };
    };
    const cacheTag = spec.env.variables.LAYER_CACHE_TAG ?? "";
    expect(cacheTag).toBe("buildcache");
    const wildcard = (pattern: string) =>
      new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*")}$`);
    for (const repo of Object.values(template.findResources("AWS::ECR::Repository")) as Json[]) {
      const filters = (repo.Properties.ImageTagMutabilityExclusionFilters ?? []) as Json[];
      expect(filters.length).toBeGreaterThan(0);
      for (const f of filters)
        expect(wildcard(f.ImageTagMutabilityExclusionFilterValue).test(cacheTag)).toBe(false);
    }
  });

  it("a daily schedule starts the Trivy DB refresh build, with retries and a DLQ", () => {
    const schedules = Object.values(template.findResources("AWS::Scheduler::Schedule")) as Json[];
    const refresh = schedules.find((r) => r.Properties.Target.Arn?.["Fn::GetAtt"]?.[0] === refreshId);
    expect(refresh?.Properties.ScheduleExpression).toBe("cron(17 3 * * ? *)");
    expect(refresh?.Properties.State ?? "ENABLED").toBe("ENABLED");
    const target = refresh?.Properties.Target;
    expect(target.DeadLetterConfig.Arn["Fn::GetAtt"][0]).toMatch(/^TrivyDbRefreshRuleDlq/);
    expect(target.RetryPolicy).toEqual({ MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 21600 });
    // The schedule's role may start exactly that project.
    const roleId = target.RoleArn["Fn::GetAtt"][0];
    const starts = statementsOfRole(roleId).filter((s) => actions(s).some((a) => a.startsWith("codebuild:")));
    expect(starts.flatMap(resourcesOf)).toEqual([{ "Fn::GetAtt": [refreshId, "Arn"] }]);
  });

  it("ECR push is allowed only on the config's repositories, and only to build-scan-push", () => {
    const push = [
      "ecr:PutImage",
      "ecr:InitiateLayerUpload",
      "ecr:UploadLayerPart",
      "ecr:CompleteLayerUpload",
    ];
    const repoIds = Object.entries(template.findResources("AWS::ECR::Repository"))
      .filter(([, r]) => config.services.some((s) => s.repository === r.Properties.RepositoryName))
      .map(([id]) => id)
      .sort();
    expect(repoIds).toHaveLength(config.services.length);
    const pushStatements = statementsOfRole(roleOfProject(buildId)).filter((s) =>
      actions(s).some((a) => push.includes(a)),
    );
    expect(pushStatements).toHaveLength(1);
    const targets = resourcesOf(pushStatements[0])
      .map((r: Json) => r["Fn::GetAtt"]?.[0])
      .sort();
    expect(targets).toEqual(repoIds);
    for (const id of [scanId, refreshId]) {
      const pushes = statementsOfRole(roleOfProject(id)).filter((s) =>
        actions(s).some((a) => push.includes(a)),
      );
      expect(pushes, id).toEqual([]);
    }
  });

  it("reports bucket: the projects write only under the app's reports prefix", () => {
    for (const id of [buildId, scanId, refreshId]) {
      const writes = statementsOfRole(roleOfProject(id)).filter((s) =>
        actions(s).some((a) => /^s3:(PutObject|DeleteObject|\*)/.test(a)),
      );
      for (const s of writes) {
        for (const r of resourcesOf(s)) {
          const text = JSON.stringify(r);
          if (text.includes(reportsBucketId)) {
            // Only <bucket>/coffeeshop/* — never the bucket, never releases/ or *.
            expect(r).toEqual({
              "Fn::Join": ["", [{ "Fn::GetAtt": [reportsBucketId, "Arn"] }, "/coffeeshop/*"]],
            });
          } else {
            expect(text, `${id} writes somewhere other than the reports prefix or the cache`).toContain(
              cacheBucketId,
            );
          }
        }
      }
    }
    // build-scan-push and scan-image do write their reports.
    for (const id of [buildId, scanId]) {
      const puts = statementsOfRole(roleOfProject(id)).filter((s) => actions(s).includes("s3:PutObject"));
      expect(
        puts
          .flatMap(resourcesOf)
          .map((r) => JSON.stringify(r))
          .join(),
      ).toContain("/coffeeshop/*");
    }
  });

  it("describe-build-failure may BatchGetBuilds on the two release projects only", () => {
    const fnRole = Object.entries(resources).find(
      ([id, r]) => r.Type === "AWS::IAM::Role" && /^BuildAndScanDescribeBuildFailure/.test(id),
    )?.[0];
    expect(fnRole).toBeDefined();
    const cb = statementsOfRole(fnRole as string).filter((s) =>
      actions(s).some((a) => a.startsWith("codebuild:")),
    );
    expect(cb).toHaveLength(1);
    expect(actions(cb[0])).toEqual(["codebuild:BatchGetBuilds"]);
    expect(resourcesOf(cb[0])).toEqual([
      { "Fn::GetAtt": [buildId, "Arn"] },
      { "Fn::GetAtt": [scanId, "Arn"] },
    ]);
  });

  it("the synthesized definition runs the Map with MaxConcurrency 6 and describes failed builds", () => {
    const machine: Json = Object.values(template.findResources("AWS::StepFunctions::StateMachine"))[0];
    // DefinitionBody.fromFile ships the ASL as an asset; CloudFormation fills the placeholders.
    const key = String(machine.Properties.DefinitionS3Location.Key).replace(/\.json$/, "");
    const text = readFileSync(join(app.outdir, `asset.${key}.json`), "utf8");
    const definition = JSON.parse(text) as Json;
    expect(machine.Properties.DefinitionSubstitutions.DescribeBuildFailureFunctionArn).toEqual({
      "Fn::GetAtt": [expect.stringMatching(/^BuildAndScanDescribeBuildFailure/), "Arn"],
    });
    const map = definition.States.ScanImages;
    expect(map.Type).toBe("Map");
    expect(map.MaxConcurrency).toBe(6);
    const inner = map.ItemProcessor.States;
    expect(inner.BuildScanPush.Catch).toEqual([
      { ErrorEquals: ["States.TaskFailed"], ResultPath: "$.buildError", Next: "DescribeBuildFailure" },
    ]);
    expect(inner.DescribeBuildFailure).toMatchObject({
      Type: "Task",
      Resource: `\${DescribeBuildFailureFunctionArn}`,
      End: true,
    });
    // An ECR push is scanned by digest in its own Map (the trigger is chosen once per release), whose
    // failed scan is described by the same function.
    const pushed = definition.States.ScanPushedImages;
    expect(pushed.MaxConcurrency).toBe(6);
    expect(pushed.ItemProcessor.States.ScanImage.Catch).toEqual([
      { ErrorEquals: ["States.TaskFailed"], ResultPath: "$.buildError", Next: "DescribeScanFailure" },
    ]);
    expect(pushed.ItemProcessor.States.DescribeScanFailure).toMatchObject({
      Type: "Task",
      Resource: `\${DescribeBuildFailureFunctionArn}`,
      End: true,
    });
    // The state machine may invoke the function.
    const smRole = machine.Properties.RoleArn["Fn::GetAtt"][0];
    const invoke = statementsOfRole(smRole).find((s) => actions(s).includes("lambda:InvokeFunction"));
    expect(JSON.stringify(invoke?.Resource)).toMatch(/DescribeBuildFailure/);
  });
});

describe("Docker Hub pull-through cache (config build.pullThroughCache)", () => {
  const credentialArn =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf";
  const config: AppConfig = {
    ...exampleConfig(),
    build: { pullThroughCache: { upstream: "docker-hub", repositoryPrefix: "docker-hub", credentialArn } },
  };
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new PipelineStack(app, "PullThrough", { config });
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<string, Json>;
  const projects = template.findResources("AWS::CodeBuild::Project") as Record<string, Json>;
  const buildId = Object.keys(projects).find((k) => k.startsWith("BuildProject")) as string;

  it("creates the Docker Hub rule with the ecr-pullthroughcache/ secret", () => {
    template.resourceCountIs("AWS::ECR::PullThroughCacheRule", 1);
    template.hasResourceProperties("AWS::ECR::PullThroughCacheRule", {
      EcrRepositoryPrefix: "docker-hub",
      UpstreamRegistry: "docker-hub",
      UpstreamRegistryUrl: "registry-1.docker.io",
      CredentialArn: credentialArn,
    });
  });

  it("points the build at the cache and grants pulls, upstream import and repository creation under the prefix only", () => {
    const env = projects[buildId].Properties.Environment.EnvironmentVariables as {
      Name: string;
      Value: Json;
    }[];
    const mirror = env.find((v) => v.Name === "BASE_IMAGE_MIRROR");
    expect(JSON.stringify(stack.resolve(mirror?.Value))).toMatch(/\.dkr\.ecr\..*\/docker-hub"/);
    const role = projects[buildId].Properties.ServiceRole["Fn::GetAtt"][0] as string;
    const statements = Object.values(resources)
      .filter((r) => r.Type === "AWS::IAM::Policy")
      .filter((r) => (r.Properties.Roles as Json[]).some((ref) => ref.Ref === role))
      .flatMap((r) => r.Properties.PolicyDocument.Statement as Json[]);
    const imports = statements.filter((s) => [s.Action].flat().includes("ecr:BatchImportUpstreamImage"));
    expect(imports).toHaveLength(1);
    expect([imports[0].Action].flat()).toEqual(
      expect.arrayContaining([
        "ecr:BatchImportUpstreamImage",
        "ecr:CreateRepository",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
      ]),
    );
    expect(JSON.stringify(imports[0].Resource)).toMatch(/:repository\/docker-hub\/\*"/);
    // Only build-scan-push pulls base images.
    const others = Object.entries(projects)
      .filter(([id]) => id !== buildId)
      .map(([, p]) => p.Properties.ServiceRole["Fn::GetAtt"][0] as string);
    for (const other of others) {
      const grants = Object.values(resources)
        .filter((r) => r.Type === "AWS::IAM::Policy")
        .filter((r) => (r.Properties.Roles as Json[]).some((ref) => ref.Ref === other))
        .flatMap((r) => r.Properties.PolicyDocument.Statement as Json[])
        .filter((s) => [s.Action].flat().includes("ecr:BatchImportUpstreamImage"));
      expect(grants).toEqual([]);
    }
  });

  it("passes cdk-nag AwsSolutions with the pull-through grants acknowledged", () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(", ")}`,
    );
    expect(findings).toEqual([]);
  });

  it("rejects a credential secret outside ecr-pullthroughcache/", async () => {
    const { parseAppConfig } = await import("../../shared/contracts/app-config.js");
    const raw = JSON.parse(JSON.stringify(exampleConfig())) as Record<string, unknown>;
    raw.build = {
      pullThroughCache: {
        upstream: "docker-hub",
        credentialArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:dockerhub-AbCdEf",
      },
    };
    expect(() => parseAppConfig(raw)).toThrow(/ecr-pullthroughcache\//);
  });
});
