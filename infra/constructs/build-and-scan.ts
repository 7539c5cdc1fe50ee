import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Duration, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import * as codebuild from "aws-cdk-lib/aws-codebuild";
import * as ecr from "aws-cdk-lib/aws-ecr";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as s3 from "aws-cdk-lib/aws-s3";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import * as schedulerTargets from "aws-cdk-lib/aws-scheduler-targets";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import { parse as parseYaml } from "yaml";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import { deadLetterQueue } from "./dead-letter-queue.js";
import { keepLogicalId, logicalIdOf } from "./logical-ids.js";
import type { PouroverFunction } from "./pourover-function.js";
import { DEFAULT_LOG_RETENTION, type PouroverSiteProps } from "./pourover-function.js";
import { pipelineFunction } from "./release-functions.js";
import { ACCOUNT_REGISTRY, privateBucket, scanReportsPrefix } from "./release-storage.js";

export interface BuildAndScanProps extends PouroverSiteProps {
  /** Where the builds upload scan reports, under `<app>/` only. */
  readonly reportsBucket: s3.IBucket;
  /** Receives the Trivy cache bucket's server access logs. */
  readonly accessLogsBucket: s3.IBucket;
  /** The service repositories the builds push to and the scans read. */
  readonly repositories: readonly ecr.IRepository[];
  /** Read by the build to clone private source repositories. */
  readonly githubCredentials: secretsmanager.ISecret;
  /** Trivy release installed by the CodeBuild projects. @default "0.59.1" */
  readonly trivyVersion?: string;
  /**
   * SHA-256 of `trivy_<version>_Linux-64bit.tar.gz`. When empty, the buildspec verifies the tarball
   * against the release's own checksums file and says so in the build log; pin it for production.
   * @default ""
   */
  readonly trivySha256?: string;
  /** When the scheduled build refreshes the Trivy DB in the shared cache. @default daily at 03:17 UTC */
  readonly trivyDbRefreshSchedule?: scheduler.ScheduleExpression;
  /** Removal policy of the build KMS key and the Trivy cache bucket. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The build and scan side of a release: BuildScanPush (clone at the tag, docker build, Trivy scan,
 * push only if it passed), ScanImage (Trivy scan of an image already in ECR, by digest), the daily
 * Trivy DB refresh they scan offline against, their KMS key, logs and shared cache bucket, and
 * describe-build-failure, which turns a failed build into its failed phase and logs link.
 */
export class BuildAndScan extends Construct {
  readonly buildProject: codebuild.Project;
  readonly scanProject: codebuild.Project;
  /** Downloads the Trivy DB into the cache; start it once after the first deploy. */
  readonly trivyDbRefreshProject: codebuild.Project;
  /** CodeBuild S3 cache of the three projects (Trivy DB and tarball only). */
  readonly trivyCacheBucket: s3.Bucket;
  readonly describeBuildFailure: PouroverFunction;

