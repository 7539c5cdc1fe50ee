/**
 * Config loader of the local side (the `pourover` CLI, `pourover serve`, the local adapters): the one
 * place they read `process.env`. The Lambdas' loaders are lambda-env.ts and runtime-env.ts.
 */

/** The settings the CLI reads from the environment. Unset and empty read as absent. */
export interface LocalSettings {
  /** `POUROVER_WEBHOOK_SECRET`: the HMAC secret `pourover serve` checks deliveries with. */
  webhookSecret?: string;
  /** `USER`: who started a local release or rollback. */
  user?: string;
  /** `POUROVER_DEBUG`: print the stack of an unexpected error. */
  debug: boolean;
  /** `POUROVER_NO_NODE_NOTICE`: no one-line notice about running on Node < 22. */
  noNodeNotice: boolean;
  /**
   * `POUROVER_DRY_RUN_DEPLOY`: the local dev deploy is a dry run even where docker compose works
   * (the test suite sets it, so that `npm test` never deploys on a developer's machine).
   */
  dryRunDeploy: boolean;
}

const nonEmpty = (value: string | undefined): string | undefined =>
  value === undefined || value === "" ? undefined : value;

export function localSettings(): LocalSettings {
  const webhookSecret = nonEmpty(process.env.POUROVER_WEBHOOK_SECRET);
  const user = nonEmpty(process.env.USER);
  return {
    ...(webhookSecret !== undefined ? { webhookSecret } : {}),
    ...(user !== undefined ? { user } : {}),
    debug: nonEmpty(process.env.POUROVER_DEBUG) !== undefined,
    noNodeNotice: nonEmpty(process.env.POUROVER_NO_NODE_NOTICE) !== undefined,
    dryRunDeploy: nonEmpty(process.env.POUROVER_DRY_RUN_DEPLOY) !== undefined,
  };
}

/**
 * A copy of this process's environment: the base a child process (git, docker, trivy) starts from,
 * and what commands that take an `env` for tests read by default.
 */
export function inheritedEnv(): NodeJS.ProcessEnv {
  return { ...process.env };
}

/**
 * Silences the AWS SDK's own multi-line Node-version warning for this process (the CLI prints one
 * line instead); a value already set by the user wins.
 */
export function quietSdkNodeVersionWarning(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
}
