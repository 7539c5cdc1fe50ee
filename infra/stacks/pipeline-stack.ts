import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  Aws,
  CfnOutput,
  type CfnResource,
  Duration,
  RemovalPolicy,
  SecretValue,
  Stack,
  type StackProps,
  Token,
  Validations,
} from "aws-cdk-lib";
import * as codebuild from "aws-cdk-lib/aws-codebuild";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as ecr from "aws-cdk-lib/aws-ecr";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import * as s3 from "aws-cdk-lib/aws-s3";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import * as schedulerTargets from "aws-cdk-lib/aws-scheduler-targets";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as sqs from "aws-cdk-lib/aws-sqs";
import * as ssm from "aws-cdk-lib/aws-ssm";
import type { Construct } from "constructs";
import { parse as parseYaml } from "yaml";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import { TAG_PATTERN } from "../../shared/contracts/release.js";
import { InvalidInputError } from "../../shared/domain/errors.js";
import { AbandonedReleaseFinisher } from "../constructs/abandoned-release-finisher.js";
import { PipelineObservability } from "../constructs/pipeline-observability.js";
import { PouroverFunction } from "../constructs/pourover-function.js";
import { ProdFeedback } from "../constructs/prod-feedback.js";
import { ReleaseReconciler } from "../constructs/release-reconciler.js";
import { ReleaseStarter } from "../constructs/release-starter.js";
import { ReleaseStateMachine } from "../constructs/release-state-machine.js";
import {
  SES_IDENTITY_WILDCARD_FINDING,
  SES_IDENTITY_WILDCARD_REASON,
  sesSendStatement,
} from "../constructs/ses-send-permission.js";

/** Repository root (infra/stacks/ -> ../..). */
export const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** EventBridge source and detail-type of the webhook's events (see functions/receive-github-webhook). */
export const WEBHOOK_EVENT_SOURCE = "pourover.webhook";
export const RELEASE_TAG_PUSHED = "Release Tag Pushed";
/** Key prefix of the release artifacts (compose files) the dev hosts fetch. */
export const ARTIFACTS_PREFIX = "releases/";

/** The parameters of the dev deploy document, each with a pattern that admits no shell syntax. */
export const DEPLOY_PARAMETER_PATTERNS = {
  /** config.app: lowercase letters, digits and dashes. */
  App: "^[a-z0-9][a-z0-9-]{0,62}$",
  /** The tag policy itself (TAG_PATTERN): a v-prefixed semantic version, no build metadata. */
  Tag: TAG_PATTERN.source,
  /** An S3 key under releases/, no `..` segment. */
  ComposeObject: "^(?!.*\\.\\.)releases/[A-Za-z0-9._/-]{1,900}$",
  /** Empty, or http(s) URLs separated by single spaces; no quotes, `$`, `;`, `&`, `|`, parentheses, backticks. */
  HealthUrls:
    "^$|^https?://[A-Za-z0-9._~:/?#@%+=,-]{1,500}( https?://[A-Za-z0-9._~:/?#@%+=,-]{1,500}){0,19}$",
  /** dev.timeoutSeconds, 30 to 3600: the runShellScript step's execution timeout. */
  ExecutionTimeout: "^([3-9][0-9]|[1-9][0-9]{2}|[1-2][0-9]{3}|3[0-5][0-9]{2}|3600)$",
} as const;

/** A Secrets Manager secret name: letters, digits and /_+=.@- (never shell syntax). */
export const ENV_SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
/** The env file's name in the compose project directory. */
export const ENV_FILE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/;

export interface PipelineStackProps extends StackProps {
  /** The validated app config (`parseAppConfig`). */
  readonly config: AppConfig;
  /** Absolute path of the workflow definition. @default <repo>/state-machines/release.asl.json */
  readonly definitionFile?: string;
  /** Repository root holding functions/ and infra/. @default the folder two levels above this file */
  readonly projectRoot?: string;
  /** Days before scan reports (JSON, SBOM) expire. @default 180 */
  readonly reportRetentionDays?: number;
  /** Days before release artifacts (compose files) expire. @default 365 */
  readonly artifactRetentionDays?: number;
  /** Retention of every log group the stack creates. @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Reserved concurrency of the webhook Function URL (bounds what an unauthenticated caller costs;
   * context `pourover:webhookReservedConcurrency`). Off by default: Lambda keeps 100 of the account's
   * concurrency unreserved, so on a new account with a low quota any reservation fails the deploy.
   * @default none (the account's unreserved pool)
   */
  readonly webhookReservedConcurrency?: number;
  /** Trivy release installed by the CodeBuild projects. @default "0.59.1" */
  readonly trivyVersion?: string;
  /**
   * SHA-256 of `trivy_<version>_Linux-64bit.tar.gz`. When empty, the buildspec verifies the tarball
   * against the release's own checksums file and says so in the build log; pin it for production.
   * @default ""
   */
  readonly trivySha256?: string;
  /**
   * When the scheduled build refreshes the Trivy DB in the shared CodeBuild S3 cache (releases scan
   * offline against it). @default daily at 03:17 UTC
   */
  readonly trivyDbRefreshSchedule?: scheduler.ScheduleExpression;
  /** Days an untagged image stays in a repository before the ECR lifecycle expires it. @default 14 */
  readonly ecrUntaggedMaxAgeDays?: number;
  /** Removal policy of the ledger, buckets, repositories and secrets. @default RemovalPolicy.RETAIN */
  readonly dataRemovalPolicy?: RemovalPolicy;
  /** Email subscribed to the alarm topic (context `pourover:alarmEmail`). @default no subscription */
  readonly alarmEmail?: string;
  /** Argo CD notifications endpoint recording prod deploys (context `pourover:prodFeedback`). @default false */
  readonly prodFeedback?: boolean;
}

