import { existsSync } from "node:fs";
import { join } from "node:path";
import { AssetHashType, DockerImage, Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import { METRICS_NAMESPACE } from "../../shared/observability/metric-names.js";
import { bundleLambda, LAMBDA_ENTRY_FILE } from "./lambda-bundling.js";

/**
 * The Lambda runtime of every Pourover function. It ships the AWS SDK v3 too, but the bundles carry
 * the few SDK commands they use (see lambda-bundling.ts for why and what it measured).
 */
export const POUROVER_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** How long Pourover's log groups keep their events unless the stack is told otherwise. */
export const DEFAULT_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS;

/** What every construct that creates Pourover functions is given. */
export interface PouroverSiteProps {
  /** Repository root: where `functions/`, `infra/` and `package-lock.json` live. */
  readonly projectRoot: string;
  /** The validated app config, compiled into each function's bundle as `process.env.POUROVER_CONFIG`. */
  readonly config: AppConfig;
  /** Retention of the log groups the construct creates. @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
}

export interface PouroverFunctionProps extends PouroverSiteProps {
  /** Folder under `functions/`, e.g. `claim-release`; the entry is `functions/<name>/handler.ts`. */
  readonly functionDir: string;
  /** Extra environment variables (resource names and ARNs). @default {} */
  readonly environment?: Readonly<Record<string, string>>;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  /** Reserved concurrency. @default none: the function draws on the account's unreserved pool */
  readonly reservedConcurrentExecutions?: number;
  /** @default RemovalPolicy.DESTROY for the log group */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** One line saying what the function does; becomes the Lambda description. @default none */
  readonly description?: string;
}

/**
 * The one way Pourover builds a Lambda: bundled by the local esbuild (never Docker) with the options
 * of lambda-bundling.ts (minified ESM split into chunks loaded on demand, source maps), arm64, X-Ray active, its own log group with a retention, and its own
 * role that can write to that log group only (no AWS managed policy). Callers add the few grants the
 * handler needs, ARN-scoped.
 */
export class PouroverFunction extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: PouroverFunctionProps) {
    super(scope, id);
    const entry = join(props.projectRoot, "functions", props.functionDir, "handler.ts");
    if (!existsSync(entry)) {
      throw new Error(`PouroverFunction ${id}: entry point not found: ${entry}`);
    }

    this.logGroup = new logs.LogGroup(this, "LogGroup", {
      retention: props.logRetention ?? DEFAULT_LOG_RETENTION,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });

    this.role = new iam.Role(this, "Role", {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: `Pourover ${props.functionDir}: its log group, X-Ray, and the grants its handler needs`,
    });
    // The log group's `Arn` attribute already ends in `:*`: this function's log streams, nothing else.
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    const bundle = {
      projectRoot: props.projectRoot,
      functionDir: props.functionDir,
      config: props.config,
    };
    const code = lambda.Code.fromAsset(join(props.projectRoot, "functions", props.functionDir), {
      // The bundle's own bytes (the compiled-in config included) decide when a deploy ships it.
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        // Never pulled: local bundling (esbuild, a dependency of the project) always succeeds.
        image: DockerImage.fromRegistry("public.ecr.aws/sam/build-nodejs24.x"),
        local: {
          tryBundle(outputDir: string): boolean {
            bundleLambda({ ...bundle, outdir: outputDir });
            return true;
          },
        },
      },
    });

    this.function = new lambda.Function(this, "Function", {
      code,
      handler: `${LAMBDA_ENTRY_FILE.replace(/\.mjs$/, "")}.handler`,
      runtime: POUROVER_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(30),
      tracing: lambda.Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      description: props.description,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      environment: {
        POWERTOOLS_SERVICE_NAME: `pourover-${props.functionDir}`,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        NODE_OPTIONS: "--enable-source-maps",
        ...props.environment,
      },
    });

    Validations.of(this.role).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason:
        "X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions, so active tracing requires the wildcard resource by API design.",
    });
  }

  /** Adds one ARN-scoped statement to the function's role. */
  allow(actions: string[], resources: string[], conditions?: Record<string, unknown>): void {
    this.role.addToPolicy(new iam.PolicyStatement({ actions, resources, conditions }));
  }
}
