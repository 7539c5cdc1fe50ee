import { Duration, Validations } from "aws-cdk-lib";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import type * as ecr from "aws-cdk-lib/aws-ecr";
import type * as events from "aws-cdk-lib/aws-events";
import type * as s3 from "aws-cdk-lib/aws-s3";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import { keepLogicalId, logicalIdOf } from "./logical-ids.js";
import {
  DEFAULT_LOG_RETENTION,
  PouroverFunction,
  type PouroverFunctionProps,
  type PouroverSiteProps,
} from "./pourover-function.js";
import { ARTIFACTS_PREFIX, scanReportsPrefix } from "./release-storage.js";
import {
  SES_IDENTITY_WILDCARD_FINDING,
  SES_IDENTITY_WILDCARD_REASON,
  sesSendStatement,
} from "./ses-send-permission.js";

/**
 * A PouroverFunction with the construct id `PascalCase(functionDir)`. Its log group keeps the logical
 * id it had when the pipeline stack created every function itself (keepLogicalId says why).
 */
export function pipelineFunction(scope: Construct, props: PouroverFunctionProps): PouroverFunction {
  const id = props.functionDir
    .split("-")
    .map((w) => (w[0] ?? "").toUpperCase() + w.slice(1))
    .join("");
  const fn = new PouroverFunction(scope, id, props);
  keepLogicalId(fn.logGroup, `${id}/LogGroup/Resource`);
  return fn;
}

export interface ReleaseFunctionsProps extends PouroverSiteProps {
  /** The release ledger: claims, rollback reads and outcomes. */
  readonly ledger: dynamodb.ITable;
  /** The reports/artifacts bucket: scan reports under `<app>/`, compose files under `releases/`. */
  readonly bucket: s3.IBucket;
  /** The service repositories whose images a plan waits for. */
  readonly repositories: readonly ecr.IRepository[];
  /** Read by update-manifests to commit and open the release PR. */
  readonly githubCredentials: secretsmanager.ISecret;
  /** Where record-outcome publishes Release Succeeded/Failed. */
  readonly bus: events.IEventBus;
}

/**
 * The release's own steps, each a Lambda with only the grants its handler needs: claim the tag, plan
 * the release, evaluate each scan report and gate on it, pin the images in the manifests repo, email
 * and record the outcome. (Build/scan and the dev deploy own their functions.)
 */
export class ReleaseFunctions extends Construct {
  readonly claimRelease: PouroverFunction;
  readonly planRelease: PouroverFunction;
  readonly evaluateScan: PouroverFunction;
  readonly gateOnScan: PouroverFunction;
  readonly updateManifests: PouroverFunction;
  readonly sendNotification: PouroverFunction;
  readonly recordOutcome: PouroverFunction;

  constructor(scope: Construct, id: string, props: ReleaseFunctionsProps) {
    super(scope, id);
    const { config, ledger } = props;
    this.claimRelease = this.fn(props, "claim-release", {
      description: "Claims app#tag in the release ledger (conditional write)",
      environment: { LEDGER_TABLE_NAME: ledger.tableName },
    });
    // Only the conditional PutItem (the claim): the handler never reads the ledger.
    this.claimRelease.allow(["dynamodb:PutItem"], [ledger.tableArn]);

    this.planRelease = this.fn(props, "plan-release", {
      description:
        "Resolves services, repositories and dev target; waits for all images of an ECR-triggered tag",
      environment: { LEDGER_TABLE_NAME: ledger.tableName },
    });
    // A rollback reads the ledger record of the release it goes back to (app#tag keys only).
    this.planRelease.allow(["dynamodb:GetItem"], [ledger.tableArn], {
      "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [`${config.app}#*`] },
    });
    this.planRelease.allow(
      ["ecr:DescribeImages"],
      props.repositories.map((r) => r.repositoryArn),
    );

    this.evaluateScan = this.newEvaluateScan(props);
    this.gateOnScan = this.fn(props, "gate-on-scan", {
      description: "Rejects the release when one image failed the policy",
    });
    this.updateManifests = this.newUpdateManifests(props);

    this.sendNotification = this.fn(props, "send-notification", {
      // The sender is read from the bundled app config (notify.from), not from the environment.
      description: "Emails the release outcome through SES",
    });
    this.sendNotification.role.addToPolicy(sesSendStatement(this, config.notify));
    Validations.of(this.sendNotification.role).acknowledge({
      id: SES_IDENTITY_WILDCARD_FINDING,
      reason: SES_IDENTITY_WILDCARD_REASON,
    });

    this.recordOutcome = this.fn(props, "record-outcome", {
      description: "Writes the outcome to the ledger and publishes Release Succeeded/Failed",
      environment: { LEDGER_TABLE_NAME: ledger.tableName, EVENT_BUS_NAME: props.bus.eventBusName },
    });
    // UpdateItem only (the outcome and the latest-release pointer): the handler never reads the ledger.
    this.recordOutcome.allow(["dynamodb:UpdateItem"], [ledger.tableArn]);
    this.recordOutcome.allow(["events:PutEvents"], [props.bus.eventBusArn]);
  }