/**
 * One line when the account or region the stack deploys to (when known) differs from
 * `config.registry`: the release images are pushed to the deploying account's ECR while manifests
 * and the dev deploy pin `config.registry`, so such a pipeline would pin images that do not exist.
 */
export function registryMismatch(
  config: AppConfig,
  target: { account?: string; region?: string; source: string },
): string | undefined {
  const problems: string[] = [];
  if (target.account && target.account !== config.registry.accountId)
    problems.push(`account ${target.account} is not registry.accountId ${config.registry.accountId}`);
  if (target.region && target.region !== config.registry.region)
    problems.push(`region ${target.region} is not registry.region ${config.registry.region}`);
  if (problems.length === 0) return undefined;
  return `registry mismatch: the deploy target (${target.source}) ${problems.join(" and ")}; images are pushed to the deploying account's ECR, so set registry in the config to the account and region you deploy to`;
}

function readBuildspec(projectRoot: string, file: string): codebuild.BuildSpec {
  const parsed = parseYaml(readFileSync(join(projectRoot, "infra", "buildspecs", file), "utf8")) as Record<
    string,
    unknown
  >;
  return codebuild.BuildSpec.fromObjectToYaml(parsed);
}

/** The deploy document content with the artifacts bucket, registry and deploy script filled in. */
export function deployDocumentContent(
  projectRoot: string,
  bucketName: string,
  registry: string,
  /** dev.envSecret and the file it is written to; none: the host writes no env file. */
  env?: { secret: string; file: string },
): Record<string, unknown> {
  if (env && (!ENV_SECRET_NAME.test(env.secret) || !ENV_FILE_NAME.test(env.file))) {
    throw new Error(
      `dev.envSecret must be a Secrets Manager secret name (${ENV_SECRET_NAME.source}) and dev.envFile a file name (${ENV_FILE_NAME.source})`,
    );
  }
  const raw = readFileSync(join(projectRoot, "infra", "ssm", "deploy-dev.yml"), "utf8");
  const script = readFileSync(join(projectRoot, "infra", "scripts", "deploy-dev.sh"), "utf8");
  if (script.includes("{{") || script.includes("POUROVER_DEPLOY_SCRIPT_EOF")) {
    throw new Error("deploy-dev.sh must not contain '{{' (SSM parameter syntax) nor the heredoc delimiter");
  }
  const doc = parseYaml(raw) as {
    parameters: Record<string, { allowedPattern?: string }>;
    mainSteps: { inputs: { runCommand: string[] } }[];
  };
  for (const [name, pattern] of Object.entries(DEPLOY_PARAMETER_PATTERNS)) {
    const param = doc.parameters[name];
    if (!param || param.allowedPattern !== pattern) {
      throw new Error(`infra/ssm/deploy-dev.yml: parameter ${name} must have allowedPattern ${pattern}`);
    }
  }
  const step = doc.mainSteps[0];
  if (!step) throw new Error("infra/ssm/deploy-dev.yml: no mainSteps");
  step.inputs.runCommand = step.inputs.runCommand.flatMap((line) => {
    if (line.trim() === "__DEPLOY_SCRIPT__") return script.replace(/\n$/, "").split("\n");
    return [
      line
        .replaceAll("__ARTIFACTS_BUCKET__", bucketName)
        .replaceAll("__REGISTRY__", registry)
        .replaceAll("__ENV_SECRET__", env?.secret ?? "")
        .replaceAll("__ENV_FILE__", env?.file ?? ""),
    ];
  });
  return doc as unknown as Record<string, unknown>;
}

/**
 * Pourover in one stack: triggers (webhook Function URL + ECR push rule) -> release state machine ->
 * Lambdas, CodeBuild build/scan, SSM dev deploy; the ledger, the reports/artifacts bucket, the ECR
 * repositories and the secrets the user fills.
 */
