/**
 * Which AWS SDK commands each Lambda can send, read from the code rather than from a hand list.
 *
 * 1. esbuild bundles `functions/<name>/handler.ts` exactly as the stack does (ESM, `@aws-sdk/*`
 *    external) and its metafile gives the function's import graph: the project files that ship.
 * 2. The TypeScript checker finds every `new XCommand(...)` whose `XCommand` is imported from an
 *    `@aws-sdk/client-*` package in those files (statically, or from `await import(...)`), and the
 *    method (or function) it sits in.
 * 3. A command inside a class method counts only when some call site in the same graph resolves to
 *    that method, directly or through a port interface the class implements (cores call ports):
 *    the ledger adapter has five methods, claim-release reaches one of them. A command outside a
 *    method (a module-level function, a constructor) always counts.
 * 4. The command must also survive tree shaking: it is named in the bundle's import of its package
 *    (a package loaded with `import()` ships whole).
 */
import { join, resolve } from "node:path";
import * as esbuild from "esbuild";
import ts from "typescript";

export interface SdkCall {
  /** e.g. `@aws-sdk/client-dynamodb` */
  readonly clientPackage: string;
  /** The operation, e.g. `PutItem` (the command class name without `Command`). */
  readonly operation: string;
  /** Where the `new ...Command(` is, repo-relative. */
  readonly site: string;
}

export interface FunctionCalls {
  readonly functionDir: string;
  /** Project files in the bundle (repo-relative). */
  readonly files: string[];
  readonly calls: SdkCall[];
}

const SDK_CLIENT = /^@aws-sdk\/client-[a-z0-9-]+$/;

/** Bundles each function's handler like PouroverFunction and returns the project files it pulls in. */
async function bundleGraph(root: string, functionDir: string): Promise<{ files: string[]; code: string }> {
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [join("functions", functionDir, "handler.ts")],
    bundle: true,
    write: false,
    metafile: true,
    format: "esm",
    platform: "node",
    target: "node24",
    mainFields: ["module", "main"],
    external: ["@aws-sdk/*"],
    outfile: join(root, "node_modules", ".cache", "pourover-contract", "graph", `${functionDir}.mjs`),
    logLevel: "silent",
  });
  const files = Object.keys(result.metafile.inputs)
    .filter((f) => !f.includes("node_modules/") && /\.(ts|mts|js|mjs)$/.test(f))
    .sort();
  const code = result.outputFiles.find((o) => o.path.endsWith(".mjs"))?.text ?? "";
  return { files, code };
}

/**
 * Names imported from each `@aws-sdk/client-*` package in the bundle's own import statements; a
 * package loaded with `import()` ships whole (no tree shaking across a dynamic import): "*".
 */
function bundledSdkImports(code: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const m of code.matchAll(/import\(\s*"(@aws-sdk\/client-[a-z0-9-]+)"\s*\)/g))
    out.set(m[1] as string, new Set(["*"]));
  for (const m of code.matchAll(/import\s*\{([^}]*)\}\s*from\s*"(@aws-sdk\/client-[a-z0-9-]+)"/g)) {
    const names = out.get(m[2] as string) ?? new Set<string>();
    if (names.has("*")) continue;
    for (const part of (m[1] as string).split(",")) {
      const name = part
        .trim()
        .split(/\s+as\s+/)[0]
        ?.trim();
      if (name) names.add(name);
    }
    out.set(m[2] as string, names);
  }
  return out;
}

/** `Owner.member` for a declaration whose parent is a class or interface; undefined otherwise. */
function memberKey(decl: ts.Declaration): string | undefined {
  const parent = decl.parent;
  if ((ts.isClassDeclaration(parent) || ts.isInterfaceDeclaration(parent)) && parent.name) {
    const name = ts.getNameOfDeclaration(decl);
    if (name && ts.isIdentifier(name)) return `${parent.name.text}.${name.text}`;
  }
  return undefined;
}

const OUTSIDE = "<outside a method>";

/** The `Class.method` a node sits in; undefined at module level, in functions and constructors. */
function enclosingMethod(node: ts.Node): string | undefined {
  for (let p: ts.Node | undefined = node.parent; p; p = p.parent) {
    if (ts.isMethodDeclaration(p)) return memberKey(p);
    if (ts.isFunctionDeclaration(p) || ts.isConstructorDeclaration(p)) return undefined;
  }
  return undefined;
}

