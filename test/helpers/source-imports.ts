/**
 * What a TypeScript source imports and where it reads `process.env`, from the TypeScript parser
 * (imports, re-exports, `import()`, `require()`, `import("x")` types; comments and strings do not
 * count). Used by the import-rules and dependency tests.
 */
import { readdirSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";

export const ROOT = resolve(import.meta.dirname, "../..");

export interface ImportFact {
  /** Relative specifiers resolved to a repo path (`shared/ports/index.ts`); bare ones as written. */
  spec: string;
  /** Erased at compile time (`import type`, `export type`, an `import("x")` type). */
  typeOnly: boolean;
  /** A file of this repository (a relative specifier), not a package. */
  local: boolean;
}

export interface SourceFacts {
  imports: ImportFact[];
  /** 1-based lines where `process.env` is accessed. */
  envLines: number[];
}

export function sourceFacts(file: string, text: string): SourceFacts {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const imports: ImportFact[] = [];
  const envLines: number[] = [];
  const add = (node: ts.Node | undefined, typeOnly: boolean) => {
    if (!node || !ts.isStringLiteralLike(node)) return;
    const spec = node.text;
    if (!spec.startsWith(".")) {
      imports.push({ spec, typeOnly, local: false });
      return;
    }
    const target = relative(ROOT, resolve(dirname(join(ROOT, file)), spec))
      .split(sep)
      .join("/");
    imports.push({ spec: target.replace(/\.js$/, ".ts"), typeOnly, local: true });
  };
  const isProcess = (e: ts.Expression) =>
    (ts.isIdentifier(e) && e.text === "process") ||
    (ts.isPropertyAccessExpression(e) && e.name.text === "process" && ts.isIdentifier(e.expression));
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const allTypes =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier, allTypes);
    } else if (ts.isExportDeclaration(node)) add(node.moduleSpecifier, node.isTypeOnly);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference))
      add(node.moduleReference.expression, node.isTypeOnly);
    else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === "require"))
    )
      add(node.arguments[0], false);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument))
      add(node.argument.literal, true);
    const envAccess =
      (ts.isPropertyAccessExpression(node) && node.name.text === "env" && isProcess(node.expression)) ||
      (ts.isElementAccessExpression(node) &&
        ts.isStringLiteralLike(node.argumentExpression) &&
        node.argumentExpression.text === "env" &&
        isProcess(node.expression));
    if (envAccess) envLines.push(source.getLineAndCharacterOfPosition(node.getStart()).line + 1);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { imports, envLines };
}

/** The TypeScript and JavaScript sources under the given top-level folders, as repo paths. */
export function sourceFiles(dirs: readonly string[]): string[] {
  return dirs.flatMap((dir) =>
    (readdirSync(join(ROOT, dir), { recursive: true }) as string[])
      .map((f) => `${dir}/${f.split(sep).join("/")}`)
      .filter(
        (f) =>
          /\.(ts|mts|js|mjs)$/.test(f) &&
          !f.endsWith(".d.ts") &&
          !f.includes("node_modules/") &&
          !f.includes(".snapshot/"),
      ),
  );
}

/** The npm package a bare specifier names (`@scope/name/sub` -> `@scope/name`), or null for `node:`. */
export function packageOf(spec: string): string | null {
  if (spec.startsWith("node:")) return null;
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] as string);
}
