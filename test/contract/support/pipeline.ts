/**
 * The synthesized pipeline as the contract tests read it: the template JSON, each Pourover Lambda
 * (by its `functions/<dir>`), the release state machine with its definition as deployed.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, type SynthOptions, synthPipeline } from "../../infra/synth-helper.js";
import { type Json, resolveValue, type TemplateJson } from "./template.js";

export interface LambdaInTemplate {
  readonly logicalId: string;
  /** `functions/<functionDir>/handler.ts` */
  readonly functionDir: string;
  readonly roleId: string;
  readonly properties: Json;
}

export interface SynthesizedPipeline {
  readonly template: TemplateJson;
  readonly lambdas: LambdaInTemplate[];
  readonly outdir: string;
  readonly assembly: ReturnType<typeof synthPipeline>["assembly"];
  readonly stackArtifactId: string;
}

/** Every optional part on (prod feedback), so every function of the repo is in the template. */
export const CONTRACT_CONTEXT = { "pourover:prodFeedback": true } as const;

export function synthForContract(options: Pick<SynthOptions, "bundle"> = {}): SynthesizedPipeline {
  const built = synthPipeline({ bundle: options.bundle ?? false, context: { ...CONTRACT_CONTEXT } });
  const template = built.template.toJSON() as TemplateJson;
  const lambdas: LambdaInTemplate[] = [];
  for (const [logicalId, r] of Object.entries(template.Resources)) {
    if (r.Type !== "AWS::Lambda::Function") continue;
    // PouroverFunction names each function's Powertools service `pourover-<functions dir>`.
    const service = r.Properties?.Environment?.Variables?.POWERTOOLS_SERVICE_NAME;
    if (typeof service !== "string" || !service.startsWith("pourover-")) continue;
    const att = r.Properties.Role?.["Fn::GetAtt"];
    lambdas.push({
      logicalId,
      functionDir: service.slice("pourover-".length),
      roleId: att?.[0],
      properties: r.Properties,
    });
  }
  return {
    template,
    lambdas: lambdas.sort((a, b) => a.functionDir.localeCompare(b.functionDir)),
    outdir: built.outdir,
    assembly: built.assembly,
    stackArtifactId: built.stack.artifactId,
  };
}

/** The folders under functions/ that have a Lambda entry point. */
export function functionDirsInRepo(): string[] {
  const root = join(REPO_ROOT, "functions");
  return readdirSync(root)
    .filter((d) => existsSync(join(root, d, "handler.ts")))
    .sort();
}

export interface DeployedStateMachine {
  readonly logicalId: string;
  readonly roleId: string;
  /** The ASL with every `${Placeholder}` replaced by its (fake-resolved) value, parsed. */
  readonly definition: Json;
}

/** The text of a file asset by its S3 object key, from the assembly's asset manifest. */
function fileAssetText(outdir: string, objectKey: string): string {
  for (const manifest of readdirSync(outdir).filter((f) => f.endsWith(".assets.json"))) {
    const files: Record<string, Json> = JSON.parse(readFileSync(join(outdir, manifest), "utf8")).files ?? {};
    for (const entry of Object.values(files)) {
      const keys = Object.values(entry.destinations ?? {}).map((d: Json) => d.objectKey);
      if (keys.includes(objectKey)) return readFileSync(join(outdir, entry.source.path), "utf8");
    }
  }
  throw new Error(`no file asset with object key ${objectKey} in ${outdir}`);
}

/** The release state machine as deployed: the definition asset with its substitutions applied. */
export function releaseStateMachine(template: TemplateJson, outdir: string): DeployedStateMachine {
  const machines = Object.entries(template.Resources).filter(
    ([, r]) => r.Type === "AWS::StepFunctions::StateMachine",
  );
  if (machines.length !== 1) throw new Error(`expected one state machine, found ${machines.length}`);
  const [logicalId, machine] = machines[0] as [string, { Properties: Json }];
  const props = machine.Properties;
  const text = props.DefinitionS3Location
    ? fileAssetText(outdir, props.DefinitionS3Location.Key)
    : String(resolveValue(template, props.DefinitionString));
  const subs = resolveValue(template, machine.Properties.DefinitionSubstitutions ?? {}) as Record<
    string,
    string
  >;
  const filled = text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (m, name: string) => subs[name] ?? m);
  return {
    logicalId,
    roleId: machine.Properties.RoleArn["Fn::GetAtt"][0],
    definition: JSON.parse(filled),
  };
}

/** Every state of a definition, Map/Parallel branches included, as [name, state]. */
export function allStates(definition: Json): [string, Json][] {
  const out: [string, Json][] = [];
  const walk = (states: Record<string, Json>) => {
    for (const [name, state] of Object.entries(states)) {
      out.push([name, state]);
      const inner = state.ItemProcessor ?? state.Iterator;
      if (inner) walk(inner.States);
      for (const branch of state.Branches ?? []) walk(branch.States);
    }
  };
  walk(definition.States);
  return out;
}
