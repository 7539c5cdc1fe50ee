import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  aslPlaceholders,
  assertPlaceholdersMatch,
  RELEASE_PLACEHOLDERS,
} from "../../infra/constructs/release-state-machine.js";
import { REPO_ROOT } from "./synth-helper.js";

// asl-validator ships no type declarations: load it through its JS API with the shape we use.
const aslValidator = createRequire(import.meta.url)("asl-validator") as (definition: unknown) => {
  isValid: boolean;
  errorsText: (separator?: string) => string;
};

const ASL_FILE = join(REPO_ROOT, "state-machines", "release.asl.json");
const aslText = readFileSync(ASL_FILE, "utf8");

/** The definition as Step Functions receives it: placeholders replaced by ARNs and names. */
function filled(text: string): unknown {
  return JSON.parse(
    text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_m, name: string) =>
      name.endsWith("FunctionArn")
        ? `arn:aws:lambda:us-east-1:123456789012:function:${name}`
        : `pourover-${name}`,
    ),
  );
}

describe("release.asl.json contract", () => {
  it("passes asl-validator as written and as deployed", () => {
    for (const definition of [JSON.parse(aslText), filled(aslText)]) {
      const result = aslValidator(definition);
      expect(result.errorsText("\n")).toBe("");
      expect(result.isValid).toBe(true);
    }
  });

  it("uses exactly the placeholders the construct fills", () => {
    expect(aslPlaceholders(aslText)).toEqual([...RELEASE_PLACEHOLDERS].sort());
    expect(() => assertPlaceholdersMatch(aslText, RELEASE_PLACEHOLDERS)).not.toThrow();
  });

  it("fails synth on a placeholder nobody fills, or one filled but unused", () => {
    const extra = aslText.replace(`"\${BuildProjectName}"`, `"\${SomethingNew}"`);
    expect(() => assertPlaceholdersMatch(extra, RELEASE_PLACEHOLDERS)).toThrow(/nobody fills: SomethingNew/);
    expect(() => assertPlaceholdersMatch(extra, RELEASE_PLACEHOLDERS)).toThrow(
      /not used by the ASL: BuildProjectName/,
    );
  });

  it("does not take JSONPath expressions for placeholders", () => {
    expect(aslPlaceholders(`{"a.$": "$.plan.dev", "b": "\${X}", "c": "\${X}"}`)).toEqual(["X"]);
  });
});
