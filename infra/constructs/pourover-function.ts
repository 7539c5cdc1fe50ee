import { existsSync } from "node:fs";
import { join } from "node:path";
import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import { METRICS_NAMESPACE } from "../../shared/observability/metric-names.js";

/** The Lambda runtime of every Pourover function. Node 24 ships the AWS SDK v3 (`@aws-sdk/*`). */
export const POUROVER_RUNTIME = lambda.Runtime.NODEJS_24_X;

export interface PouroverFunctionProps {
  /** Folder under `functions/`, e.g. `claim-release`; the entry is `functions/<name>/handler.ts`. */
  readonly functionDir: string;
  /** Repository root: where `functions/` and `package-lock.json` live. */
  readonly projectRoot: string;
  /** The resolved app config, compiled into the bundle as `process.env.POUROVER_CONFIG`. */
  readonly config: AppConfig;
  /** Extra environment variables (resource names and ARNs). @default {} */
  readonly environment?: Readonly<Record<string, string>>;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default undefined (unreserved) */
  readonly reservedConcurrentExecutions?: number;
  /** @default RemovalPolicy.DESTROY for the log group */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** One line saying what the function does; becomes the Lambda description. @default none */
  readonly description?: string;
}

/**
 * The one way Pourover builds a Lambda: NodejsFunction bundled by the local esbuild (never Docker),
 * minified ESM with source maps, arm64, X-Ray active, its own log group with a retention, and its own
 * role that can write to that log group only (no AWS managed policy). Callers add the few grants the
 * handler needs, ARN-scoped.
 */
export class PouroverFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: PouroverFunctionProps) {
    super(scope, id);
    const entry = join(props.projectRoot, "functions", props.functionDir, "handler.ts");
    if (!existsSync(entry)) {
      throw new Error(`PouroverFunction ${id}: entry point not found: ${entry}`);
    }

    this.logGroup = new logs.LogGroup(this, "LogGroup", {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
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

    this.function = new NodejsFunction(this, "Function", {
      entry,
      handler: "handler",
      projectRoot: props.projectRoot,
      depsLockFilePath: join(props.projectRoot, "package-lock.json"),
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
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: "node24",
        mainFields: ["module", "main"],
        minify: true,
        sourceMap: true,
        // The Node 24 runtime ships the AWS SDK v3: keep it out of the bundle.
        externalModules: ["@aws-sdk/*"],
        // CommonJS dependencies bundled into an ESM file still call `require`.
        banner:
          "import { createRequire as __pouroverCreateRequire } from 'node:module';const require = __pouroverCreateRequire(import.meta.url);",
        // The resolved app config is compiled into the bundle at build time rather than passed as a
        // Lambda environment variable: all variables of a function share a 4 KB limit, which a
        // six-service config with allow-lists and recipients can exceed. The handler still reads
        // `process.env.POUROVER_CONFIG` (one config loader, locally the real env var); esbuild
        // replaces that expression with the JSON string literal. Changing the config changes the
        // bundle hash, so a deploy always ships the new config.
        define: {
          "process.env.POUROVER_CONFIG": JSON.stringify(JSON.stringify(props.config)),
        },
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
