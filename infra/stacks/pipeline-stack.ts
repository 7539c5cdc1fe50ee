import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Aws, CfnOutput, RemovalPolicy, Stack, type StackProps, Token } from "aws-cdk-lib";
import type * as codebuild from "aws-cdk-lib/aws-codebuild";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import type * as ecr from "aws-cdk-lib/aws-ecr";
import type * as events from "aws-cdk-lib/aws-events";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type * as logs from "aws-cdk-lib/aws-logs";
import type * as s3 from "aws-cdk-lib/aws-s3";
import type * as scheduler from "aws-cdk-lib/aws-scheduler";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import type * as ssm from "aws-cdk-lib/aws-ssm";
import type { Construct } from "constructs";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import { InvalidInputError } from "../../shared/domain/errors.js";
import { AbandonedReleaseFinisher } from "../constructs/abandoned-release-finisher.js";
import { BuildAndScan } from "../constructs/build-and-scan.js";
import { DevDeploy } from "../constructs/dev-deploy.js";
import { PipelineObservability } from "../constructs/pipeline-observability.js";
import { PipelineSecrets } from "../constructs/pipeline-secrets.js";
import {
  DEFAULT_LOG_RETENTION,
  type PouroverFunction,
  type PouroverSiteProps,
} from "../constructs/pourover-function.js";
import { ProdFeedback } from "../constructs/prod-feedback.js";
import { ReleaseFunctions } from "../constructs/release-functions.js";
import { ReleaseReconciler } from "../constructs/release-reconciler.js";
import { ReleaseStateMachine, type ReleaseStateMachineProps } from "../constructs/release-state-machine.js";
import { ReleaseStorage } from "../constructs/release-storage.js";
import { ReleaseTriggers } from "../constructs/release-triggers.js";

// Moved with the resources they describe; re-exported for the callers of this module.
export {
  DEPLOY_PARAMETER_PATTERNS,
  deployDocumentContent,
  ENV_FILE_NAME,
  ENV_SECRET_NAME,
} from "../constructs/dev-deploy.js";
export { ARTIFACTS_PREFIX } from "../constructs/release-storage.js";
export { RELEASE_TAG_PUSHED, WEBHOOK_EVENT_SOURCE } from "../constructs/release-triggers.js";

/** Repository root (infra/stacks/ -> ../..). */
export const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));

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

/**
 * Pourover in one stack: triggers (webhook Function URL + ECR push rule) -> release state machine ->
 * Lambdas, CodeBuild build/scan, SSM dev deploy; the ledger, the reports/artifacts bucket, the ECR
 * repositories and the secrets the user fills. Each part is a construct under infra/constructs/
 * (storage, secrets, release functions, build and scan, dev deploy, state machine, triggers,
 * observability); the stack wires them together and declares the outputs.
 */
export class PipelineStack extends Stack {
  readonly bus: events.EventBus;
  readonly stateMachine: ReleaseStateMachine;
  readonly ledger: dynamodb.Table;
  readonly bucket: s3.Bucket;
  readonly buildProject: codebuild.Project;
  readonly scanProject: codebuild.Project;
  /** Downloads the Trivy DB the release scans read offline; start it once after the first deploy. */
  readonly trivyDbRefreshProject: codebuild.Project;
  /** The CodeBuild S3 cache of the Trivy projects. */
  readonly trivyCacheBucket: s3.Bucket;
  readonly deployDocument: ssm.CfnDocument;
  readonly repositories: ecr.Repository[];
  /** The GitHub credentials the user fills after deploy. */
  readonly githubCredentials: secretsmanager.Secret;
  readonly functions: Record<string, PouroverFunction>;
  /** Closes executions that were aborted, timed out or failed outside their Catch. */
  readonly abandonedReleases: AbandonedReleaseFinisher;
  /** Only when `prodFeedback` is set. */
  readonly prodFeedback?: ProdFeedback;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const { config } = props;
    const projectRoot = props.projectRoot ?? PROJECT_ROOT;
    const logRetention = props.logRetention ?? DEFAULT_LOG_RETENTION;
    const dataRemoval = props.dataRemovalPolicy ?? RemovalPolicy.RETAIN;
    this.validate(props);

    const storage = new ReleaseStorage(this, "Storage", {
      app: config.app,
      services: config.services,
      reportRetentionDays: props.reportRetentionDays,
      artifactRetentionDays: props.artifactRetentionDays,
      ecrUntaggedMaxAgeDays: props.ecrUntaggedMaxAgeDays,
      removalPolicy: dataRemoval,
    });
    ({ bucket: this.bucket, ledger: this.ledger, repositories: this.repositories, bus: this.bus } = storage);
    const secrets = new PipelineSecrets(this, "Secrets", { removalPolicy: dataRemoval });
    this.githubCredentials = secrets.githubCredentials;
    const shared = { projectRoot, config, logRetention };