  constructor(scope: Construct, id: string, props: BuildAndScanProps) {
    super(scope, id);
    const { config } = props;
    const logRetention = props.logRetention ?? DEFAULT_LOG_RETENTION;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    // Every resource below that holds data or history keeps the logical id it had in the stack
    // (keepLogicalId says why); the roles and policies are recreated freely.
    const buildKey = new kms.Key(this, "BuildKey", {
      description: "Pourover CodeBuild artifacts and logs",
      enableKeyRotation: true,
      removalPolicy,
    });
    keepLogicalId(buildKey, "BuildKey/Resource");
    const trivyVersion = { value: props.trivyVersion ?? "0.59.1" };
    const trivySha256 = { value: props.trivySha256 ?? "" };
    const trivyEnv = {
      TRIVY_VERSION: trivyVersion,
      TRIVY_SHA256: trivySha256,
      REPORTS_BUCKET: { value: props.reportsBucket.bucketName },
      REGISTRY: { value: ACCOUNT_REGISTRY },
    };
    this.trivyCacheBucket = this.newTrivyCacheBucket(props, removalPolicy);
    const project = this.projectFactory(config, buildKey, logRetention);

    this.buildProject = project("BuildProject", buildProjectProps(props, trivyEnv));
    this.scanProject = project("ScanProject", {
      description: "Pourover: Trivy scan of an image already in ECR, by digest (--image-src remote)",
      buildSpec: readBuildspec(props.projectRoot, "scan-image.yml"),
      environment: {
        buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
        computeType: codebuild.ComputeType.SMALL,
        privileged: false,
      },
      environmentVariables: trivyEnv,
      timeout: Duration.minutes(30),
    });
    Validations.of(this.buildProject).acknowledge({
      id: "AwsSolutions-CB3",
      reason:
        "Privileged mode runs the Docker daemon that builds the service images; the build clones only the configured source repository at the tagged commit.",
    });
    this.grantReleaseProjects(props);

    // Daily Trivy DB refresh into the shared cache: the only build that downloads the DB.
    this.trivyDbRefreshProject = project("TrivyDbRefreshProject", {
      description: "Pourover: downloads the Trivy DB and Java DB into the S3 cache the scan builds read",
      buildSpec: readBuildspec(props.projectRoot, "refresh-trivy-db.yml"),
      environment: {
        buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
        computeType: codebuild.ComputeType.SMALL,
        privileged: false,
      },
      environmentVariables: { TRIVY_VERSION: trivyVersion, TRIVY_SHA256: trivySha256 },
      timeout: Duration.minutes(20),
    });
    this.scheduleTrivyDbRefresh(props);
    this.acknowledgeTrivyCache();

    // When BuildScanPush/ScanImage fails after its retry: which phase failed, and the logs link.
    this.describeBuildFailure = pipelineFunction(this, {
      functionDir: "describe-build-failure",
      projectRoot: props.projectRoot,
      config,
      logRetention,
      description: "Reads a failed build (BatchGetBuilds) and reports its failed phase and logs link",
    });
    this.describeBuildFailure.allow(
      ["codebuild:BatchGetBuilds"],
      [this.buildProject.projectArn, this.scanProject.projectArn],
    );
  }

