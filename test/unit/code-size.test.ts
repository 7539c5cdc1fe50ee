/**
 * The size rule of docs/architecture.md, checked on the source with the TypeScript parser: outside
 * the tests, no file over 400 lines and no function (declaration, method, constructor, arrow or
 * function expression) over 80 lines, unless the file's opening comment gives the reason in a line
 * starting "Long because".
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { ROOT, sourceFiles } from "../helpers/source-imports.js";

const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 80;
const DIRS = ["functions", "shared", "local", "infra", "bench"];

/** The comments before the file's first token, as one text. */
function openingComment(text: string): string {
  return (ts.getLeadingCommentRanges(text, 0) ?? []).map((r) => text.slice(r.pos, r.end)).join("\n");
}

function sizeViolations(file: string, text: string): string[] {
  if (/^\s*(?:\/\/|\*|\/\*\*?)\s*Long because\b/m.test(openingComment(text))) return [];
  const out: string[] = [];
  const lines = text.split("\n").length;
  if (lines > MAX_FILE_LINES) out.push(`${file}: ${lines} lines (at most ${MAX_FILE_LINES})`);
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const lineOf = (pos: number) => source.getLineAndCharacterOfPosition(pos).line + 1;
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const first = lineOf(node.getStart(source));
      const length = lineOf(node.getEnd()) - first + 1;
      if (length > MAX_FUNCTION_LINES)
        out.push(`${file}:${first}: a function of ${length} lines (at most ${MAX_FUNCTION_LINES})`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

describe("code size", () => {
  it("no source file over 400 lines and no function over 80, unless its opening comment says why", () => {
    const found = sourceFiles(DIRS).flatMap((file) =>
      sizeViolations(file, readFileSync(join(ROOT, file), "utf8")),
    );
    expect(found).toEqual([]);
  });

  it("finds a long function and a long file, and accepts them with a 'Long because' line", () => {
    const body = Array.from({ length: 81 }, (_, i) => `  const v${i} = ${i};`).join("\n");
    const longFunction = `export function f() {\n${body}\n}\n`;
    expect(sizeViolations("a.ts", longFunction)).toEqual(["a.ts:1: a function of 83 lines (at most 80)"]);
    const longFile = `${"export const x = 1;\n".repeat(401)}`;
    expect(sizeViolations("b.ts", longFile)).toEqual(["b.ts: 402 lines (at most 400)"]);
    expect(
      sizeViolations("c.ts", `/**\n * A table.\n *\n * Long because it is one table.\n */\n${longFunction}`),
    ).toEqual([]);
  });
});
