/**
 * `tsx bench/cold-imports.ts [--record-baseline]`: the cold-import budget alone: every deployed
 * bundle, built as the construct builds it, imported in fresh processes on Node 24 (the Lambda
 * runtime) and on this machine's Node, with the before/after column from bench/baseline.json.
 * `--record-baseline` writes today's figures to bench/baseline.json instead. Exits 0 (a bench, not a
 * test).
 */
import "../shared/polyfills.js";
import { join } from "node:path";
import { PROJECT_ROOT } from "../local/runtime.js";
import { loadConfigFile } from "../shared/config/load-config-file.js";
import { bundleAll, constructBundling, lambdaNames } from "./bundles.js";
import {
  coldStartTable,
  machineNode,
  measureColdStarts,
  node24,
  readBaseline,
  writeBaseline,
} from "./cold-start.js";

const RUNS = Number(process.env.POUROVER_COLD_RUNS ?? 7);
const config = loadConfigFile(join(PROJECT_ROOT, "examples", "coffeeshop", "pourover.config.yaml"));
const outDir = join(PROJECT_ROOT, "node_modules", ".cache", "pourover-bench-cold");
const names = lambdaNames(PROJECT_ROOT);
const bundles = await bundleAll(PROJECT_ROOT, names, config, outDir, constructBundling(PROJECT_ROOT));
const n24 = node24(PROJECT_ROOT);
const nodes = n24.bin === process.execPath ? [n24] : [n24, machineNode()];
console.log(`Node 24: ${n24.version}, ${n24.how}`);
const run = measureColdStarts(bundles, nodes, RUNS);
if (process.argv.includes("--record-baseline")) {
  writeBaseline(PROJECT_ROOT, run, "cold import before the cold-start work (issue 16 item 2)");
  console.log("wrote bench/baseline.json");
}
console.log(coldStartTable(run, readBaseline(PROJECT_ROOT)));
