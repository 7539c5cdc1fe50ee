/**
 * `npm run test:node24`: the function cores' and adapters' tests, the deployed-bundle contract test
 * (so each Lambda asset runs on the runtime's own Node), and the cold-import bench, under Node 24
 * (the Lambdas' runtime). When this machine's Node is older, Node 24 comes from the npm
 * registry's `node-linux-<arch>` binary package, installed once into node_modules/.cache.
 *
 * Test files that open SQLite are left out, with the reason printed: better-sqlite3's native addon
 * is built for the installing Node's ABI and does not load in another major version (the SQLite
 * adapters are local-mode parts; Lambda never loads them).
 *
 * Writes the vitest JSON report to test-artifacts/vitest-node24.json (CI adds it to its count) and
 * exits with vitest's status.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { arch } from "node:os";
import { join, relative } from "node:path";
import { REPO_ROOT } from "../infra/synth-helper.js";

const NODE_PACKAGE_VERSION = "24.22.3";
const TEST_DIRS = ["test/unit", "test/adapters"];
/** The deployed bundles too: under Node 24 their handlers run on the Lambda runtime's Node. */
const EXTRA_FILES = ["test/contract/deployed-bundles.test.ts"];

function node24(): string {
  if (Number(process.versions.node.split(".")[0]) >= 24) return process.execPath;
  const prefix = join(REPO_ROOT, "node_modules", ".cache", "pourover-node24");
  const pkg = `node-linux-${arch()}`;
  const bin = join(prefix, "node_modules", pkg, "bin", "node");
  if (!existsSync(bin)) {
    mkdirSync(prefix, { recursive: true });
    const r = spawnSync(
      "npm",
      [
        "install",
        "--no-save",
        "--no-audit",
        "--no-fund",
        "--prefix",
        prefix,
        `${pkg}@${NODE_PACKAGE_VERSION}`,
      ],
      { stdio: "inherit" },
    );
    if (r.status !== 0 || !existsSync(bin))
      throw new Error(`could not install ${pkg}@${NODE_PACKAGE_VERSION}`);
  }
  return bin;
}

/**
 * Does the test open a SQLite database? better-sqlite3 loads its native addon only when a database
 * is opened, so a test that merely imports a module that imports it runs fine; one that uses a
 * SQLite adapter or the local runtime (which opens the state dir's SQLite files) cannot.
 */
const OPENS_SQLITE =
  /Sqlite(Ledger|DevLock|[A-Z][A-Za-z]*)\b|startRuntime|from "\.\.\/\.\.\/local\/(runtime|releases|status|cli|serve)\.js"/;
function opensSqlite(file: string): boolean {
  return OPENS_SQLITE.test(readFileSync(join(REPO_ROOT, file), "utf8"));
}

const bin = node24();
const version = spawnSync(bin, ["--version"], { encoding: "utf8" }).stdout.trim();
const files: string[] = [];
for (const dir of TEST_DIRS) {
  for (const f of readdirSync(join(REPO_ROOT, dir))
    .filter((n) => n.endsWith(".test.ts"))
    .sort()) {
    const path = join(dir, f);
    if (opensSqlite(path))
      console.log(
        `node24: skipping ${path}: opens SQLite through better-sqlite3, whose native addon is built for Node ${process.versions.node}`,
      );
    else files.push(path);
  }
}
files.push(...EXTRA_FILES);
console.log(`node24: ${files.length} test files under Node ${version} (${relative(REPO_ROOT, bin) || bin})`);
mkdirSync(join(REPO_ROOT, "test-artifacts"), { recursive: true });
const vitest = spawnSync(
  bin,
  [
    join(REPO_ROOT, "node_modules", "vitest", "vitest.mjs"),
    "run",
    ...files,
    "--reporter=default",
    "--reporter=json",
    "--outputFile.json=test-artifacts/vitest-node24.json",
  ],
  { cwd: REPO_ROOT, stdio: "inherit" },
);

// The tests' result in one line (vitest's own summary is above it), before the bench's table.
try {
  const report = JSON.parse(readFileSync(join(REPO_ROOT, "test-artifacts", "vitest-node24.json"), "utf8"));
  console.log(
    `node24: tests under Node ${version}: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests} skipped`,
  );
} catch {
  console.log(`node24: tests under Node ${version}: no JSON report (vitest exited ${vitest.status})`);
}
console.log(`node24: cold imports, Node ${version} and Node ${process.version}`);
// The bench finds Node 24 itself; it is given the same binary the tests ran on.
spawnSync(
  process.execPath,
  [join(REPO_ROOT, "node_modules", "tsx", "dist", "cli.mjs"), "bench/cold-imports.ts"],
  {
    cwd: REPO_ROOT,
    stdio: "inherit",
    env: { ...process.env, POUROVER_BENCH_NODE24: bin },
  },
);
process.exit(vitest.status ?? 1);
