/**
 * The house rules of docs/architecture.md, checked on the source with the TypeScript parser (imports,
 * re-exports, dynamic `import()` and `process.env` accesses; comments and strings do not count):
 *
 * 1. A function core (`functions/<x>/<x>.ts`) and `shared/domain/**` import no adapter, no config
 *    loader, no AWS SDK client, no Octokit and no Lambda middleware.
 * 2. Nothing under `shared/` imports a function folder or the local CLI (`local/`).
 * 3. `process.env` appears only in the config loaders listed in CONFIG_LOADERS.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, sourceFacts, sourceFiles } from "../helpers/source-imports.js";

/** The only files that may read `process.env`, each with why it is one. */
const CONFIG_LOADERS: Record<string, string> = {
  "shared/config/lambda-env.ts": "the Lambdas' loader (requireEnv, optionalEnv, bundledAppConfig)",
  "shared/config/runtime-env.ts": "the zod-free loader of the two Function URL endpoints",
  "shared/config/local-env.ts": "the local CLI's loader (settings, the env child processes inherit)",
  "infra/app.ts": "the CDK app entry: the deploy account and region the CDK CLI sets",
  "local/rollback.ts": "rollbackTarget: the rollback command's settings (the default of its `env` parameter)",
};

/** Where the rules apply: the product. test/ and bench/ are tools around it. */
const SOURCE_DIRS = ["functions", "shared", "local", "infra"];

/** Bare specifiers a core or the domain must not import (SDK clients, Octokit, Lambda wiring). */
const FORBIDDEN_IN_CORES = [
  /^@aws-sdk\//,
  /^aws-sdk$/,
  /^@octokit\//,
  /^@middy\//,
  /^@aws-lambda-powertools\//,
];

const isCore = (file: string) => /^functions\/([^/]+)\/\1\.ts$/.test(file);
const isDomain = (file: string) => file.startsWith("shared/domain/");

/** Every broken rule in the given files, one line each (`file: rule: detail`). */
function violations(files: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [file, text] of Object.entries(files)) {
    const facts = sourceFacts(file, text);
    const imports = facts.imports.map((i) => i.spec);
    const envLines = facts.envLines;
    if (isCore(file) || isDomain(file)) {
      for (const spec of imports) {
        if (spec.startsWith("shared/adapters/")) found.push(`${file}: imports an adapter: ${spec}`);
        if (spec.startsWith("shared/config/")) found.push(`${file}: imports a config loader: ${spec}`);
        if (FORBIDDEN_IN_CORES.some((p) => p.test(spec))) found.push(`${file}: imports ${spec}`);
      }
    }
    if (file.startsWith("shared/")) {
      for (const spec of imports) {
        if (spec.startsWith("functions/") || spec.startsWith("local/"))
          found.push(`${file}: shared code imports ${spec}`);
      }
    }
    if (!(file in CONFIG_LOADERS)) {
      for (const line of envLines) found.push(`${file}:${line}: reads process.env outside a config loader`);
    }
  }
  return found;
}

describe("import rules (docs/architecture.md)", () => {
  const files = sourceFiles(SOURCE_DIRS);
  const texts = Object.fromEntries(files.map((f) => [f, readFileSync(join(ROOT, f), "utf8")]));

  it("finds the cores, the domain, the adapters and every config loader it names", () => {
    expect(files.filter(isCore).length).toBeGreaterThan(10);
    expect(files.filter(isDomain).length).toBeGreaterThan(5);
    expect(files.filter((f) => f.startsWith("shared/adapters/")).length).toBeGreaterThan(10);
    for (const loader of Object.keys(CONFIG_LOADERS)) expect(files).toContain(loader);
  });

  it("the product breaks none of the rules", () => {
    expect(violations(texts)).toEqual([]);
  });

  it("each rule catches what it is meant to (imports, re-exports, dynamic imports, process.env)", () => {
    expect(
      violations({
        "functions/do-thing/do-thing.ts": [
          'import { S3Client } from "@aws-sdk/client-s3";',
          'export { X } from "../../shared/adapters/aws/x.js";',
          'const c = await import("../../shared/config/lambda-env.js");',
          "const octokit: import('@octokit/core').Octokit = c as never;",
        ].join("\n"),
        "shared/domain/pure.ts": 'import type { R } from "../adapters/local/r.js";',
        "shared/adapters/aws/thing.ts": 'import type { T } from "../../../functions/x/x.js";',
        "local/tool.ts":
          'const a = process.env.HOME;\nconst b = process["env"];\n// process.env in a comment\nconst s = "process.env";',
        "shared/config/lambda-env.ts": "export const v = process.env.X;",
        "functions/do-thing/handler.ts": 'import { S3Client } from "@aws-sdk/client-s3";',
      }),
    ).toEqual([
      "functions/do-thing/do-thing.ts: imports @aws-sdk/client-s3",
      "functions/do-thing/do-thing.ts: imports an adapter: shared/adapters/aws/x.ts",
      "functions/do-thing/do-thing.ts: imports a config loader: shared/config/lambda-env.ts",
      "functions/do-thing/do-thing.ts: imports @octokit/core",
      "shared/domain/pure.ts: imports an adapter: shared/adapters/local/r.ts",
      "shared/adapters/aws/thing.ts: shared code imports functions/x/x.ts",
      "local/tool.ts:1: reads process.env outside a config loader",
      "local/tool.ts:2: reads process.env outside a config loader",
    ]);
  });
});
