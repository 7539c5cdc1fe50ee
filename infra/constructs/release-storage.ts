import { Aws, Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as ecr from "aws-cdk-lib/aws-ecr";
import * as events from "aws-cdk-lib/aws-events";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import { keepLogicalId } from "./logical-ids.js";

/** Key prefix of the release artifacts (compose files) the dev hosts fetch. */
export const ARTIFACTS_PREFIX = "releases/";

/** Scan reports live under `<app>/<tag>/<service>/` (the buildspecs' upload path). */
export function scanReportsPrefix(app: string): string {
  return `${app}/`;
}

/** The deploying account's ECR registry: where the builds push (config.registry must name it). */
export const ACCOUNT_REGISTRY = `${Aws.ACCOUNT_ID}.dkr.ecr.${Aws.REGION}.${Aws.URL_SUFFIX}`;

export interface ReleaseStorageProps {
  /** config.app: names the event bus (`pourover-<app>`) and the scan reports prefix (`<app>/`). */
  readonly app: string;
  /** config.services: one ECR repository per service, named after its `repository`. */
  readonly services: AppConfig["services"];
  /** Days before scan reports (JSON, SBOM) expire. @default 180 */
  readonly reportRetentionDays?: number;
  /** Days before release artifacts (compose files) expire. @default 365 */
  readonly artifactRetentionDays?: number;
  /** Days an untagged image stays in a repository before the ECR lifecycle expires it. @default 14 */
  readonly ecrUntaggedMaxAgeDays?: number;
  /**
   * Removal policy of the buckets, the ledger and the repositories; anything but RETAIN also lifts
   * the ledger's deletion protection and empties the repositories on delete.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * What a release leaves behind: the ledger (claims, outcomes, the dev lock, webhook dedupe), the
 * reports/artifacts bucket (scan reports under `<app>/`, compose files under `releases/`) with its
 * access logs bucket, the ECR repositories and the event bus the webhook and outcomes publish to.
 */
export class ReleaseStorage extends Construct {
  /** Destination of the server access logs of the pipeline's buckets. */
  readonly accessLogsBucket: s3.Bucket;
  /** Scan reports (`<app>/`) and release artifacts (`releases/`). */
  readonly bucket: s3.Bucket;
  readonly ledger: dynamodb.Table;
  /** In `services` order. */
  readonly repositories: ecr.Repository[];
  readonly bus: events.EventBus;
  /** `<app>/`: the scan reports prefix. */
  readonly reportsPrefix: string;

  constructor(scope: Construct, id: string, props: ReleaseStorageProps) {
    super(scope, id);
    if (scanReportsPrefix(props.app) === ARTIFACTS_PREFIX) {
      throw new Error(`app name "${props.app}" collides with the artifacts prefix ${ARTIFACTS_PREFIX}`);
    }
    this.reportsPrefix = scanReportsPrefix(props.app);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    // Data: each resource keeps the logical id it had in the stack, or a deploy would replace it.

    this.accessLogsBucket = this.newAccessLogsBucket(removalPolicy);
    this.bucket = this.newReportsBucket(props, removalPolicy);
    this.ledger = new dynamodb.Table(this, "ReleaseLedger", {
      partitionKey: { name: "pk", type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: "expiresAt",
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy,
    });
    keepLogicalId(this.ledger, "ReleaseLedger/Resource");
    this.repositories = props.services.map((service) => this.newRepository(props, service, removalPolicy));
    this.bus = new events.EventBus(this, "Bus", { eventBusName: `pourover-${props.app}` });
    keepLogicalId(this.bus, "Bus/Resource");
  }

  private newAccessLogsBucket(removalPolicy: RemovalPolicy): s3.Bucket {
    const bucket = privateBucket(this, "AccessLogsBucket", {
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      versioned: false,
      lifecycleRules: [{ id: "expire-access-logs", expiration: Duration.days(365) }],
      removalPolicy,
    });
    Validations.of(bucket).acknowledge({
      id: "AwsSolutions-S1",
      reason:
        "This bucket is the destination of the server access logs of the reports bucket; logging it into itself would loop, and a third bucket adds nothing.",
    });
    return bucket;
  }

  private newReportsBucket(props: ReleaseStorageProps, removalPolicy: RemovalPolicy): s3.Bucket {
    return privateBucket(this, "ReportsBucket", {
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: "reports-bucket/",
      lifecycleRules: [
        {
          id: "expire-scan-reports",
          prefix: scanReportsPrefix(props.app),
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
      removalPolicy,
    });
  }

  private newRepository(
    props: ReleaseStorageProps,
    service: ReleaseStorageProps["services"][number],
    removalPolicy: RemovalPolicy,
  ): ecr.Repository {
    const repository = new ecr.Repository(this, `Repository-${service.name}`, {
      repositoryName: service.repository,
      // Release tags (v*) can never be overwritten; other tags (e.g. latest, cache) stay mutable.
      imageTagMutability: ecr.TagMutability.MUTABLE_WITH_EXCLUSION,
      imageTagMutabilityExclusionFilters: [ecr.ImageTagMutabilityExclusionFilter.wildcard("v*")],
      imageScanOnPush: true,
      encryption: ecr.RepositoryEncryption.AES_256,
      removalPolicy,
      emptyOnDelete: removalPolicy !== RemovalPolicy.RETAIN,
      // Untagged images only: release images (v*) and the build cache tag are never expired.
      // ECR's lifecycle has no "exclude" filter, and an image carrying a matching tag is expired
      // with all its other tags (ECR user guide, lifecycle policy examples), so any tagged or
      // `any` rule could delete a v* image a prod pin or a rollback needs. `untagged` selects only
      // images with no tag at all (superseded cache manifests, interrupted pushes).
      lifecycleRules: [
        {
          description: "expire untagged images (never a tagged one: v* releases and the build cache stay)",
          tagStatus: ecr.TagStatus.UNTAGGED,
          maxImageAge: Duration.days(props.ecrUntaggedMaxAgeDays ?? 14),
        },
      ],
    });
    keepLogicalId(repository, `Repository-${service.name}/Resource`);
    return repository;
  }
}

/**
 * A bucket of the pipeline's own data: S3-managed encryption, TLS only, no public access, and the
 * logical id it had when it sat directly in the stack (keepLogicalId says why).
 */
export function privateBucket(scope: Construct, id: string, props: s3.BucketProps): s3.Bucket {
  const bucket = new s3.Bucket(scope, id, {
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    ...props,
  });
  keepLogicalId(bucket, `${id}/Resource`);
  return bucket;
}