export class PipelineStack extends Stack {
  readonly bus: events.EventBus;
  readonly stateMachine: ReleaseStateMachine;
  readonly ledger: dynamodb.Table;
  readonly bucket: s3.Bucket;
  readonly buildProject: codebuild.Project;
  readonly scanProject: codebuild.Project;
  readonly deployDocument: ssm.CfnDocument;
  readonly repositories: ecr.Repository[];
  readonly functions: Record<string, PouroverFunction>;
  /** Closes executions that were aborted, timed out or failed outside their Catch. */
  readonly abandonedReleases: AbandonedReleaseFinisher;
  /** Only when `prodFeedback` is set. */
  readonly prodFeedback?: ProdFeedback;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const { config } = props;
    const projectRoot = props.projectRoot ?? PROJECT_ROOT;
    const definitionFile = props.definitionFile ?? join(projectRoot, "state-machines", "release.asl.json");
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    const dataRemoval = props.dataRemovalPolicy ?? RemovalPolicy.RETAIN;
    if (`${config.app}/` === ARTIFACTS_PREFIX) {
      throw new Error(`app name "${config.app}" collides with the artifacts prefix ${ARTIFACTS_PREFIX}`);
    }
    // Pins name config.registry while the builds push to this stack's account and region.
    const mismatch = registryMismatch(config, {
      account: Token.isUnresolved(this.account) ? undefined : this.account,
      region: Token.isUnresolved(this.region) ? undefined : this.region,
      source: "the stack's env",
    });
    if (mismatch) throw new InvalidInputError(mismatch);
    const reservedWebhook = props.webhookReservedConcurrency;
    if (reservedWebhook !== undefined && (!Number.isInteger(reservedWebhook) || reservedWebhook < 1)) {
      throw new InvalidInputError(
        `webhookReservedConcurrency must be a positive integer, got ${String(reservedWebhook)}`,
      );
    }
    /** Scan reports live under `<app>/<tag>/<service>/` (the buildspecs' upload path). */
    const reportsPrefix = `${config.app}/`;
    const registry = `${Aws.ACCOUNT_ID}.dkr.ecr.${Aws.REGION}.${Aws.URL_SUFFIX}`;

    // ---------------------------------------------------------------- storage
    const accessLogs = new s3.Bucket(this, "AccessLogsBucket", {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      versioned: false,
      lifecycleRules: [{ id: "expire-access-logs", expiration: Duration.days(365) }],
      removalPolicy: dataRemoval,
    });
    Validations.of(accessLogs).acknowledge({
      id: "AwsSolutions-S1",
      reason:
        "This bucket is the destination of the server access logs of the reports bucket; logging it into itself would loop, and a third bucket adds nothing.",
    });

