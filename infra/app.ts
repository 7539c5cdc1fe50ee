/**
 * The CDK app: `npx cdk synth` (cdk.json runs this with tsx). Offline and env-agnostic: no account
 * lookups, no credentials, Lambdas bundled by the local esbuild.
 *
 * The app config comes from the context key `pourover:config` (a YAML file path, relative to the
 * working directory); a config that fails the schema fails synth with one line per bad field.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { loadConfigFile } from "../shared/config/load-config-file.js";
import type { AppConfig } from "../shared/contracts/app-config.js";
import { InvalidInputError } from "../shared/domain/errors.js";
import {
  DATADOG_RELEASE_EVENTS_CONTEXT_KEY,
  DatadogReleaseEvents,
  datadogReleaseEventsFromContext,
} from "./constructs/datadog-release-events.js";
import { PLATFORM_CONTEXT_KEY, platformConfigFromContext } from "./constructs/platform/platform-config.js";
import { DEV_HOST_CONTEXT_KEY, DevHostStack, devHostFromContext } from "./stacks/dev-host-stack.js";
import { PipelineStack, registryMismatch } from "./stacks/pipeline-stack.js";
import { PlatformStack } from "./stacks/platform-stack.js";

export const CONFIG_CONTEXT_KEY = "pourover:config";
/** Optional context value: the address subscribed to the alarm topic. */
export const ALARM_EMAIL_CONTEXT_KEY = "pourover:alarmEmail";
/** Optional context flag: the Argo CD notifications endpoint (`true`; `-c` passes the string "true"). */
export const PROD_FEEDBACK_CONTEXT_KEY = "pourover:prodFeedback";
/** Optional context value: reserved concurrency of the webhook function (a positive integer). */
export const WEBHOOK_RESERVED_CONCURRENCY_CONTEXT_KEY = "pourover:webhookReservedConcurrency";

export interface BuildAppOptions {
  /** @default the `pourover:config` context value */
  readonly configFile?: string;
  /** Extra context (tests). @default none */
  readonly context?: Record<string, unknown>;
  /** Register cdk-nag AwsSolutionsChecks. @default true */
  readonly nag?: boolean;
  /** Where the cloud assembly is written. @default the CLI's `cdk.out` under the CDK CLI, a temporary directory otherwise */
  readonly outdir?: string;
  /**
   * Where the CLI will deploy the (environment-agnostic) stacks: the CDK CLI passes the account and
   * region of the current credentials as CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION. Synth fails when
   * they are known and differ from `config.registry`.
   * @default those two environment variables
   */
  readonly deployTarget?: { account?: string; region?: string };
}

/** Builds the app; exported so tests synthesize exactly what `cdk synth` does. */
export function buildApp(options: BuildAppOptions = {}): {
  app: App;
  stack: PipelineStack;
  config: AppConfig;
  /** Only when the `pourover:platform` context is set (docs/prod-platform.md). */
  platform?: PlatformStack;
  /** Only when the `pourover:devHost` context is set (README, "Dev host"). */
  devHost?: DevHostStack;
} {
  const app = new App({ context: options.context, outdir: options.outdir });
  const configFile = options.configFile ?? app.node.tryGetContext(CONFIG_CONTEXT_KEY);
  if (typeof configFile !== "string" || configFile.length === 0) {
    throw new InvalidInputError(`context "${CONFIG_CONTEXT_KEY}" must name the app config file (YAML)`);
  }
  const config = loadConfigFile(resolve(configFile));
  const alarmEmail: unknown = app.node.tryGetContext(ALARM_EMAIL_CONTEXT_KEY);
  if (
    alarmEmail !== undefined &&
    (typeof alarmEmail !== "string" || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail))
  ) {
    throw new InvalidInputError(`context "${ALARM_EMAIL_CONTEXT_KEY}" must be an email address`);
  }
  const prodFeedback: unknown = app.node.tryGetContext(PROD_FEEDBACK_CONTEXT_KEY);
  if (prodFeedback !== undefined && ![true, false, "true", "false"].includes(prodFeedback as string)) {
    throw new InvalidInputError(`context "${PROD_FEEDBACK_CONTEXT_KEY}" must be true or false`);
  }
  const webhookReservedConcurrency = positiveIntegerContext(
    app.node.tryGetContext(WEBHOOK_RESERVED_CONCURRENCY_CONTEXT_KEY),
    WEBHOOK_RESERVED_CONCURRENCY_CONTEXT_KEY,
  );
  const target = options.deployTarget ?? {
    account: process.env.CDK_DEFAULT_ACCOUNT,
    region: process.env.CDK_DEFAULT_REGION,
  };
  const mismatch = registryMismatch(config, { ...target, source: "CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION" });
  if (mismatch) throw new InvalidInputError(mismatch);
  const stack = new PipelineStack(app, `Pourover-${config.app}`, {
    config,
    alarmEmail: typeof alarmEmail === "string" ? alarmEmail : undefined,
    prodFeedback: prodFeedback === true || prodFeedback === "true",
    webhookReservedConcurrency,
    description: `Pourover release pipeline for ${config.app}`,
  });
  // Optional (docs/prod-platform.md, "Datadog"): release outcomes to Datadog DORA deployments.
  const ddEvents = datadogReleaseEventsFromContext(
    app.node.tryGetContext(DATADOG_RELEASE_EVENTS_CONTEXT_KEY),
  );
  if (ddEvents)
    new DatadogReleaseEvents(stack, "DatadogReleaseEvents", { bus: stack.bus, app: config.app, ...ddEvents });
  const platformConfig = platformConfigFromContext(app.node.tryGetContext(PLATFORM_CONTEXT_KEY));
  const platform = platformConfig
    ? new PlatformStack(app, `Pourover-${platformConfig.app}-platform`, {
        config: platformConfig,
        description: `Pourover prod platform for ${platformConfig.app}: EKS, Argo CD, Traefik, RDS`,
      })
    : undefined;
  const devHostContext: unknown = app.node.tryGetContext(DEV_HOST_CONTEXT_KEY);
  const devHost = devHostContext
    ? new DevHostStack(app, `Pourover-${config.app}-dev-host`, {
        config,
        ...devHostFromContext(devHostContext),
        artifactsBucket: stack.bucket,
        description: `Pourover dev host for ${config.app}: SSM only, no SSH`,
      })
    : undefined;
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, config, platform, devHost };
}

/** A context value that must be a positive integer when set (`-c key=10` passes the string "10"). */
function positiveIntegerContext(raw: unknown, key: string): number | undefined {
  if (raw === undefined) return undefined;
  const value = typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new InvalidInputError(`context "${key}" must be a positive integer`);
  }
  return value;
}

function main(): void {
  try {
    buildApp().app.synth();
  } catch (error) {
    if (error instanceof InvalidInputError) {
      process.stderr.write(`pourover: invalid config\n${error.problems.join("\n")}\n`);
      process.exit(2);
    }
    throw error;
  }
}

// Run only as the CDK app entry point (not when a test imports buildApp).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
