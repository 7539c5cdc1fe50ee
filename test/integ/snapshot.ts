/**
 * The integration test's snapshot: the CloudFormation templates of `integ.release.ts` (pipeline,
 * dev host, and the integ-tests assertion stack), kept in `integ.release.ts.snapshot/` as integ-runner
 * does, with asset hashes masked (integ-runner ignores them by default too). Synthesized offline:
 * no credentials, no bundling, the POUROVER_INTEG_* inputs at their defaults.
 *
 * `tsx test/integ/snapshot.ts --update` rewrites it (after a real run passed, README "Contract and
 * integration tests"); the vitest file integ-snapshot.test.ts compares it on every CI run.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));
export const SNAPSHOT_DIR = join(HERE, "integ.release.ts.snapshot");

/**
 * Masked: 64-hex asset hashes (S3 keys, asset ids vary with bundling and source), and the
 * assertion custom resources' `salt` (integ-tests sets it to the synth time so they re-run).
 */
const maskHashes = (text: string) =>
  text.replace(/[a-f0-9]{64}/g, "<asset-hash>").replace(/"salt": "\d+"/g, '"salt": "<synth-time>"');

/**
 * `<stack>.template.json.snap` -> template text (pretty, hashes masked), synthesized now. The `.snap`
 * suffix keeps the formatter off these generated files.
 */
export function synthIntegTemplates(): Map<string, string> {
  const outdir = mkdtempSync(join(tmpdir(), "pourover-integ-"));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, CDK_OUTDIR: outdir };
    // The snapshot is always of the defaults, whatever account the shell (or run-real.sh) points at.
    for (const key of Object.keys(env))
      if (
        key.startsWith("POUROVER_INTEG_") ||
        ["CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"].includes(key)
      )
        delete env[key];
    // Skip esbuild for every stack: the snapshot masks asset hashes anyway.
    env.CDK_CONTEXT_JSON = JSON.stringify({ "aws:cdk:bundling-stacks": [] });
    const r = spawnSync(process.execPath, ["--import", "tsx", join(HERE, "integ.release.ts")], {
      env,
      encoding: "utf8",
      cwd: join(HERE, "..", ".."),
    });
    if (r.status !== 0) throw new Error(`integ app synth failed:\n${r.stderr}`);
    const out = new Map<string, string>();
    for (const f of readdirSync(outdir)
      .filter((n) => n.endsWith(".template.json"))
      .sort()) {
      const json = JSON.parse(readFileSync(join(outdir, f), "utf8"));
      out.set(`${f}.snap`, `${maskHashes(JSON.stringify(json, null, 1))}\n`);
    }
    return out;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

export function readSnapshot(): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of readdirSync(SNAPSHOT_DIR)
    .filter((n) => n.endsWith(".template.json.snap"))
    .sort())
    out.set(f, readFileSync(join(SNAPSHOT_DIR, f), "utf8"));
  return out;
}

if (
  process.argv[1] &&
  fileURLToPath(import.meta.url) === process.argv[1] &&
  process.argv.includes("--update")
) {
  rmSync(SNAPSHOT_DIR, { recursive: true, force: true });
  mkdirSync(SNAPSHOT_DIR, { recursive: true });
  const templates = synthIntegTemplates();
  for (const [name, text] of templates) writeFileSync(join(SNAPSHOT_DIR, name), text);
  console.log(`integ snapshot: wrote ${templates.size} templates to ${SNAPSHOT_DIR}`);
}
