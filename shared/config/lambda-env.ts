import { type AppConfig, parseAppConfig } from "../contracts/app-config.js";

/**
 * The one place Lambdas read `process.env`, once at cold start. A missing variable fails the cold
 * start with its name, rather than a confusing error deep in a request.
 */
export function requireEnv<const K extends string>(...names: K[]): Record<K, string> {
  const values = {} as Record<K, string>;
  const missing: string[] = [];
  for (const name of names) {
    const value = process.env[name];
    if (value === undefined || value === "") missing.push(name);
    else values[name] = value;
  }
  if (missing.length > 0) throw new Error(`missing environment variables: ${missing.join(", ")}`);
  return values;
}

/** An optional variable: undefined when unset or empty. */
export function optionalEnv(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === "" ? undefined : value;
}

/**
 * The app config. In Lambda it is inlined at bundle time (esbuild `define`), so it is not subject to
 * the 4 KB environment limit; locally and in tests the same variable may be set at run time.
 *
 * A bundle's config is the output of `parseAppConfig` at synth (infra/constructs/lambda-bundling.ts
 * parses it before compiling it in, and defines `POUROVER_CONFIG_PARSED` as `"synth"` alongside):
 * parsing it again would give the same value and cost the cold start about 10 ms of zod on Node 24,
 * so the bundle only reads the JSON. Anything else (a variable set at run time) is validated here.
 */
export function bundledAppConfig(): AppConfig {
  const raw = process.env.POUROVER_CONFIG;
  if (!raw) throw new Error("POUROVER_CONFIG is not set: the app config must be bundled into the function");
  if (process.env.POUROVER_CONFIG_PARSED === "synth") return JSON.parse(raw) as AppConfig;
  return parseAppConfig(JSON.parse(raw), "bundled config");
}