    this.bucket = new s3.Bucket(this, "ReportsBucket", {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: "reports-bucket/",
      lifecycleRules: [
        {
          id: "expire-scan-reports",
          prefix: reportsPrefix,
          expiration: Duration.days(props.reportRetentionDays ?? 180),
          noncurrentVersionExpiration: Duration.days(30),
        },
        {
          id: "expire-release-artifacts",
          prefix: ARTIFACTS_PREFIX,
          expiration: Duration.days(props.artifactRetentionDays ?? 365),
          noncurrentVersionExpiration: Duration.days(30),
        },
        { id: "abort-incomplete-uploads", abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
      removalPolicy: dataRemoval,
    });

    this.ledger = new dynamodb.Table(this, "ReleaseLedger", {
      partitionKey: { name: "pk", type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: "expiresAt",
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: dataRemoval === RemovalPolicy.RETAIN,
      removalPolicy: dataRemoval,
    });

    // ---------------------------------------------------------------- secrets
    const webhookSecret = new secretsmanager.Secret(this, "WebhookSecret", {
      description:
        "GitHub webhook HMAC secret (plain string). Paste it into the GitHub webhook settings; rotate by setting a new value in both places.",
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      removalPolicy: dataRemoval,
    });
    const githubCredentials = new secretsmanager.Secret(this, "GithubCredentials", {
      description:
        'GitHub credentials for the manifests repo (and private source clones), JSON: {"token":"..."} or {"appId":"...","installationId":"...","privateKey":"-----BEGIN..."}. Created empty: fill it after deploy.',
      secretStringValue: SecretValue.unsafePlainText("{}"),
      removalPolicy: dataRemoval,
    });
    for (const secret of [webhookSecret, githubCredentials]) {
      Validations.of(secret).acknowledge({
        id: "AwsSolutions-SMG4",
        reason:
          "The value is owned by GitHub (webhook secret or token/App key) and must change on both sides together, so automatic rotation by a Lambda cannot apply it; rotation is a documented manual step.",
      });
    }

    // ---------------------------------------------------------------- ECR
    this.repositories = config.services.map(
      (service) =>
        new ecr.Repository(this, `Repository-${service.name}`, {
          repositoryName: service.repository,
          // Release tags (v*) can never be overwritten; other tags (e.g. latest, cache) stay mutable.
          imageTagMutability: ecr.TagMutability.MUTABLE_WITH_EXCLUSION,
          imageTagMutabilityExclusionFilters: [ecr.ImageTagMutabilityExclusionFilter.wildcard("v*")],
          imageScanOnPush: true,
          encryption: ecr.RepositoryEncryption.AES_256,
          removalPolicy: dataRemoval,
          emptyOnDelete: dataRemoval !== RemovalPolicy.RETAIN,
          // Untagged images only: release images (v*) and the build cache tag are never expired.
          // ECR's lifecycle has no "exclude" filter, and an image carrying a matching tag is expired
          // with all its other tags (ECR user guide, lifecycle policy examples), so any tagged or
          // `any` rule could delete a v* image a prod pin or a rollback needs. `untagged` selects only
          // images with no tag at all (superseded cache manifests, interrupted pushes).
          lifecycleRules: [
            {
              description:
                "expire untagged images (never a tagged one: v* releases and the build cache stay)",
              tagStatus: ecr.TagStatus.UNTAGGED,
              maxImageAge: Duration.days(props.ecrUntaggedMaxAgeDays ?? 14),
            },
          ],
        }),
    );

    // ---------------------------------------------------------------- bus
    this.bus = new events.EventBus(this, "Bus", { eventBusName: `pourover-${config.app}` });

    // ---------------------------------------------------------------- Lambdas
    const fn = (
      functionDir: string,
      extra: Partial<ConstructorParameters<typeof PouroverFunction>[2]> = {},
    ) =>
      new PouroverFunction(this, pascalCase(functionDir), {
        functionDir,
        projectRoot,
        config,
        logRetention,
        ...extra,
      });
    const reportsArn = this.bucket.arnForObjects(`${reportsPrefix}*`);
    const artifactsArn = this.bucket.arnForObjects(`${ARTIFACTS_PREFIX}*`);

    const claimRelease = fn("claim-release", {
      description: "Claims app#tag in the release ledger (conditional write)",
      environment: { LEDGER_TABLE_NAME: this.ledger.tableName },
    });
    // Only the conditional PutItem (the claim): the handler never reads the ledger.
    claimRelease.allow(["dynamodb:PutItem"], [this.ledger.tableArn]);

    const planRelease = fn("plan-release", {
      description:
        "Resolves services, repositories and dev target; waits for all images of an ECR-triggered tag",
      environment: { LEDGER_TABLE_NAME: this.ledger.tableName },
    });
    // A rollback reads the ledger record of the release it goes back to (app#tag keys only).
    planRelease.allow(["dynamodb:GetItem"], [this.ledger.tableArn], {
      "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [`${config.app}#*`] },
    });
    planRelease.allow(
      ["ecr:DescribeImages"],
      this.repositories.map((r) => r.repositoryArn),
    );

    const evaluateScan = fn("evaluate-scan", {
      description: "Parses a Trivy report and applies the scan policy",
      environment: { REPORTS_BUCKET_NAME: this.bucket.bucketName },
      memorySize: 512,
    });
    evaluateScan.allow(["s3:GetObject"], [reportsArn]);
    // Writes each service's full findings next to its report (<app>/<tag>/<service>/findings.json):
    // the execution state only carries a summary, as a state's input or output over 256 KiB fails it.
    evaluateScan.allow(["s3:PutObject"], [reportsArn]);
    Validations.of(evaluateScan.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${this.logicalIdOf(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/${reportsPrefix}*]`,
      reason:
        "Reports and findings are keyed by tag and service at run time, so the keys are unknown at deploy time; GetObject and PutObject are limited to the app's reports prefix.",
    });

    // The dev result on the release PR: a body update and a commit status (two GitHub calls).
    const reportDevResult = fn("report-dev-result", {
      description: "Writes the dev result onto the release PR and sets the pourover/dev commit status",
      environment: { GITHUB_CREDENTIALS_SECRET_ARN: githubCredentials.secretArn },
      timeout: Duration.seconds(60),
    });
    reportDevResult.allow(["secretsmanager:GetSecretValue"], [githubCredentials.secretArn]);

    const gateOnScan = fn("gate-on-scan", {
      description: "Rejects the release when one image failed the policy",
    });

    const updateManifests = fn("update-manifests", {
      description: "One commit and one pull request pinning the release images",
      environment: {
        GITHUB_CREDENTIALS_SECRET_ARN: githubCredentials.secretArn,
        ARTIFACTS_BUCKET_NAME: this.bucket.bucketName,
      },
      memorySize: 512,
      timeout: Duration.seconds(120),
    });
    updateManifests.allow(["secretsmanager:GetSecretValue"], [githubCredentials.secretArn]);
    updateManifests.allow(["s3:PutObject"], [artifactsArn]);
    Validations.of(updateManifests.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${this.logicalIdOf(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/${ARTIFACTS_PREFIX}*]`,
      reason:
        "Each release writes its compose file under a key named after the app and tag at run time; PutObject is limited to the releases prefix.",
    });

    const verifyDev = fn("verify-dev-deploy", { description: "Reads the dev deploy command results" });
    // ListCommands (TargetCount: are the tag targets resolved?), ListCommandInvocations (per-host
    // status), GetCommandInvocation (the host's stdout, where the result line is) and CancelCommand
    // (a deploy past dev.timeoutSeconds is cancelled before the dev lock is given back). The service
    // authorization reference lists no resource type for any of the four: the resource is "*".
    verifyDev.allow(
      ["ssm:ListCommands", "ssm:ListCommandInvocations", "ssm:GetCommandInvocation", "ssm:CancelCommand"],
      ["*"],
    );
    Validations.of(verifyDev.role).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason:
        "ssm:ListCommands, ListCommandInvocations, GetCommandInvocation and CancelCommand support no resource-level permissions, so the API requires the wildcard resource; command ids are only known at run time, and X-Ray tracing needs the same wildcard.",
    });

    // The dev lock is one item of the ledger (devlock#<app>): AcquireDevLock may touch only that key.
    // Giving it back is one conditional UpdateItem made by the state machine itself (ReleaseDevLock).
    const devLockKey = { "ForAllValues:StringEquals": { "dynamodb:LeadingKeys": [`devlock#${config.app}`] } };
    const acquireDevLock = fn("acquire-dev-lock", {
      description: "One dev deploy at a time, newest release wins (conditional write of devlock#<app>)",
      environment: { LEDGER_TABLE_NAME: this.ledger.tableName },
    });
    acquireDevLock.allow(["dynamodb:GetItem", "dynamodb:PutItem"], [this.ledger.tableArn], devLockKey);

    const sendNotification = fn("send-notification", {
      // The sender is read from the bundled app config (notify.from), not from the environment.
      description: "Emails the release outcome through SES",
    });
    sendNotification.role.addToPolicy(sesSendStatement(this, config.notify));
    Validations.of(sendNotification.role).acknowledge({
      id: SES_IDENTITY_WILDCARD_FINDING,
      reason: SES_IDENTITY_WILDCARD_REASON,
    });

    const recordOutcome = fn("record-outcome", {
      description: "Writes the outcome to the ledger and publishes Release Succeeded/Failed",
      environment: { LEDGER_TABLE_NAME: this.ledger.tableName, EVENT_BUS_NAME: this.bus.eventBusName },
    });
    // UpdateItem only (the outcome and the latest-release pointer): the handler never reads the ledger.
    recordOutcome.allow(["dynamodb:UpdateItem"], [this.ledger.tableArn]);
    recordOutcome.allow(["events:PutEvents"], [this.bus.eventBusArn]);

    const webhook = fn("receive-github-webhook", {
      description: "GitHub webhook: HMAC-verified tag pushes become Release Tag Pushed events",
      environment: {
        WEBHOOK_SECRET_ARN: webhookSecret.secretArn,
        EVENT_BUS_NAME: this.bus.eventBusName,
        LEDGER_TABLE_NAME: this.ledger.tableName,
      },
      timeout: Duration.seconds(10),
      ...(props.webhookReservedConcurrency === undefined
        ? {}
        : { reservedConcurrentExecutions: props.webhookReservedConcurrency }),
    });
    webhook.allow(["secretsmanager:GetSecretValue"], [webhookSecret.secretArn]);
    webhook.allow(["events:PutEvents"], [this.bus.eventBusArn]);
    // Its own dedupe items only (delivery ids and body digests), never a release claim or the dev
    // lock: DynamoDB's dynamodb:LeadingKeys condition limits an action to items with those partition
    // key values (fine-grained access control, DynamoDB developer guide).
    webhook.allow(["dynamodb:PutItem", "dynamodb:DeleteItem"], [this.ledger.tableArn], {
      "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["delivery#*", "delivery-body#*"] },
    });
    // Auth NONE: GitHub cannot sign AWS requests. The handler verifies X-Hub-Signature-256 (HMAC-SHA256,
    // constant time) before parsing anything; optional reserved concurrency bounds the cost of junk traffic.
    const webhookUrl = webhook.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });

    this.functions = {
      claimRelease,
      planRelease,
      evaluateScan,
      gateOnScan,
      updateManifests,
      verifyDev,
      acquireDevLock,
      sendNotification,
      recordOutcome,
      reportDevResult,
      webhook,
    };

    // ---------------------------------------------------------------- CodeBuild
    const buildKey = new kms.Key(this, "BuildKey", {
      description: "Pourover CodeBuild artifacts and logs",
      enableKeyRotation: true,
      removalPolicy: dataRemoval,
    });
    const trivyEnv: Record<string, codebuild.BuildEnvironmentVariable> = {
      TRIVY_VERSION: { value: props.trivyVersion ?? "0.59.1" },
      TRIVY_SHA256: { value: props.trivySha256 ?? "" },
      REPORTS_BUCKET: { value: this.bucket.bucketName },
      REGISTRY: { value: registry },
    };
    const projectLogs = (name: string) =>
      new logs.LogGroup(this, `${name}Logs`, {
        retention: logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
    const buildLogs = projectLogs("BuildProject");
    const scanLogs = projectLogs("ScanProject");
    // The Trivy DB (and the Trivy tarball) live in a CodeBuild S3 cache shared by the three Trivy
    // projects (one cache namespace): the scheduled refresh build downloads the DB, releases scan with
    // --skip-db-update. A bucket of its own, because CodeBuild's cache grant is bucket-wide and the
    // reports bucket must stay writable only under the reports prefix.
    const trivyCacheBucket = new s3.Bucket(this, "TrivyCacheBucket", {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: "trivy-cache-bucket/",
      lifecycleRules: [
        { id: "abort-incomplete-uploads", abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: dataRemoval,
    });
    const trivyCache = codebuild.Cache.bucket(trivyCacheBucket, {
      prefix: "trivy-cache",
      cacheNamespace: `pourover-${config.app}-trivy`,
    });

    const pullThroughCache = config.build?.pullThroughCache;
    this.buildProject = new codebuild.Project(this, "BuildProject", {
      description:
        "Pourover: clone at the tag's commit, docker build, Trivy scan, push to ECR only if it passed",
      buildSpec: readBuildspec(projectRoot, "build-scan-push.yml"),
      environment: {
        buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
        computeType: codebuild.ComputeType.MEDIUM,
        // docker build needs the Docker daemon inside the build container.
        privileged: true,
      },
      environmentVariables: {
        ...trivyEnv,
        SOURCE_TOKEN_SECRET_ARN: { value: githubCredentials.secretArn },
        // Docker Hub base images come through the ECR pull-through cache rule below (config
        // build.pullThroughCache); the buildspec rewrites Docker Hub FROM references to it.
        ...(pullThroughCache
          ? { BASE_IMAGE_MIRROR: { value: `${registry}/${pullThroughCache.repositoryPrefix}` } }
          : {}),
      },
      encryptionKey: buildKey,
      timeout: Duration.minutes(60),
      logging: { cloudWatch: { logGroup: buildLogs } },
      cache: trivyCache,
    });
    this.scanProject = new codebuild.Project(this, "ScanProject", {
      description: "Pourover: Trivy scan of an image already in ECR, by digest (--image-src remote)",
      buildSpec: readBuildspec(projectRoot, "scan-image.yml"),
      environment: {
        buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
        computeType: codebuild.ComputeType.SMALL,
        privileged: false,
      },
      environmentVariables: trivyEnv,
      encryptionKey: buildKey,
      timeout: Duration.minutes(30),
      logging: { cloudWatch: { logGroup: scanLogs } },
      cache: trivyCache,
    });
    Validations.of(this.buildProject).acknowledge({
      id: "AwsSolutions-CB3",
      reason:
        "Privileged mode runs the Docker daemon that builds the service images; the build clones only the configured source repository at the tagged commit.",
    });

    const repoArns = this.repositories.map((r) => r.repositoryArn);
    const bucketId = this.logicalIdOf(this.bucket.node.defaultChild as s3.CfnBucket);
    for (const project of [this.buildProject, this.scanProject]) {
      const projectId = this.logicalIdOf(project.node.defaultChild as codebuild.CfnProject);
      Validations.of(project).acknowledge(
        {
          id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${reportsPrefix}*]`,
          reason:
            "Reports are written per tag and service under the app's reports prefix, so keys are unknown at deploy time; PutObject is limited to that prefix.",
        },
        ...codeBuildProjectAcknowledgements(projectId),
      );
      project.addToRolePolicy(
        new iam.PolicyStatement({ actions: ["ecr:GetAuthorizationToken"], resources: ["*"] }),
      );
      project.addToRolePolicy(
        new iam.PolicyStatement({ actions: ["s3:PutObject"], resources: [reportsArn] }),
      );
      Validations.of(project).acknowledge({
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
    if (pullThroughCache) {
      // ECR pull-through cache for Docker Hub: Docker Hub requires authentication through a Secrets
      // Manager secret named ecr-pullthroughcache/..., in this account and region.
      new ecr.CfnPullThroughCacheRule(this, "DockerHubPullThroughCache", {
        ecrRepositoryPrefix: pullThroughCache.repositoryPrefix,
        upstreamRegistry: "docker-hub",
        upstreamRegistryUrl: "registry-1.docker.io",
        credentialArn: pullThroughCache.credentialArn,
      });
      const cachedRepos = this.formatArn({
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
    this.buildProject.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ["secretsmanager:GetSecretValue"],
        resources: [githubCredentials.secretArn],
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

    // Daily Trivy DB refresh into the shared cache: the only build that downloads the DB.
    const trivyDbRefresh = new codebuild.Project(this, "TrivyDbRefreshProject", {
      description: "Pourover: downloads the Trivy DB and Java DB into the S3 cache the scan builds read",
      buildSpec: readBuildspec(projectRoot, "refresh-trivy-db.yml"),
      environment: {
        buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
        computeType: codebuild.ComputeType.SMALL,
        privileged: false,
      },
      environmentVariables: {
        TRIVY_VERSION: trivyEnv.TRIVY_VERSION as codebuild.BuildEnvironmentVariable,
        TRIVY_SHA256: trivyEnv.TRIVY_SHA256 as codebuild.BuildEnvironmentVariable,
      },
      encryptionKey: buildKey,
      timeout: Duration.minutes(20),
      logging: { cloudWatch: { logGroup: projectLogs("TrivyDbRefreshProject") } },
      cache: trivyCache,
    });
    const trivyRefreshDlq = new sqs.Queue(this, "TrivyDbRefreshRuleDlq", {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(trivyRefreshDlq).acknowledge({
      id: "AwsSolutions-SQS3",
      reason:
        "This queue is itself the dead-letter queue of the Trivy DB refresh schedule; a start that failed lands here for inspection.",
    });
    new scheduler.Schedule(this, "TrivyDbRefreshSchedule", {
      description: `Pourover ${config.app}: refresh the Trivy DB in the cache the release scans read offline`,
      schedule:
        props.trivyDbRefreshSchedule ?? scheduler.ScheduleExpression.cron({ minute: "17", hour: "3" }),
      target: new schedulerTargets.CodeBuildStartBuild(trivyDbRefresh, {
        deadLetterQueue: trivyRefreshDlq,
        retryAttempts: 4,
        maxEventAge: Duration.hours(6),
      }),
    });
    const cacheBucketId = this.logicalIdOf(trivyCacheBucket.node.defaultChild as s3.CfnBucket);
    for (const project of [this.buildProject, this.scanProject, trivyDbRefresh]) {
      Validations.of(project).acknowledge(
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
    const refreshId = this.logicalIdOf(trivyDbRefresh.node.defaultChild as codebuild.CfnProject);
    Validations.of(trivyDbRefresh).acknowledge(...codeBuildProjectAcknowledgements(refreshId));

    // When BuildScanPush/ScanImage fails after its retry: which phase failed, and the logs link.
    const describeBuildFailure = fn("describe-build-failure", {
      description: "Reads a failed build (BatchGetBuilds) and reports its failed phase and logs link",
    });
    describeBuildFailure.allow(
      ["codebuild:BatchGetBuilds"],
      [this.buildProject.projectArn, this.scanProject.projectArn],
    );
    this.functions.describeBuildFailure = describeBuildFailure;

    // ---------------------------------------------------------------- dev deploy (SSM)
    const deployLogs = new logs.LogGroup(this, "DeployLogs", {
      logGroupName: `/pourover/${config.app}/deploy-dev`,
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.deployDocument = new ssm.CfnDocument(this, "DeployDocument", {
      documentType: "Command",
      documentFormat: "YAML",
      targetType: "/AWS::EC2::Instance",
      updateMethod: "NewVersion",
      content: deployDocumentContent(
        projectRoot,
        this.bucket.bucketName,
        registry,
        config.dev.envSecret
          ? { secret: config.dev.envSecret, file: config.dev.envFile ?? `${config.app}.env` }
          : undefined,
      ),
    });

    // ---------------------------------------------------------------- state machine
    this.stateMachine = new ReleaseStateMachine(this, "Release", {
      definitionFile,
      functions: {
        claimRelease: claimRelease.function,
        planRelease: planRelease.function,
        evaluateScan: evaluateScan.function,
        gateOnScan: gateOnScan.function,
        describeBuildFailure: describeBuildFailure.function,
        updateManifests: updateManifests.function,
        verifyDev: verifyDev.function,
        acquireDevLock: acquireDevLock.function,
        sendNotification: sendNotification.function,
        recordOutcome: recordOutcome.function,
        reportDevResult: reportDevResult.function,
      },
      ledger: this.ledger,
      app: config.app,
      buildProject: this.buildProject,
      scanProject: this.scanProject,
      deployDocument: this.deployDocument,
      deployLogGroup: deployLogs,
      devInstanceTags: config.dev.instanceTags,
      logRetention,
    });
    const machine = this.stateMachine.stateMachine;
    // Safety net for lost trigger events: a schedule starts releases for unclaimed recent v* images.
    const reconciler = new ReleaseReconciler(this, "ReleaseReconciler", {
      projectRoot,
      config,
      stateMachine: machine,
      ledger: this.ledger,
      repositories: this.repositories,
      logRetention,
    });
    this.functions.reconcileReleases = reconciler.function;
    // Executions that end without reaching RecordOutcome give back their claim and dev lock.
    this.abandonedReleases = new AbandonedReleaseFinisher(this, "AbandonedReleases", {
      projectRoot,
      config,
      stateMachine: machine,
      ledger: this.ledger,
      logRetention,
    });
    this.functions.finishAbandonedRelease = this.abandonedReleases.function;

    // ---------------------------------------------------------------- triggers
    const dlq = (name: string) =>
      new sqs.Queue(this, `${name}Dlq`, {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
    const tagRuleDlq = dlq("TagPushedRule");
    const ecrRuleDlq = dlq("EcrPushRule");
    for (const queue of [tagRuleDlq, ecrRuleDlq]) {
      Validations.of(queue).acknowledge({
        id: "AwsSolutions-SQS3",
        reason:
          "This queue is itself the dead-letter queue of an EventBridge rule target; failed release triggers land here for inspection and redrive.",
      });
    }
    const retry = { retryAttempts: 8, maxEventAge: Duration.hours(2) };
    // Both rules start releases through one small Lambda that names the execution
    // <app>-<tag>-<attempt>: EventBridge's Step Functions target cannot name executions.
    const starter = new ReleaseStarter(this, "ReleaseStarter", {
      projectRoot,
      config,
      stateMachine: machine,
      ledger: this.ledger,
      logRetention,
    });
    this.functions.startRelease = starter.function;

    const tagRule = new events.Rule(this, "TagPushedRule", {
      eventBus: this.bus,
      description: "A verified GitHub tag push starts a release",
      eventPattern: {
        source: [WEBHOOK_EVENT_SOURCE],
        detailType: [RELEASE_TAG_PUSHED],
        detail: { app: [config.app] },
      },
    });
    tagRule.addTarget(
      new targets.LambdaFunction(starter.function.function, {
        deadLetterQueue: tagRuleDlq,
        ...retry,
        event: events.RuleTargetInput.fromObject({
          app: events.EventField.fromPath("$.detail.app"),
          tag: events.EventField.fromPath("$.detail.tag"),
          trigger: {
            source: "github",
            repository: events.EventField.fromPath("$.detail.repository"),
            commit: events.EventField.fromPath("$.detail.commit"),
            pusher: events.EventField.fromPath("$.detail.pusher"),
            deliveryId: events.EventField.fromPath("$.detail.deliveryId"),
          },
          force: false,
        }),
      }),
    );

    const ecrRule = new events.Rule(this, "EcrPushRule", {
      description: "A v* image pushed to a watched ECR repository starts a release (scan by digest)",
      eventPattern: {
        source: ["aws.ecr"],
        detailType: ["ECR Image Action"],
        detail: {
          "action-type": ["PUSH"],
          result: ["SUCCESS"],
          "repository-name": config.services.map((s) => s.repository),
          "image-tag": [{ prefix: "v" }],
        },
      },
    });
    ecrRule.addTarget(
      new targets.LambdaFunction(starter.function.function, {
        deadLetterQueue: ecrRuleDlq,
        ...retry,
        event: events.RuleTargetInput.fromObject({
          app: config.app,
          tag: events.EventField.fromPath("$.detail.image-tag"),
          trigger: {
            source: "ecr",
            repository: events.EventField.fromPath("$.detail.repository-name"),
            digest: events.EventField.fromPath("$.detail.image-digest"),
          },
          force: false,
        }),
      }),
    );

    // ---------------------------------------------------------------- alarms and dashboard
    const observability = new PipelineObservability(this, "Observability", {
      appName: config.app,
      stateMachine: machine,
      webhookFunction: webhook.function,
      deadLetterQueues: {
        TagPushedRule: tagRuleDlq,
        EcrPushRule: ecrRuleDlq,
        AbandonedReleases: this.abandonedReleases.deadLetterQueue,
        StartRelease: starter.failures,
      },
      taskFunctions: {
        ClaimRelease: claimRelease.function,
        PlanRelease: planRelease.function,
        EvaluateScan: evaluateScan.function,
        GateOnScan: gateOnScan.function,
        UpdateManifests: updateManifests.function,
        VerifyDev: verifyDev.function,
        "NotifySuccess/Failure": sendNotification.function,
        RecordOutcome: recordOutcome.function,
      },
      buildProjects: { BuildScanPush: this.buildProject, ScanImage: this.scanProject },
      alarmEmail: props.alarmEmail,
      keyRemovalPolicy: dataRemoval,
    });
    new CfnOutput(this, "AlarmTopicArn", { value: observability.topic.topicArn });
    new CfnOutput(this, "DashboardName", { value: observability.dashboard.dashboardName });

    // ---------------------------------------------------------------- outputs
    new CfnOutput(this, "WebhookUrl", { value: webhookUrl.url, description: "GitHub webhook payload URL" });
    new CfnOutput(this, "StateMachineArn", { value: machine.stateMachineArn });
    new CfnOutput(this, "StateMachineConsoleUrl", {
      value: `https://${Aws.REGION}.console.aws.amazon.com/states/home?region=${Aws.REGION}#/statemachines/view/${machine.stateMachineArn}`,
    });
    new CfnOutput(this, "EventBusName", { value: this.bus.eventBusName });
    new CfnOutput(this, "WebhookSecretArn", { value: webhookSecret.secretArn });
    new CfnOutput(this, "GithubCredentialsSecretArn", {
      value: githubCredentials.secretArn,
      description: 'Fill with {"token":"..."} or {"appId","installationId","privateKey"}',
    });
    new CfnOutput(this, "ReportsBucketName", { value: this.bucket.bucketName });
    new CfnOutput(this, "TrivyDbRefreshProjectName", {
      value: trivyDbRefresh.projectName,
      description: "Start it once after the first deploy: releases scan against the Trivy DB it caches",
    });
    new CfnOutput(this, "DeployDocumentName", { value: this.deployDocument.ref });

    if (props.prodFeedback === true) {
      this.prodFeedback = new ProdFeedback(this, "ProdFeedback", {
        projectRoot,
        config,
        ledger: this.ledger,
        bus: this.bus,
        logRetention,
        secretRemovalPolicy: dataRemoval,
        // The release PR gets a short comment when Argo CD reports it in prod.
        githubCredentials,
        // One setting bounds both public Function URLs.
        ...(props.webhookReservedConcurrency === undefined
          ? {}
          : { reservedConcurrency: props.webhookReservedConcurrency }),
      });
    }
  }

  /** The final logical id of a resource (what cdk-nag prints in its finding ids). */
  private logicalIdOf(resource: CfnResource): string {
    return this.resolve(this.getLogicalId(resource)) as string;
  }
}

function pascalCase(kebab: string): string {
  return kebab
    .split("-")
    .map((w) => (w[0] ?? "").toUpperCase() + w.slice(1))
    .join("");
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
