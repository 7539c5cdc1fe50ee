/**
 * `tsx bench/cold-imports.ts [<node binary>...]`: the cold-import budget alone (median of fresh
 * processes importing each deployed bundle with its Lambda environment), once per Node binary given
 * (default: this one). Prints one table, one column per Node; exits 0 (a bench, not a test).
 */
import "../shared/polyfills.js";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { PROJECT_ROOT } from "../local/runtime.js";
import { loadConfigFile } from "../shared/config/load-config-file.js";
import { bundleAll, coldImport, constructBundling, lambdaNames, nodeFloor } from "./bundles.js";

const RUNS = Number(process.env.POUROVER_COLD_RUNS ?? 5);
const BUDGET_MS = 100;
const nodes = process.argv.slice(2).length > 0 ? process.argv.slice(2) : [process.execPath];
const config = loadConfigFile(join(PROJECT_ROOT, "examples", "coffeeshop", "pourover.config.yaml"));
const outDir = join(PROJECT_ROOT, "node_modules", ".cache", "pourover-bench-cold");
const names = lambdaNames(PROJECT_ROOT);
const bundles = await bundleAll(PROJECT_ROOT, names, config, outDir, constructBundling(PROJECT_ROOT));

// Interleaved (each bundle under every Node in turn) so that machine load hits the columns alike.
const columns = nodes.map((node) => ({
  node,
  version: spawnSync(node, ["--version"], { encoding: "utf8" }).stdout.trim(),
  floor: 0,
  ms: new Map<string, string>(),
}));
for (const b of bundles) {
  for (const c of columns) {
    process.env.POUROVER_BENCH_NODE = c.node;
    const cold = coldImport(b.file, RUNS);
    c.ms.set(
      b.name,
      cold.error
        ? `FAILS: ${cold.error.slice(0, 60)}`
        : `${cold.wallMs.toFixed(0)} (import ${cold.importMs.toFixed(0)})`,
    );
  }
}
for (const c of columns) {
  process.env.POUROVER_BENCH_NODE = c.node;
  c.floor = nodeFloor(RUNS);
}

const header = ["function", ...columns.map((c) => `Node ${c.version}: wall ms (import ms)`)];
const rows = bundles.map((b) => [b.name, ...columns.map((c) => c.ms.get(b.name) ?? "-")]);
rows.push(["(node -e '' floor)", ...columns.map((c) => c.floor.toFixed(0))]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
console.log(
  `cold import of each deployed bundle, median of ${RUNS} fresh processes (budget ≤ ${BUDGET_MS} ms wall on Node 24)`,
);
console.log(line(header));
console.log(line(widths.map((w) => "-".repeat(w))));
for (const r of rows) console.log(line(r));
