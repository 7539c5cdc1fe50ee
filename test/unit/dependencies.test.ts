/**
 * package.json says what each package is for: `dependencies` are what the `pourover` CLI needs when
 * it runs (its entry builds and loads a bundle of local/, shared/ and functions/ from node_modules);
 * everything only the CDK app, the tests or the bench import is a devDependency. `npm ci` installs
 * both by default, so `npx cdk synth/deploy` after `npm ci` finds the CDK.
 */
import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packageOf, ROOT, sourceFacts, sourceFiles } from "../helpers/source-imports.js";

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const runtime = new Set(Object.keys(pkg.dependencies));
const declared = new Set([...runtime, ...Object.keys(pkg.devDependencies)]);
const builtins = new Set(builtinModules);

/** Packages imported by the files under `dirs` (for their values, or only for types), with one importer each. */
function packageImports(dirs: string[], types: boolean): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of sourceFiles(dirs)) {
    for (const { spec, typeOnly, local } of sourceFacts(file, readFileSync(join(ROOT, file), "utf8"))
      .imports) {
      const name = local ? null : packageOf(spec);
      if (name === null || typeOnly !== types || builtins.has(name)) continue;
      if (!found.has(name)) found.set(name, file);
    }
  }
  return found;
}
const valueImports = (dirs: string[]) => packageImports(dirs, false);
/** `@types/<name>` satisfies a type-only import of `name`. */
const typeImports = (dirs: string[]) => packageImports(dirs, true);

describe("package.json", () => {
  it("declares every package the code, the CDK app, the tests and the bench import", () => {
    const missing = [...valueImports(["functions", "shared", "local", "infra", "test", "bench"])]
      .filter(([name]) => !declared.has(name))
      .map(([name, file]) => `${name} (imported by ${file})`);
    const missingTypes = [...typeImports(["functions", "shared", "local", "infra", "test", "bench"])]
      .filter(([name]) => !declared.has(name) && !declared.has(`@types/${name}`))
      .map(([name, file]) => `${name} (types imported by ${file})`);
    expect([...missing, ...missingTypes]).toEqual([]);
  });

  it("has in dependencies everything the CLI imports at run time, and the esbuild its entry bundles with", () => {
    const needed = [...valueImports(["functions", "shared", "local"])]
      .filter(([name]) => !runtime.has(name))
      .map(([name, file]) => `${name} (imported by ${file})`);
    expect(needed).toEqual([]);
    expect(readFileSync(join(ROOT, "local/bin/pourover.js"), "utf8")).toContain('import("esbuild")');
    expect(runtime.has("esbuild")).toBe(true);
  });

  it("keeps the CDK, cdk-nag and tsx in devDependencies: only the CDK app and the tooling use them", () => {
    for (const name of ["aws-cdk-lib", "constructs", "cdk-nag", "aws-cdk", "tsx"]) {
      expect(pkg.devDependencies[name], name).toBeDefined();
      expect(pkg.dependencies[name], name).toBeUndefined();
    }
  });

  it("pins every version exactly", () => {
    const loose = Object.entries({ ...pkg.dependencies, ...pkg.devDependencies }).filter(
      ([, v]) => !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(v),
    );
    expect(loose).toEqual([]);
  });

  it("the AWS SDK clients share one @aws-sdk/core and one @smithy/core in the lockfile", () => {
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
      packages: Record<string, { version?: string }>;
    };
    for (const shared of ["@aws-sdk/core", "@smithy/core"]) {
      const versions = new Set(
        Object.entries(lock.packages)
          .filter(([path]) => path.endsWith(`node_modules/${shared}`))
          .map(([, meta]) => meta.version),
      );
      expect([...versions], shared).toHaveLength(1);
    }
  });
});