  private fn(
    props: ReleaseFunctionsProps,
    functionDir: string,
    extra: Partial<PouroverFunctionProps>,
  ): PouroverFunction {
    const logRetention = props.logRetention ?? DEFAULT_LOG_RETENTION;
    const { projectRoot, config } = props;
    return pipelineFunction(this, { functionDir, projectRoot, config, logRetention, ...extra });
  }

  private newEvaluateScan(props: ReleaseFunctionsProps): PouroverFunction {
    const { bucket } = props;
    const evaluateScan = this.fn(props, "evaluate-scan", {
      description: "Parses a Trivy report and applies the scan policy",
      environment: { REPORTS_BUCKET_NAME: bucket.bucketName },
      memorySize: 512,
    });
    const reportsPrefix = scanReportsPrefix(props.config.app);
    const reportsArn = bucket.arnForObjects(`${reportsPrefix}*`);
    evaluateScan.allow(["s3:GetObject"], [reportsArn]);
    // Writes each service's full findings next to its report (<app>/<tag>/<service>/findings.json):
    // the execution state only carries a summary, as a state's input or output over 256 KiB fails it.
    evaluateScan.allow(["s3:PutObject"], [reportsArn]);
    acknowledgeBucketPrefix(
      evaluateScan,
      bucket,
      reportsPrefix,
      "Reports and findings are keyed by tag and service at run time, so the keys are unknown at deploy time; GetObject and PutObject are limited to the app's reports prefix.",
    );
    return evaluateScan;
  }

  private newUpdateManifests(props: ReleaseFunctionsProps): PouroverFunction {
    const { bucket, githubCredentials } = props;
    const updateManifests = this.fn(props, "update-manifests", {
      description: "One commit and one pull request pinning the release images",
      environment: {
        GITHUB_CREDENTIALS_SECRET_ARN: githubCredentials.secretArn,
        ARTIFACTS_BUCKET_NAME: bucket.bucketName,
      },
      memorySize: 512,
      timeout: Duration.seconds(120),
    });
    updateManifests.allow(["secretsmanager:GetSecretValue"], [githubCredentials.secretArn]);
    updateManifests.allow(["s3:PutObject"], [bucket.arnForObjects(`${ARTIFACTS_PREFIX}*`)]);
    acknowledgeBucketPrefix(
      updateManifests,
      bucket,
      ARTIFACTS_PREFIX,
      "Each release writes its compose file under a key named after the app and tag at run time; PutObject is limited to the releases prefix.",
    );
    return updateManifests;
  }
}

/** The IAM5 finding of a grant on every key under one prefix of the bucket, with why. */
function acknowledgeBucketPrefix(
  fn: PouroverFunction,
  bucket: s3.IBucket,
  prefix: string,
  reason: string,
): void {
  Validations.of(fn.role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(bucket)}.Arn>/${prefix}*]`,
    reason,
  });
}
