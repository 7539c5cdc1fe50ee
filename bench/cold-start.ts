/**
 * The cold-start part of the bench: which Node binaries the deployed bundles are imported in (the
 * Lambda runtime's Node 24, and this machine's Node), the per-bundle medians, and the before/after
 * comparison with `bench/baseline.json` (the figures recorded before the cold-start work).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { arch } from "node:os";
import { join } from "node:path";
import { type BundleResult, type ColdImport, coldImport, nodeFloor } from "./bundles.js";

export interface BenchNode {
  /** Absolute path of the `node` binary. */
  bin: string;
  /** `node --version`, e.g. `v24.22.3`. */
  version: string;
  /** How this binary was obtained, printed with the figures. */
  how: string;
}

function versionOf(bin: string): string {
  return spawnSync(bin, ["--version"], { encoding: "utf8" }).stdout.trim();
}

const major = (version: string) => Number(version.replace(/^v/, "").split(".")[0]);

/** The Node of this process (the machine's Node, which runs the bench). */
export function machineNode(): BenchNode {
  return { bin: process.execPath, version: process.version, how: "this machine's node" };
}

/**
 * Node 24, the Lambda runtime's major version: `POUROVER_BENCH_NODE24` when set; this process when it
 * already is Node 24; otherwise the npm registry's `node-linux-<arch>` binary package (the official
 * Node build, published by the Node.js project), installed once with `npm install --no-save` into a
 * scratch folder under node_modules/.cache (the same folder `npm run test:node24` uses).
 */
export function node24(projectRoot: string): BenchNode {
  const given = process.env.POUROVER_BENCH_NODE24;
  if (given) return { bin: given, version: versionOf(given), how: "POUROVER_BENCH_NODE24" };
  if (major(process.version) === 24) return machineNode();
  const prefix = join(projectRoot, "node_modules", ".cache", "pourover-node24");
  const pkg = `node-linux-${arch()}`;
  const bin = join(prefix, "node_modules", pkg, "bin", "node");
  const where = `npm package ${pkg} in node_modules/.cache/pourover-node24`;
  if (existsSync(bin) && major(versionOf(bin)) === 24) {
    return { bin, version: versionOf(bin), how: `${where} (already installed)` };
  }
  mkdirSync(prefix, { recursive: true });
  const r = spawnSync(
    "npm",
    ["install", "--no-save", "--no-audit", "--no-fund", "--prefix", prefix, `${pkg}@24`],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  if (r.status !== 0 || !existsSync(bin)) throw new Error(`npm install ${pkg}@24 failed (exit ${r.status})`);
  return { bin, version: versionOf(bin), how: `${where} (npm install --no-save ${pkg}@24, just now)` };
}

export interface ColdFigures {
  /** What a cold start loads (see BundleResult.bytes). */
  bytes: number;
  /** Every `.mjs` of the asset (absent in a baseline of single-file bundles: then equal to bytes). */
  totalBytes?: number;
  /** Median `import()` of the bundle in a fresh process, per Node major ("24", "20"). */
  importMs: Record<string, number>;
  /** Median wall time of that whole fresh process, per Node major. */
  wallMs: Record<string, number>;
  /** Median CPU time of the `import()`, per Node major (absent in a baseline recorded without it). */
  cpuMs?: Record<string, number>;
}

export interface ColdRun {
  nodes: BenchNode[];
  runs: number;
  floorMs: Record<string, number>;
  bundles: Record<string, ColdFigures>;
  errors: Record<string, string>;
}

/**
 * Median of `runs` fresh processes per bundle and Node, interleaved (each bundle under every Node in
 * turn, round by round) so that load from the rest of the machine hits every column alike.
 */
export function measureColdStarts(
  bundles: readonly BundleResult[],
  nodes: readonly BenchNode[],
  runs: number,
  extraEnv: Record<string, string> = {},
): ColdRun {
  const key = (n: BenchNode) => String(major(n.version));
  const samples = new Map<string, { imports: number[]; walls: number[]; cpus: number[] }>();
  const errors: Record<string, string> = {};
  for (let round = 0; round < runs; round++) {
    for (const b of bundles) {
      for (const n of nodes) {
        const id = `${b.name}\u0000${key(n)}`;
        if (errors[`${b.name} (Node ${key(n)})`]) continue;
        const one: ColdImport = coldImport(b.file, 1, extraEnv, n.bin);
        if (one.error) {
          errors[`${b.name} (Node ${key(n)})`] = one.error;
          continue;
        }
        const s = samples.get(id) ?? { imports: [], walls: [], cpus: [] };
        s.imports.push(one.importMs);
        s.cpus.push(one.cpuMs);
        s.walls.push(one.wallMs);
        samples.set(id, s);
      }
    }
  }
  const med = (v: number[]) => {
    const sorted = [...v].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  };
  const out: Record<string, ColdFigures> = {};
  for (const b of bundles) {
    const figures: ColdFigures = {
      bytes: b.bytes,
      totalBytes: b.totalBytes,
      importMs: {},
      wallMs: {},
      cpuMs: {},
    };
    for (const n of nodes) {
      const s = samples.get(`${b.name}\u0000${key(n)}`);
      if (!s || s.imports.length === 0) continue;
      figures.importMs[key(n)] = Number(med(s.imports).toFixed(1));
      figures.wallMs[key(n)] = Number(med(s.walls).toFixed(1));
      (figures.cpuMs ?? {})[key(n)] = Number(med(s.cpus).toFixed(1));
    }
    out[b.name] = figures;
  }
  const floorMs: Record<string, number> = {};
  for (const n of nodes) floorMs[key(n)] = Number(nodeFloor(runs, n.bin).toFixed(1));
  return { nodes: [...nodes], runs, floorMs, bundles: out, errors };
}

/** bench/baseline.json: the cold-start figures before the cold-start work, for the before/after column. */
export interface ColdBaseline {
  recordedAt: string;
  what: string;
  nodes: { version: string; how: string }[];
  runs: number;
  floorMs: Record<string, number>;
  bundles: Record<string, ColdFigures>;
}

export function baselinePath(projectRoot: string): string {
  return join(projectRoot, "bench", "baseline.json");
}

export function writeBaseline(projectRoot: string, run: ColdRun, what: string): void {
  const baseline: ColdBaseline = {
    recordedAt: new Date().toISOString(),
    what,
    nodes: run.nodes.map((n) => ({ version: n.version, how: n.how })),
    runs: run.runs,
    floorMs: run.floorMs,
    bundles: run.bundles,
  };
  writeFileSync(baselinePath(projectRoot), `${JSON.stringify(baseline, null, 2)}\n`);
}

export function readBaseline(projectRoot: string): ColdBaseline | undefined {
  const path = baselinePath(projectRoot);
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, "utf8")) as ColdBaseline;
}

