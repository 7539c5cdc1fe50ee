import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  LAMBDA_ENTRY_FILE,
  lambdaEsbuildOptions,
  requiredBuiltins,
} from "../../infra/constructs/lambda-bundling.js";
import { loadConfigFile } from "../../shared/config/load-config-file.js";

const ROOT = join(import.meta.dirname, "..", "..");
/** A function with an AWS SDK client and Powertools: the parts whose load cost the options cut. */
const FUNCTION_DIR = "evaluate-scan";

describe("lambda bundling: what a cold start has to load", () => {
  let outdir: string;
  let files: Map<string, string>;
  /** The entry and the chunks it imports statically: what Node reads and runs at init. */
  let atInit: Set<string>;

  beforeAll(async () => {
    outdir = mkdtempSync(join(tmpdir(), "pourover-bundle-"));
    const config = loadConfigFile(join(ROOT, "examples", "coffeeshop", "pourover.config.yaml"));
    const options = lambdaEsbuildOptions({ projectRoot: ROOT, functionDir: FUNCTION_DIR, config, outdir });
    const result = await build({ ...options, metafile: true, logLevel: "silent" });
    const outputs = result.metafile.outputs;
    files = new Map(
      readdirSync(outdir)
        .filter((f) => f.endsWith(".mjs"))
        .map((f) => [f, readFileSync(join(outdir, f), "utf8")]),
    );
    atInit = new Set();
    const visit = (out: string) => {
      const name = out.split("/").pop() as string;
      if (atInit.has(name) || !outputs[out]) return;
      atInit.add(name);
      for (const i of outputs[out].imports) if (i.kind === "import-statement" && !i.external) visit(i.path);
    };
    visit(relative(ROOT, join(outdir, LAMBDA_ENTRY_FILE)));
  }, 60_000);

  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it("bundles the SDK commands in: nothing is imported from the runtime's @aws-sdk copy", () => {
    expect(files.has(LAMBDA_ENTRY_FILE)).toBe(true);
    for (const [name, code] of files) expect(code, name).not.toMatch(/from\s*["']@aws-sdk\//);
    // The S3 client's REST-XML protocol marker: the client really is inside the asset.
    expect([...files.values()].some((code) => code.includes("AmazonS3"))).toBe(true);
  });

  it("never ES-imports http, https, http2, crypto or another aliased Node built-in", () => {
    // An ES import of `node:http` builds its ESM facade, which on Node 24 loads the whole undici.
    const aliased = new Set(requiredBuiltins());
    expect(aliased).toContain("http");
    expect(aliased).toContain("crypto");
    for (const [name, code] of files) {
      const builtinImports = [...code.matchAll(/from\s*["'](?:node:)?([a-z_0-9]+)["']/g)]
        .map((m) => m[1] as string)
        // The banner's own `import { createRequire } from "node:module"` is what makes `require` exist.
        .filter((m) => aliased.has(m) && !(m === "module" && code.includes("__pouroverCreateRequire")));
      expect(builtinImports, name).toEqual([]);
    }
  });

  it("takes credentials from Lambda's environment only: no other link of the SDK's chain ships", () => {
    const all = [...files.values()].join("\n");
    expect(all).toContain("AWS_SECRET_ACCESS_KEY");
    // SSO, credential_process, STS web identity, the container credentials endpoint.
    const otherLinks = [
      "sso_start_url",
      "credential_process",
      "AWS_WEB_IDENTITY_TOKEN_FILE",
      "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ];
    for (const marker of otherLinks) expect(all, marker).not.toContain(marker);
  });

  it("ships no browser user-agent parser (bowser) and no semver (only X-Ray's SDK v2 patcher wants it)", () => {
    for (const [name, code] of files) {
      expect(code, name).not.toMatch(/bowser|BlackBerry/);
      expect(code, name).not.toContain("Invalid comparator");
    }
  });

  it("splits what only some paths load (the X-Ray SDK of the tracer) out of the init chunks", () => {
    const withXray = [...files]
      .filter(([, code]) => code.includes("AWS_XRAY_CONTEXT_MISSING"))
      .map(([n]) => n);
    expect(withXray.length).toBeGreaterThan(0);
    for (const name of withXray) expect(atInit.has(name), name).toBe(false);
  });
});

describe("the Lambda credential shim (infra/lambda-shims/credentials-from-env.ts)", () => {
  const saved = { ...process.env };
  afterAll(() => {
    process.env = saved;
  });

  it("returns the execution role's credentials from the variables Lambda sets", async () => {
    const { defaultProvider } = await import("../../infra/lambda-shims/credentials-from-env.js");
    process.env.AWS_ACCESS_KEY_ID = "ASIAEXAMPLEEXAMPLE01";
    process.env.AWS_SECRET_ACCESS_KEY = "example-secret";
    process.env.AWS_SESSION_TOKEN = "example-token";
    await expect(defaultProvider({})()).resolves.toMatchObject({
      accessKeyId: "ASIAEXAMPLEEXAMPLE01",
      secretAccessKey: "example-secret",
      sessionToken: "example-token",
    });
  });

  it("without them fails with the SDK's CredentialsProviderError, as the full chain would at its end", async () => {
    const { defaultProvider } = await import("../../infra/lambda-shims/credentials-from-env.js");
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    await expect(defaultProvider({})()).rejects.toMatchObject({ name: "CredentialsProviderError" });
  });
});