  /**
   * The Trivy DB (and the Trivy tarball) live in a CodeBuild S3 cache shared by the three Trivy
   * projects (one cache namespace): the scheduled refresh build downloads the DB, releases scan with
   * --skip-db-update. A bucket of its own, because CodeBuild's cache grant is bucket-wide and the
   * reports bucket must stay writable only under the reports prefix.
   */
  private newTrivyCacheBucket(props: BuildAndScanProps, removalPolicy: RemovalPolicy): s3.Bucket {
    return privateBucket(this, "TrivyCacheBucket", {
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: "trivy-cache-bucket/",
      lifecycleRules: [
        { id: "abort-incomplete-uploads", abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy,
    });
  }

  /** Makes a project with the build key, a log group of its own and the shared Trivy cache. */
  private projectFactory(
    config: AppConfig,
    buildKey: kms.IKey,
    logRetention: logs.RetentionDays,
  ): (name: string, projectProps: codebuild.ProjectProps) => codebuild.Project {
    const trivyCache = codebuild.Cache.bucket(this.trivyCacheBucket, {
      prefix: "trivy-cache",
      cacheNamespace: `pourover-${config.app}-trivy`,
    });
    return (name, projectProps) => {
      const logGroup = new logs.LogGroup(this, `${name}Logs`, {
        retention: logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      keepLogicalId(logGroup, `${name}Logs/Resource`);
      const created = new codebuild.Project(this, name, {
        ...projectProps,
        encryptionKey: buildKey,
        logging: { cloudWatch: { logGroup } },
        cache: trivyCache,
      });
      // Build history and the generated project name (the refresh project's is an output) stay.
      keepLogicalId(created, `${name}/Resource`);
      return created;
    };
  }

  /** ECR, reports and source-credential permissions of BuildScanPush and ScanImage. */
  private grantReleaseProjects(props: BuildAndScanProps): void {
    const reportsPrefix = scanReportsPrefix(props.config.app);
    const reportsArn = props.reportsBucket.arnForObjects(`${reportsPrefix}*`);
    const repoArns = props.repositories.map((r) => r.repositoryArn);
    const bucketId = logicalIdOf(props.reportsBucket);
    for (const releaseProject of [this.buildProject, this.scanProject]) {
      Validations.of(releaseProject).acknowledge(
        {
          id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${reportsPrefix}*]`,
          reason:
            "Reports are written per tag and service under the app's reports prefix, so keys are unknown at deploy time; PutObject is limited to that prefix.",
        },
        ...codeBuildProjectAcknowledgements(logicalIdOf(releaseProject)),
      );
      releaseProject.addToRolePolicy(
        new iam.PolicyStatement({ actions: ["ecr:GetAuthorizationToken"], resources: ["*"] }),
      );
      releaseProject.addToRolePolicy(
        new iam.PolicyStatement({ actions: ["s3:PutObject"], resources: [reportsArn] }),
      );
      Validations.of(releaseProject).acknowledge({
        id: "AwsSolutions-IAM5[Resource::*]",
        reason:
          "ecr:GetAuthorizationToken returns a registry-wide login token and supports no resource-level permissions; repository actions are scoped to the configured repositories.",
      });
    }
    this.buildProject.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          "ecr:BatchCheckLayerAvailability",
          "ecr:InitiateLayerUpload",
          "ecr:UploadLayerPart",
          "ecr:CompleteLayerUpload",
          "ecr:PutImage",
          "ecr:BatchGetImage",
          // Layers are read back for the remote scan of a release image already in ECR (an immutable
          // v* tag is never rebuilt) and for BuildKit's registry layer cache (:buildcache).
          "ecr:GetDownloadUrlForLayer",
          // DescribeImages tells whether the release tag already exists (ImageNotFoundException if not).
          "ecr:DescribeImages",
        ],
        resources: repoArns,
      }),
    );
    this.pullThroughCache(props.config);
    this.buildProject.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ["secretsmanager:GetSecretValue"],
        resources: [props.githubCredentials.secretArn],
      }),
    );
    this.scanProject.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          "ecr:BatchGetImage",
          "ecr:GetDownloadUrlForLayer",
          "ecr:BatchCheckLayerAvailability",
          "ecr:DescribeImages",
        ],
        resources: repoArns,
      }),
    );
  }

  /**
   * ECR pull-through cache for Docker Hub (config build.pullThroughCache): Docker Hub requires
   * authentication through a Secrets Manager secret named ecr-pullthroughcache/..., in this account
   * and region.
   */
  private pullThroughCache(config: AppConfig): void {
    const pullThroughCache = config.build?.pullThroughCache;
    if (!pullThroughCache) return;
    const rule = new ecr.CfnPullThroughCacheRule(this, "DockerHubPullThroughCache", {
      ecrRepositoryPrefix: pullThroughCache.repositoryPrefix,
      upstreamRegistry: "docker-hub",
      upstreamRegistryUrl: "registry-1.docker.io",
      credentialArn: pullThroughCache.credentialArn,
    });
    // One rule per prefix: a new logical id would create a second rule for the prefix, which fails.
    keepLogicalId(rule, "DockerHubPullThroughCache");
    const cachedRepos = Stack.of(this).formatArn({
      service: "ecr",
      resource: "repository",
      resourceName: `${pullThroughCache.repositoryPrefix}/*`,
    });
    // Pulling through the rule needs, besides the pull actions, BatchImportUpstreamImage (fetch the
    // upstream image into the registry) and CreateRepository (the first pull of an image creates
    // its repository), per the ECR pull-through cache IAM documentation.
    this.buildProject.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          "ecr:BatchGetImage",
          "ecr:GetDownloadUrlForLayer",
          "ecr:BatchCheckLayerAvailability",
          "ecr:BatchImportUpstreamImage",
          "ecr:CreateRepository",
        ],
        resources: [cachedRepos],
      }),
    );
    Validations.of(this.buildProject).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/${pullThroughCache.repositoryPrefix}/*]`,
      reason:
        "Pull-through cache repositories are created by ECR on the first pull of each base image, so their names are unknown at deploy time; the wildcard covers only the rule's repository prefix.",
    });
  }

  private scheduleTrivyDbRefresh(props: BuildAndScanProps): void {
    const trivyRefreshDlq = deadLetterQueue(
      this,
      "TrivyDbRefreshRuleDlq",
      "This queue is itself the dead-letter queue of the Trivy DB refresh schedule; a start that failed lands here for inspection.",
    );
    keepLogicalId(trivyRefreshDlq, "TrivyDbRefreshRuleDlq/Resource");
    new scheduler.Schedule(this, "TrivyDbRefreshSchedule", {
      description: `Pourover ${props.config.app}: refresh the Trivy DB in the cache the release scans read offline`,
      schedule:
        props.trivyDbRefreshSchedule ?? scheduler.ScheduleExpression.cron({ minute: "17", hour: "3" }),
      target: new schedulerTargets.CodeBuildStartBuild(this.trivyDbRefreshProject, {
        deadLetterQueue: trivyRefreshDlq,
        retryAttempts: 4,
        maxEventAge: Duration.hours(6),
      }),
    });
  }

  private acknowledgeTrivyCache(): void {
    const cacheBucketId = logicalIdOf(this.trivyCacheBucket);
    for (const trivyProject of [this.buildProject, this.scanProject, this.trivyDbRefreshProject]) {
      Validations.of(trivyProject).acknowledge(
        {
          id: `AwsSolutions-IAM5[Resource::<${cacheBucketId}.Arn>/*]`,
          reason:
            "CodeBuild's S3 cache grant: the cache bucket holds only the Trivy DB and tarball; CodeBuild names the cache objects, so keys are unknown at deploy time.",
        },
        ...["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*"].map((action) => ({
          id: `AwsSolutions-IAM5[Action::${action}]`,
          reason:
            "CodeBuild's standard read/write grant for its S3 cache, on the dedicated Trivy cache bucket only (no other bucket, not the reports bucket).",
        })),
      );
    }
    Validations.of(this.trivyDbRefreshProject).acknowledge(
      ...codeBuildProjectAcknowledgements(logicalIdOf(this.trivyDbRefreshProject)),
    );
  }
}

/** BuildScanPush: clone at the tag, docker build, Trivy scan, push only if it passed. */
function buildProjectProps(
  props: BuildAndScanProps,
  trivyEnv: Record<string, codebuild.BuildEnvironmentVariable>,
): codebuild.ProjectProps {
  const pullThroughCache = props.config.build?.pullThroughCache;
  return {
    description:
      "Pourover: clone at the tag's commit, docker build, Trivy scan, push to ECR only if it passed",
    buildSpec: readBuildspec(props.projectRoot, "build-scan-push.yml"),
    environment: {
      buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
      computeType: codebuild.ComputeType.MEDIUM,
      // docker build needs the Docker daemon inside the build container.
      privileged: true,
    },
    environmentVariables: {
      ...trivyEnv,
      SOURCE_TOKEN_SECRET_ARN: { value: props.githubCredentials.secretArn },
      // Docker Hub base images come through the ECR pull-through cache rule (config
      // build.pullThroughCache); the buildspec rewrites Docker Hub FROM references to it.
      ...(pullThroughCache
        ? { BASE_IMAGE_MIRROR: { value: `${ACCOUNT_REGISTRY}/${pullThroughCache.repositoryPrefix}` } }
        : {}),
    },
    timeout: Duration.minutes(60),
  };
}

function readBuildspec(projectRoot: string, file: string): codebuild.BuildSpec {
  const parsed = parseYaml(readFileSync(join(projectRoot, "infra", "buildspecs", file), "utf8")) as Record<
    string,
    unknown
  >;
  return codebuild.BuildSpec.fromObjectToYaml(parsed);
}

/**
 * What CodeBuild grants every project by construction (its log group, its report groups) and the
 * standard grant on the pipeline's build KMS key, acknowledged for one project's logical id.
 */
function codeBuildProjectAcknowledgements(projectId: string): { id: string; reason: string }[] {
  const kmsReason =
    "The standard encrypt/decrypt grant on the pipeline's own build KMS key; the action wildcard applies to that single key ARN and no other key.";
  return [
    {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/codebuild/<${projectId}>:*]`,
      reason:
        "CodeBuild grants its default log group by construction; stream names are per build and unknown at deploy time, and the wildcard covers only this project's group.",
    },
    {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:report-group/<${projectId}>-*]`,
      reason:
        "CodeBuild grants report groups named after this project by construction; the wildcard is limited to this project's own report group name prefix.",
    },
    { id: "AwsSolutions-IAM5[Action::kms:ReEncrypt*]", reason: kmsReason },
    { id: "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", reason: kmsReason },
  ];
}
