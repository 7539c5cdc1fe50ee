import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fromCognitoIdentityPool, LambdaClient } from "../../local/engine-without-lambda.js";
import { runBin } from "../helpers/cli.js";
import { ROOT } from "../helpers/source-imports.js";

describe("the CLI bundle's engine has no AWS Lambda client", () => {
  it("a Task that reached it fails, naming why, instead of calling AWS", () => {
    expect(() => new LambdaClient()).toThrow(
      /local engine invokes no AWS Lambda; every Task state needs a local handler/,
    );
    expect(() => fromCognitoIdentityPool()).toThrow(/fromCognitoIdentityPool/);
  });

  it("the bundle the bin runs carries the stand-in, not @aws-sdk/client-lambda", async () => {
    expect((await runBin(["--version"])).code).toBe(0);
    const cache = join(ROOT, "node_modules", ".cache", "pourover");
    const bundle = readdirSync(cache).find((f) => f.startsWith("cli-") && f.endsWith(".mjs"));
    const code = readFileSync(join(cache, bundle as string), "utf8");
    expect(code).toContain("the local engine invokes no AWS Lambda");
    expect(code).not.toContain("node_modules/@aws-sdk/client-lambda/");
  }, 120_000);
});
