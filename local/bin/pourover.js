#!/usr/bin/env node
// The `pourover` command. It runs a single-file bundle of the CLI (esbuild, under
// node_modules/.cache/pourover): loading one file instead of hundreds of modules through a
// TypeScript loader cuts start-up from about 2 s to under 0.5 s. The bundle is rebuilt when any
// source is newer than it, so an edit is never run stale.
import { existsSync, readdirSync, renameSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bundle = join(root, "node_modules", ".cache", "pourover", "cli.mjs");
const sources = ["local", "shared", "functions"].map((d) => join(root, d));

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

const stale =
  !existsSync(bundle) ||
  Math.max(...sources.map(newestSource), statSync(join(root, "package.json")).mtimeMs) >
    statSync(bundle).mtimeMs;
if (stale) {
  const { build } = await import("esbuild");
  await build({
    entryPoints: [join(root, "local", "cli.ts")],
    // Written aside and renamed: a second pourover starting meanwhile never reads half a bundle.
    outfile: `${bundle}.${process.pid}.tmp`,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // Native and server packages stay in node_modules.
    external: ["better-sqlite3", "aws-ses-v2-local"],
    banner: {
      js: "import { createRequire as __pouroverRequire } from 'node:module'; const require = __pouroverRequire(import.meta.url);",
    },
    logLevel: "error",
  });
  renameSync(`${bundle}.${process.pid}.tmp`, bundle);
}
const { main } = await import(pathToFileURL(bundle).href);
process.exitCode = await main(process.argv.slice(2));
