/**
 * Config loader for the bundles with a tight size budget (the two Function URL endpoints): the
 * environment without zod. `lambda-env.ts` is the loader for every other Lambda.
 */

/**
 * True inside Lambda: the runtime sets `AWS_LAMBDA_FUNCTION_NAME` (a reserved variable, not settable
 * in the function's configuration; AWS Lambda developer guide, "Using Lambda environment variables").
 */
export function inLambda(): boolean {
  return process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined;
}

/**
 * A copy of the environment for a handler's loader to validate. POUROVER_CONFIG is written out
 * literally: esbuild's `define` inlines the bundled app config only where the exact expression
 * `process.env.POUROVER_CONFIG` appears (see PouroverFunction).
 */
export function lambdaEnvironment(): Record<string, string | undefined> {
  return { ...process.env, POUROVER_CONFIG: process.env.POUROVER_CONFIG };
}
