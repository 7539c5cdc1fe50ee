#!/usr/bin/env node
// The `pourover` command. It runs a single-file bundle of the CLI (esbuild, under
// node_modules/.cache/pourover): loading one file instead of hundreds of modules through a
// TypeScript loader cuts start-up from about 2 s to under 0.5 s.
//
// The bundle is named after a fingerprint of everything it is built from: the path, size, mtime
// and ctime of every file under local/, shared/ and functions/, package.json, package-lock.json
// (the bundled dependencies) and this file (the build options). Any edit, a deleted or added file,
// a file copied in with an older mtime (its ctime still moves), or an `npm install` gives another
// name, so a stale bundle is never run; only stat() is needed, no file is read.
import { createHash } from "node:crypto";
import { readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { startSesThread } from "./ses-thread.js";

const self = fileURLToPath(import.meta.url);
const root = join(dirname(self), "..", "..");
const cache = join(root, "node_modules", ".cache", "pourover");

function fingerprint() {
  const hash = createHash("sha256");
  const add = (path) => {
    const s = statSync(path, { throwIfNoEntry: false });
    hash.update(`${path}\0${s ? `${s.size}:${s.mtimeMs}:${s.ctimeMs}` : "absent"}\n`);
  };
  const walk = (dir) => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else add(path);
    }
  };
  for (const dir of ["local", "shared", "functions"]) walk(join(root, dir));
  for (const file of ["package.json", "package-lock.json"]) add(join(root, file));
  add(self);
  hash.update(process.version.split(".")[0]);
  return hash.digest("hex").slice(0, 20);
}

// The commands that send email start the SES emulator first: its thread loads on the second core
// while this one loads the CLI (about 0.15 s of a 1.6 s local release). Ended below in any case.
const sesLocal = ["release", "rollback", "event"].includes(process.argv[2] ?? "")
  ? startSesThread()
  : undefined;
sesLocal?.catch(() => {}); // a failure is the first email's to report, as if started later

try {
  process.exitCode = await run();
} finally {
  // A thread left running would keep the process alive after a failed build or import, too.
  await sesLocal?.then((ses) => ses.close()).catch(() => {});
}

async function run() {
  const key = fingerprint();
  const bundle = join(cache, `cli-${key}.mjs`);
  if (!statSync(bundle, { throwIfNoEntry: false })) {
    const { build } = await import("esbuild");
    const tmp = `${bundle}.${process.pid}.tmp`;
    await build({
      entryPoints: [join(root, "local", "cli.ts")],
      // Written aside and renamed: a second pourover starting meanwhile never reads half a bundle.
      outfile: tmp,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      // Native and server packages stay in node_modules.
      external: ["better-sqlite3", "aws-ses-v2-local"],
      // What the engine would use to invoke a real Lambda function, which a local run never does.
      alias: Object.fromEntries(
        ["@aws-sdk/client-lambda", "@aws-sdk/credential-providers"].map((name) => [
          name,
          join(root, "local", "engine-without-lambda.ts"),
        ]),
      ),
      banner: {
        js: "import { createRequire as __pouroverRequire } from 'node:module'; const require = __pouroverRequire(import.meta.url);",
      },
      logLevel: "error",
    });
    renameSync(tmp, bundle);
    // Older bundles are dead weight; one still being imported by another process is already loaded.
    for (const name of readdirSync(cache)) {
      if (name.startsWith("cli") && name !== `cli-${key}.mjs` && !name.endsWith(".tmp"))
        rmSync(join(cache, name), { force: true });
    }
  }
  // Everything a command writes (state dir, ledger, records, PR records, scan reports, the manifests
  // checkout) may hold release details: owner-only, whichever code path creates the file.
  process.umask(0o077);
  const { main } = await import(pathToFileURL(bundle).href);
  return main(process.argv.slice(2), { sesLocal });
}