export async function sdkCallsOfFunctions(root: string, functionDirs: string[]): Promise<FunctionCalls[]> {
  const graphs = new Map<string, { files: string[]; code: string }>();
  for (const dir of functionDirs) graphs.set(dir, await bundleGraph(root, dir));
  const allFiles = [...new Set([...graphs.values()].flatMap((g) => g.files))].map((f) => resolve(root, f));

  const configPath = join(root, "tsconfig.json");
  const parsed = ts.parseJsonConfigFileContent(
    ts.readConfigFile(configPath, ts.sys.readFile).config,
    ts.sys,
    root,
  );
  const program = ts.createProgram(allFiles, { ...parsed.options, noEmit: true });
  const checker = program.getTypeChecker();

  // Per file: the member calls it makes (`Owner.member`) and the SDK commands it constructs.
  interface FileFacts {
    /** callee `Owner.member` -> the methods it is called from (`<outside>` when not in a method) */
    calls: Map<string, Set<string>>;
    commands: { clientPackage: string; operation: string; owner?: string; line: number }[];
    /** class name -> names of the interfaces it implements */
    implementsOf: Map<string, string[]>;
  }
  const facts = new Map<string, FileFacts>();
  for (const file of allFiles) {
    const source = program.getSourceFile(file);
    if (!source) throw new Error(`not in the TypeScript program: ${file}`);
    const imported = new Map<string, { pkg: string; name: string }>();
    for (const stmt of source.statements) {
      if (!ts.isImportDeclaration(stmt) || !ts.isStringLiteral(stmt.moduleSpecifier)) continue;
      const pkg = stmt.moduleSpecifier.text;
      if (!SDK_CLIENT.test(pkg)) continue;
      const bindings = stmt.importClause?.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) {
        throw new Error(
          `${file}: namespace import of ${pkg} cannot be analysed; import the commands by name`,
        );
      }
      if (bindings && ts.isNamedImports(bindings)) {
        for (const el of bindings.elements) {
          imported.set(el.name.text, { pkg, name: (el.propertyName ?? el.name).text });
        }
      }
    }
    // A name taken from `await import("@aws-sdk/client-x")` (a client loaded on first use): its
    // type's declaration is in that package's typings, which say which package and which export.
    const loadedFrom = (id: ts.Identifier): { pkg: string; name: string } | undefined => {
      const symbol = checker.getTypeAtLocation(id).getSymbol();
      const decl = symbol?.declarations?.[0];
      const pkg =
        decl && /node_modules\/(@aws-sdk\/client-[a-z0-9-]+)\//.exec(decl.getSourceFile().fileName)?.[1];
      return pkg && symbol ? { pkg, name: symbol.getName() } : undefined;
    };
    const f: FileFacts = { calls: new Map(), commands: [], implementsOf: new Map() };
    const visit = (node: ts.Node): void => {
      if (ts.isClassDeclaration(node) && node.name) {
        const names: string[] = [];
        for (const clause of node.heritageClauses ?? []) {
          for (const t of clause.types) names.push(t.expression.getText(source));
        }
        f.implementsOf.set(node.name.text, names);
      }
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
        const symbol = checker.getSymbolAtLocation(node.expression.name);
        const caller = enclosingMethod(node) ?? OUTSIDE;
        for (const decl of symbol?.declarations ?? []) {
          const key = memberKey(decl);
          if (!key) continue;
          const callers = f.calls.get(key) ?? new Set<string>();
          callers.add(caller);
          f.calls.set(key, callers);
        }
      }
      // `new XCommand(...)` and `paginateX(...)` (a paginator sends XCommand page after page).
      if ((ts.isNewExpression(node) || ts.isCallExpression(node)) && ts.isIdentifier(node.expression)) {
        const imp = imported.get(node.expression.text) ?? loadedFrom(node.expression);
        if (imp && /^waitUntil/.test(imp.name)) {
          throw new Error(`${file}: waiter ${imp.name} sends commands this analysis does not list`);
        }
        const isCommand = ts.isNewExpression(node) && imp?.name.endsWith("Command");
        const isPaginator = ts.isCallExpression(node) && /^paginate[A-Z]/.test(imp?.name ?? "");
        if (imp && (isCommand || isPaginator)) {
          const owner = enclosingMethod(node);
          f.commands.push({
            clientPackage: imp.pkg,
            operation: isPaginator ? imp.name.slice("paginate".length) : imp.name.replace(/Command$/, ""),
            owner,
            line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1,
          });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    facts.set(file, f);
  }

  return functionDirs.map((functionDir) => {
    const graph = graphs.get(functionDir) as { files: string[]; code: string };
    const files = graph.files.map((f) => resolve(root, f));
    const implementsOf = new Map<string, string[]>();
    for (const file of files)
      for (const [k, v] of facts.get(file)?.implementsOf ?? []) implementsOf.set(k, v);
    // A method is reachable when a reachable context calls it, or calls the port method it implements.
    const isReachable = (owner: string, called: Set<string>): boolean => {
      const [cls, method] = owner.split(".") as [string, string];
      return called.has(owner) || (implementsOf.get(cls) ?? []).some((i) => called.has(`${i}.${method}`));
    };
    const reachableContexts = new Set<string>([OUTSIDE]);
    const called = new Set<string>();
    for (let changed = true; changed; ) {
      changed = false;
      for (const file of files) {
        for (const [callee, callers] of facts.get(file)?.calls ?? []) {
          if (called.has(callee) || ![...callers].some((c) => reachableContexts.has(c))) continue;
          called.add(callee);
          changed = true;
        }
      }
      for (const file of files) {
        for (const callers of facts.get(file)?.calls.values() ?? []) {
          for (const c of callers) {
            if (!reachableContexts.has(c) && isReachable(c, called)) {
              reachableContexts.add(c);
              changed = true;
            }
          }
        }
      }
    }
    const bundled = bundledSdkImports(graph.code);
    const calls: SdkCall[] = [];
    for (const file of files) {
      const f = facts.get(file) as FileFacts;
      for (const c of f.commands) {
        if (c.owner && !isReachable(c.owner, called)) continue;
        const shipped = bundled.get(c.clientPackage);
        if (
          !shipped?.has("*") &&
          !shipped?.has(`${c.operation}Command`) &&
          !shipped?.has(`paginate${c.operation}`)
        )
          continue;
        calls.push({
          clientPackage: c.clientPackage,
          operation: c.operation,
          site: `${file.slice(resolve(root).length + 1)}:${c.line}`,
        });
      }
    }
    return { functionDir, files: graph.files, calls };
  });
}
