/**
 * One synthesized Pourover stack per test file: call `synthPipeline()` in `beforeAll`. Bundling nine
 * Lambdas with esbuild takes most of the time, so only the file asserting on bundle contents
 * (pipeline-stack.test.ts) bundles; every other file passes `{ bundle: false }`. Uses the infra test fixture config, not the example, so the
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

export interface SynthOptions {
  /** Register cdk-nag AwsSolutionsChecks as `cdk synth` does. @default false */
  readonly nag?: boolean;
  /**
   * Run esbuild for the nine Lambdas. Only a file that reads the bundles needs it (pipeline-stack);
   * without it each function's code is a placeholder asset and synth takes about a second.
   * @default true
   */
  readonly bundle?: boolean;
  /** Extra App context. @default none */
  readonly context?: Record<string, unknown>;
}

export function synthPipeline(options: SynthOptions = {}) {
  const outdir = mkdtempSync(join(tmpdir(), "pourover-cdk-"));
  const context = {
    ...(options.bundle === false ? { "aws:cdk:bundling-stacks": [] } : {}),
    ...options.context,
  };
  const built = buildApp({ configFile: FIXTURE_CONFIG, nag: options.nag ?? false, outdir, context });
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
