/**
 * One synthesized Pourover stack per test file (bundling nine Lambdas with esbuild takes a while):
 * call `synthPipeline()` in `beforeAll`. Uses the infra test fixture config, not the example, so the
 * assertions do not move when the example changes.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Template } from "aws-cdk-lib/assertions";
import type { CloudAssembly } from "aws-cdk-lib/cx-api";
import { buildApp } from "../../infra/app.js";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const FIXTURE_CONFIG = join(REPO_ROOT, "test", "fixtures", "infra", "pourover.config.yaml");
/** Synth (esbuild x 9, cdk-nag) can take a minute on a 2-core machine. */
export const SYNTH_TIMEOUT_MS = 240_000;

export function synthPipeline(options: { nag?: boolean } = {}) {
  const outdir = mkdtempSync(join(tmpdir(), "pourover-cdk-"));
  const built = buildApp({ configFile: FIXTURE_CONFIG, nag: options.nag ?? false, outdir });
  const assembly: CloudAssembly = built.app.synth();
  const template = Template.fromStack(built.stack);
  return { ...built, assembly, template, outdir };
}

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
export type Json = any;

/** Resources of one type as [logicalId, resource] pairs. */
export function resourcesOf(template: Template, type: string): [string, Json][] {
  return Object.entries(template.findResources(type));
}
