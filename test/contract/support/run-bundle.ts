/**
 * Runs a deployed Lambda bundle (the cdk.out asset, as synthesized) the way the Lambda runtime does:
 * a fresh Node process, the function's template environment (intrinsics resolved to fake values),
 * the Lambda runtime's own variables, dummy credentials, and the SDK pointed at local fakes.
 *
 * The asset is copied under node_modules/.cache/pourover-contract/<fn>/ so that `@aws-sdk/*` (kept
 * out of the bundle, as the runtime provides it) resolves from the project's node_modules.
 */
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_ROOT } from "../../infra/synth-helper.js";
import type { LambdaInTemplate } from "./pipeline.js";
import { FAKE_ACCOUNT, FAKE_REGION, type Json, resolveValue, type TemplateJson } from "./template.js";

export const CACHE_DIR = join(REPO_ROOT, "node_modules", ".cache", "pourover-contract");

// GitHub has no endpoint variable: the runner routes the bundle's fetches of api.github.com to the
// fake (network level only; the bundle itself is not touched).
const RUNNER = `
import { writeFileSync } from "node:fs";
const out = (value) => writeFileSync(process.env.CONTRACT_RESULT_FILE, JSON.stringify(value));
const githubFake = process.env.CONTRACT_GITHUB_API_URL;
if (githubFake) {
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (url.startsWith("https://api.github.com/")) {
      const routed = githubFake + url.slice("https://api.github.com".length);
      return realFetch(typeof input === "string" || input instanceof URL ? routed : new Request(routed, input), init);
    }
    return realFetch(input, init);
  };
}
let mod;
try {
  mod = await import(process.env.CONTRACT_HANDLER_URL);
} catch (e) {
  out({ phase: "init", ok: false, error: { name: e?.name, message: String(e?.message ?? e) } });
  process.exit(0);
}
const fn = mod[process.env.CONTRACT_HANDLER_EXPORT];
if (typeof fn !== "function") {
  out({ phase: "init", ok: false, error: { name: "NoHandler", message: "no export " + process.env.CONTRACT_HANDLER_EXPORT } });
  process.exit(0);
}
const context = {
  functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, functionVersion: "$LATEST",
  invokedFunctionArn: "arn:aws:lambda:${FAKE_REGION}:${FAKE_ACCOUNT}:function:" + process.env.AWS_LAMBDA_FUNCTION_NAME,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, awsRequestId: "00000000-0000-4000-8000-000000000000",
  logGroupName: "/aws/lambda/fake", logStreamName: "fake", callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 30000, done() {}, fail() {}, succeed() {},
};
try {
  const result = await fn(JSON.parse(process.env.CONTRACT_EVENT), context);
  out({ phase: "invoke", ok: true, result: result ?? null });
} catch (e) {
  out({ phase: "invoke", ok: false, error: { name: e?.name, message: String(e?.message ?? e) } });
}
`;

export interface BundleRun {
  phase: "init" | "invoke";
  ok: boolean;
  result?: Json;
  error?: { name: string; message: string };
  /** Everything the process wrote (its logs). */
  output: string;
}

/** Copies the function's asset dir out of cdk.out into the cache; returns the handler file. */
export function stageBundle(outdir: string, fn: LambdaInTemplate): string {
  const key: string = fn.properties.Code?.S3Key;
  if (!key) throw new Error(`${fn.functionDir}: no S3Key in its Code (was the stack bundled?)`);
  let source: string | undefined;
  for (const manifest of readdirSync(outdir).filter((f) => f.endsWith(".assets.json"))) {
    const files: Record<string, Json> = JSON.parse(readFileSync(join(outdir, manifest), "utf8")).files ?? {};
    for (const entry of Object.values(files)) {
      if (Object.values(entry.destinations ?? {}).some((d: Json) => d.objectKey === key))
        source = entry.source.path;
    }
  }
  if (!source) throw new Error(`${fn.functionDir}: asset ${key} not in the assembly`);
  const dir = join(CACHE_DIR, fn.functionDir);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(outdir, source), dir, { recursive: true });
  const [file, exportName] = String(fn.properties.Handler).split(".") as [string, string];
  const handlerFile = readdirSync(dir).find((f) => f === `${file}.mjs` || f === `${file}.js`);
  if (!handlerFile) throw new Error(`${fn.functionDir}: ${file}.mjs not in the asset`);
  return `${join(dir, handlerFile)}#${exportName}`;
}

/** The environment Lambda gives the function: its template variables plus the runtime's own. */
export function lambdaEnvironment(template: TemplateJson, fn: LambdaInTemplate): Record<string, string> {
  const vars = resolveValue(template, fn.properties.Environment?.Variables ?? {}) as Record<string, string>;
  const runtime = String(fn.properties.Runtime ?? "nodejs24.x");
  return {
    ...Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, String(v)])),
    // Set by the Lambda runtime (Lambda Developer Guide, "Defined runtime environment variables").
    AWS_REGION: FAKE_REGION,
    AWS_DEFAULT_REGION: FAKE_REGION,
    AWS_EXECUTION_ENV: `AWS_Lambda_${runtime}`,
    AWS_LAMBDA_FUNCTION_NAME: `pourover-${fn.functionDir}`,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.properties.MemorySize ?? 128),
    AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
    AWS_LAMBDA_LOG_FORMAT: String(fn.properties.LoggingConfig?.LogFormat ?? "Text"),
    LAMBDA_TASK_ROOT: "/var/task",
    _X_AMZN_TRACE_ID: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
    AWS_XRAY_CONTEXT_MISSING: "LOG_ERROR",
    AWS_XRAY_DAEMON_ADDRESS: "127.0.0.1:2000",
    TZ: ":UTC",
    // Dummy credentials: the fakes never check signatures.
    AWS_ACCESS_KEY_ID: "AKIAFAKEFAKEFAKEFAKE",
    AWS_SECRET_ACCESS_KEY: "fake-secret-access-key",
    AWS_SESSION_TOKEN: "fake-session-token",
  };
}

/** Runs the staged handler once with `event`; resolves with what it returned or threw. */
export async function runBundle(
  handler: string,
  env: Record<string, string>,
  event: Json,
  node = process.execPath,
): Promise<BundleRun> {
  mkdirSync(CACHE_DIR, { recursive: true });
  const runner = join(CACHE_DIR, "run-handler.mjs");
  writeFileSync(runner, RUNNER);
  const [file, exportName] = handler.split("#") as [string, string];
  const resultFile = join(CACHE_DIR, `result-${process.pid}-${Date.now()}.json`);
  const child = spawn(node, [runner], {
    cwd: CACHE_DIR,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      ...env,
      CONTRACT_HANDLER_URL: pathToFileURL(file).href,
      CONTRACT_HANDLER_EXPORT: exportName,
      CONTRACT_EVENT: JSON.stringify(event),
      CONTRACT_RESULT_FILE: resultFile,
    },
  });
  let output = "";
  child.stdout.on("data", (d) => {
    output += d;
  });
  child.stderr.on("data", (d) => {
    output += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  let parsed: Omit<BundleRun, "output">;
  try {
    parsed = JSON.parse(readFileSync(resultFile, "utf8"));
  } catch {
    throw new Error(`handler process exited ${code} without a result:\n${output}`);
  } finally {
    rmSync(resultFile, { force: true });
  }
  return { ...parsed, output };
}
