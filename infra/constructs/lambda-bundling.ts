import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { type BuildOptions, buildSync } from "esbuild";
import { type AppConfig, parseAppConfig } from "../../shared/contracts/app-config.js";

/**
 * The one esbuild configuration of every Pourover Lambda: PouroverFunction bundles with it at synth
 * time and `npm run bench` measures exactly what it produces.
 *
 * Why each choice (measured by `npm run bench` on Node 24, the Lambda runtime):
 * - The AWS SDK is bundled, not loaded from the runtime. The runtime's copy is CommonJS, one file
 *   per package that defines every command of the client and its whole dependency graph, so
 *   `new DynamoDBClient()` costs the same as importing all of DynamoDB. Bundled from the ES module
 *   build (`mainFields: module, main`), esbuild keeps only the commands the handler imports.
 * - `splitting`: what the SDK loads only on some paths through `import()` (the credential providers
 *   other than the environment one, the SSO/STS/login clients, the IMDS fetcher...) and what a
 *   handler loads only on one branch become separate chunk files that Node reads when, if ever,
 *   that branch runs. Without splitting esbuild inlines them into the one file, and Node parses
 *   them at every cold start.
 * - Minified ESM; the `createRequire` banner because bundled CommonJS dependencies still call
 *   `require` for Node built-ins.
 * - Node built-ins are loaded with `require`, never with an ES `import`: an ES import of a built-in
 *   builds the module's ESM facade, which reads every export; on Node 24 `http`'s exports include
 *   lazy getters that load the whole bundled undici (measured: `import "node:http"` about 40 ms of
 *   CPU, `require("node:http")` about 4 ms; `crypto` 7 ms against under 1). esbuild's `alias`
 *   sends each import of such a built-in to a one-line CommonJS file that loads it; bundled
 *   CommonJS is reached through esbuild's lazy interop, so no export is read before it is used.
 * - No `keepNames`: every named error sets `name` to a string literal (the ASL's `ErrorEquals`
 *   matches on it), which minification leaves alone; keepNames would add a call per function and
 *   class at load for nothing.
 */
export const LAMBDA_TARGET = "node24";

export const REQUIRE_BANNER =
  "import { createRequire as __pouroverCreateRequire } from 'node:module';const require = __pouroverCreateRequire(import.meta.url);";

/** The file the Lambda runtime loads; the handler setting is `index.handler`. */
export const LAMBDA_ENTRY_FILE = "index.mjs";

export interface LambdaBundleInput {
  /** Repository root: where `functions/` and `node_modules/` live. */
  readonly projectRoot: string;
  /** Folder under `functions/`; the entry is `functions/<name>/handler.ts`. */
  readonly functionDir: string;
  /** The resolved app config, compiled into the bundle as `process.env.POUROVER_CONFIG`. */
  readonly config: AppConfig;
  /** Where `index.mjs`, its chunks and their source maps are written. */
  readonly outdir: string;
}

/**
 * Every Node built-in module name (`fs`, `fs/promises`, ...) the alias covers. An alias also
 * rewrites subpaths (`fs` would turn `fs/promises` into `<shim>/promises`), so each subpath module
 * gets its own exact alias, which esbuild prefers.
 */
export function requiredBuiltins(): string[] {
  return builtinModules.filter((m) => !m.startsWith("_") && !m.startsWith("node:")).sort();
}

/**
 * Writes `<name>.cjs` = `module.exports = process.getBuiltinModule("node:<name>")` per aliased
 * built-in (not `require`, which the alias would send back to the shim itself). Node documents
 * `process.getBuiltinModule` from v22.3.0 and v20.16.0 as loading a built-in the way `require` does.
 */
function builtinShims(projectRoot: string): Record<string, string> {
  const dir = join(projectRoot, "node_modules", ".cache", "pourover-lambda-builtins");
  mkdirSync(dir, { recursive: true });
  const alias: Record<string, string> = {};
  for (const name of requiredBuiltins()) {
    const file = join(dir, `${name.replace(/\//g, "__")}.cjs`);
    const text = `module.exports = process.getBuiltinModule("node:${name}");\n`;
    if (!existsSync(file) || readFileSync(file, "utf8") !== text) writeFileSync(file, text);
    alias[name] = file;
    alias[`node:${name}`] = file;
  }
  return alias;
}

/**
 * Packages the Lambda bundles replace with a small module of infra/lambda-shims (each says why):
 * the SDK's credential chain by its first link (Lambda's environment variables), the browser's
 * user-agent parser by nothing, and `semver`, which only the X-Ray SDK's AWS SDK v2 patcher uses.
 */
export function lambdaShims(projectRoot: string): Record<string, string> {
  const dir = join(projectRoot, "infra", "lambda-shims");
  return {
    "@aws-sdk/credential-provider-node": join(dir, "credentials-from-env.ts"),
    bowser: join(dir, "bowser-absent.ts"),
    semver: join(dir, "semver-unused.ts"),
  };
}

export function lambdaEsbuildOptions(input: LambdaBundleInput): BuildOptions {
  return {
    alias: { ...builtinShims(input.projectRoot), ...lambdaShims(input.projectRoot) },
    absWorkingDir: input.projectRoot,
    entryPoints: { index: join(input.projectRoot, "functions", input.functionDir, "handler.ts") },
    outdir: input.outdir,
    outExtension: { ".js": ".mjs" },
    chunkNames: "chunk-[hash]",
    bundle: true,
    splitting: true,
    platform: "node",
    target: LAMBDA_TARGET,
    format: "esm",
    mainFields: ["module", "main"],
    minify: true,
    sourcemap: true,
    keepNames: false,
    external: [],
    banner: { js: REQUIRE_BANNER },
    // The resolved app config is compiled into the bundle at build time rather than passed as a
    // Lambda environment variable: all variables of a function share a 4 KB limit, which a
    // six-service config with allow-lists and recipients can exceed. The handler still reads
    // `process.env.POUROVER_CONFIG` (one config loader, locally the real env var); esbuild replaces
    // that expression with the JSON string literal. Changing the config changes the bundle, so a
    // deploy always ships the new config.
    // The config is parsed here (again: parsing a parsed config is the identity), so that what the
    // bundle carries is certainly the parser's output; bundledAppConfig then skips the runtime parse.
    define: {
      "process.env.POUROVER_CONFIG": JSON.stringify(
        JSON.stringify(parseAppConfig(input.config, "app config")),
      ),
      "process.env.POUROVER_CONFIG_PARSED": JSON.stringify("synth"),
    },
    logLevel: "warning",
  };
}

/** Bundles one function into `input.outdir` (synchronously: CDK's local bundling is synchronous). */
export function bundleLambda(input: LambdaBundleInput): void {
  buildSync(lambdaEsbuildOptions(input));
}