    const steps = new ReleaseFunctions(this, "ReleaseFunctions", {
      ...shared,
      ledger: this.ledger,
      bucket: this.bucket,
      repositories: this.repositories,
      githubCredentials: secrets.githubCredentials,
      bus: this.bus,
    });
    const build = this.newBuildAndScan(props, shared, storage, secrets);
    this.buildProject = build.buildProject;
    this.scanProject = build.scanProject;
    this.trivyDbRefreshProject = build.trivyDbRefreshProject;
    this.trivyCacheBucket = build.trivyCacheBucket;
    const dev = new DevDeploy(this, "DevDeploy", {
      ...shared,
      ledger: this.ledger,
      artifactsBucket: this.bucket,
      githubCredentials: secrets.githubCredentials,
    });
    this.deployDocument = dev.document;

    const tasks = releaseTasks(steps, build, dev);
    this.stateMachine = this.newReleaseStateMachine(props, tasks, dev.logGroup, logRetention);
    const machine = this.stateMachine.stateMachine;
    // Safety net for lost trigger events: a schedule starts releases for unclaimed recent v* images.
    const reconciler = new ReleaseReconciler(this, "ReleaseReconciler", {
      ...shared,
      stateMachine: machine,
      ledger: this.ledger,
      repositories: this.repositories,
    });
    // Executions that end without reaching RecordOutcome give back their claim and dev lock.
    this.abandonedReleases = new AbandonedReleaseFinisher(this, "AbandonedReleases", {
      ...shared,
      stateMachine: machine,
      ledger: this.ledger,
    });
    const triggers = new ReleaseTriggers(this, "Triggers", {
      ...shared,
      bus: this.bus,
      ledger: this.ledger,
      webhookSecret: secrets.webhookSecret,
      stateMachine: machine,
      webhookReservedConcurrency: props.webhookReservedConcurrency,
    });
    this.functions = {
      ...tasks,
      webhook: triggers.webhook,
      reconcileReleases: reconciler.function,
      finishAbandonedRelease: this.abandonedReleases.function,
      startRelease: triggers.starter.function,
    };
    const observability = this.newObservability(props, triggers, tasks);
    this.addOutputs(observability, triggers.webhookUrl, secrets);
    if (props.prodFeedback === true) this.prodFeedback = this.newProdFeedback(props, shared, secrets);
  }

  private newBuildAndScan(
    props: PipelineStackProps,
    shared: PouroverSiteProps,
    storage: ReleaseStorage,
    secrets: PipelineSecrets,
  ): BuildAndScan {
    return new BuildAndScan(this, "BuildAndScan", {
      ...shared,
      reportsBucket: this.bucket,
      accessLogsBucket: storage.accessLogsBucket,
      repositories: this.repositories,
      githubCredentials: secrets.githubCredentials,
      trivyVersion: props.trivyVersion,
      trivySha256: props.trivySha256,
      trivyDbRefreshSchedule: props.trivyDbRefreshSchedule,
      removalPolicy: props.dataRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
  }

  private newReleaseStateMachine(
    props: PipelineStackProps,
    tasks: ReleaseTasks,
    deployLogGroup: logs.ILogGroup,
    logRetention: logs.RetentionDays,
  ): ReleaseStateMachine {
    const projectRoot = props.projectRoot ?? PROJECT_ROOT;
    return new ReleaseStateMachine(this, "Release", {
      definitionFile: props.definitionFile ?? join(projectRoot, "state-machines", "release.asl.json"),
      functions: lambdasOf(tasks),
      ledger: this.ledger,
      app: props.config.app,
      buildProject: this.buildProject,
      scanProject: this.scanProject,
      deployDocument: this.deployDocument,
      deployLogGroup,
      devInstanceTags: props.config.dev.instanceTags,
      logRetention,
    });
  }

  private newObservability(
    props: PipelineStackProps,
    triggers: ReleaseTriggers,
    tasks: ReleaseTasks,
  ): PipelineObservability {
    return new PipelineObservability(this, "Observability", {
      appName: props.config.app,
      stateMachine: this.stateMachine.stateMachine,
      webhookFunction: triggers.webhook.function,
      deadLetterQueues: {
        TagPushedRule: triggers.tagRuleDeadLetterQueue,
        EcrPushRule: triggers.ecrRuleDeadLetterQueue,
        AbandonedReleases: this.abandonedReleases.deadLetterQueue,
        StartRelease: triggers.starter.failures,
      },
      taskFunctions: lambdasOf(observedTaskStates(tasks)),
      buildProjects: { BuildScanPush: this.buildProject, ScanImage: this.scanProject },
      alarmEmail: props.alarmEmail,
      keyRemovalPolicy: props.dataRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
  }

  private newProdFeedback(
    props: PipelineStackProps,
    shared: PouroverSiteProps,
    secrets: PipelineSecrets,
  ): ProdFeedback {
    return new ProdFeedback(this, "ProdFeedback", {
      ...shared,
      ledger: this.ledger,
      bus: this.bus,
      secretRemovalPolicy: props.dataRemovalPolicy ?? RemovalPolicy.RETAIN,
      // The release PR gets a short comment when Argo CD reports it in prod.
      githubCredentials: secrets.githubCredentials,
      // One setting bounds both public Function URLs.
      reservedConcurrency: props.webhookReservedConcurrency,
    });
  }

  /** The stack outputs: their names are what the docs and scripts read, so they stay on the stack. */
  private addOutputs(
    observability: PipelineObservability,
    webhookUrl: lambda.FunctionUrl,
    secrets: PipelineSecrets,
  ): void {
    const machineArn = this.stateMachine.stateMachine.stateMachineArn;
    new CfnOutput(this, "AlarmTopicArn", { value: observability.topic.topicArn });
    new CfnOutput(this, "DashboardName", { value: observability.dashboard.dashboardName });
    new CfnOutput(this, "WebhookUrl", {
      value: webhookUrl.url,
      description: "GitHub webhook payload URL",
    });
    new CfnOutput(this, "StateMachineArn", { value: machineArn });
    new CfnOutput(this, "StateMachineConsoleUrl", {
      value: `https://${Aws.REGION}.console.aws.amazon.com/states/home?region=${Aws.REGION}#/statemachines/view/${machineArn}`,
    });
    new CfnOutput(this, "EventBusName", { value: this.bus.eventBusName });
    new CfnOutput(this, "WebhookSecretArn", { value: secrets.webhookSecret.secretArn });
    new CfnOutput(this, "GithubCredentialsSecretArn", {
      value: secrets.githubCredentials.secretArn,
      description: 'Fill with {"token":"..."} or {"appId","installationId","privateKey"}',
    });
    new CfnOutput(this, "ReportsBucketName", { value: this.bucket.bucketName });
    new CfnOutput(this, "TrivyDbRefreshProjectName", {
      value: this.trivyDbRefreshProject.projectName,
      description: "Start it once after the first deploy: releases scan against the Trivy DB it caches",
    });
    new CfnOutput(this, "DeployDocumentName", { value: this.deployDocument.ref });
  }

  /** Rejects props the deploy would turn into a broken pipeline. */
  private validate(props: PipelineStackProps): void {
    // Pins name config.registry while the builds push to this stack's account and region.
    const mismatch = registryMismatch(props.config, {
      account: Token.isUnresolved(this.account) ? undefined : this.account,
      region: Token.isUnresolved(this.region) ? undefined : this.region,
      source: "the stack's env",
    });
    if (mismatch) throw new InvalidInputError(mismatch);
    const reserved = props.webhookReservedConcurrency;
    if (reserved !== undefined && (!Number.isInteger(reserved) || reserved < 1)) {
      throw new InvalidInputError(
        `webhookReservedConcurrency must be a positive integer, got ${String(reserved)}`,
      );
    }
  }
}

/** The task functions of the release workflow, under the names its definition substitutes. */
type ReleaseTasks = Record<keyof ReleaseStateMachineProps["functions"], PouroverFunction>;

/** The workflow's task functions, gathered from the constructs that own them. */
function releaseTasks(steps: ReleaseFunctions, build: BuildAndScan, dev: DevDeploy): ReleaseTasks {
  return {
    claimRelease: steps.claimRelease,
    planRelease: steps.planRelease,
    evaluateScan: steps.evaluateScan,
    gateOnScan: steps.gateOnScan,
    describeBuildFailure: build.describeBuildFailure,
    updateManifests: steps.updateManifests,
    verifyDev: dev.verifyDev,
    acquireDevLock: dev.acquireDevLock,
    sendNotification: steps.sendNotification,
    recordOutcome: steps.recordOutcome,
    reportDevResult: dev.reportDevResult,
  };
}

/** The Lambda functions of PouroverFunctions, under the same names. */
function lambdasOf<K extends string>(functions: Record<K, PouroverFunction>): Record<K, lambda.IFunction> {
  const entries = Object.entries<PouroverFunction>(functions).map(([name, fn]) => [name, fn.function]);
  return Object.fromEntries(entries) as Record<K, lambda.IFunction>;
}

/** The task states the dashboard and alarms watch, by state name (see PipelineObservability). */
function observedTaskStates(tasks: ReleaseTasks): Record<string, PouroverFunction> {
  return {
    ClaimRelease: tasks.claimRelease,
    PlanRelease: tasks.planRelease,
    EvaluateScan: tasks.evaluateScan,
    GateOnScan: tasks.gateOnScan,
    UpdateManifests: tasks.updateManifests,
    VerifyDev: tasks.verifyDev,
    "NotifySuccess/Failure": tasks.sendNotification,
    RecordOutcome: tasks.recordOutcome,
  };
}