/** Budget of a cold import on Node 24 (docs/architecture.md, Budgets), and the goal. */
export const COLD_BUDGET_MS = 100;
export const COLD_GOAL_MS = 50;

const kb = (bytes: number | undefined) => (bytes === undefined ? "-" : `${(bytes / 1024).toFixed(1)} KB`);
const ms = (v: number | undefined) => (v === undefined ? "-" : `${v.toFixed(0)} ms`);

/** The per-bundle table: size and Node 24 / machine-Node import medians, each before → after. */
export function coldStartTable(run: ColdRun, baseline: ColdBaseline | undefined): string {
  const majors = run.nodes.map((n) => String(major(n.version)));
  const header = [
    "bundle",
    "code loaded at init before → after (whole asset)",
    ...majors.map((m) => `Node ${m} import before → after (CPU)`),
    `Node 24 ≤ ${COLD_BUDGET_MS} ms?`,
  ];
  const rows = Object.entries(run.bundles).map(([name, f]) => {
    const b = baseline?.bundles[name];
    const n24 = f.importMs["24"];
    return [
      name,
      `${kb(b?.bytes)} → ${kb(f.bytes)} (${kb(f.totalBytes ?? f.bytes)})`,
      ...majors.map((m) => `${ms(b?.importMs[m])} → ${ms(f.importMs[m])} (${ms(f.cpuMs?.[m])})`),
      n24 === undefined ? "n/a" : n24 <= COLD_BUDGET_MS ? (n24 <= COLD_GOAL_MS ? "✓ (goal too)" : "✓") : "✗",
    ];
  });
  rows.push([
    "(node -e '' process floor)",
    "",
    ...majors.map((m) => `${ms(baseline?.floorMs[m])} → ${ms(run.floorMs[m])}`),
    "",
  ]);
  const widths = header.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? "")].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c + " ".repeat(Math.max(0, (widths[i] ?? 0) - [...c].length))).join(" | ")} |`;
  const errors = Object.entries(run.errors).map(([k, v]) => `FAILS: ${k}: ${v}`);
  return [
    `cold import of each deployed bundle: median import() of ${run.runs} fresh processes, Lambda env (NODE_OPTIONS=--enable-source-maps); before = bench/baseline.json${baseline ? ` (${baseline.recordedAt}; SDK then external, loaded from node_modules as the runtime's copy would be, not counted in its size)` : " (none recorded)"}; CPU = CPU time of the import() (what wall time would be on an idle machine)`,
    ...run.nodes.map((n) => `Node ${major(n.version)} = ${n.version}: ${n.how}`),
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
    ...errors,
  ].join("\n");
}
