/**
 * Helm values at configured paths (issue #5): scalar `repo:tag` values and `repository`/`tag`/`digest`
 * maps, edited by splicing into the original text. Fixtures under test/fixtures/helm/; the real seed
 * chart's values.yaml where the corpus is present.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse, parseDocument } from "yaml";
import { updateManifests } from "../../functions/update-manifests/update-manifests.js";
import { type AppConfig, parseAppConfig } from "../../shared/contracts/app-config.js";
import {
  InvalidInputError,
  ManifestInvalidError,
  VersionRegressionError,
} from "../../shared/domain/errors.js";
import {
  type EditOptions,
  editImages,
  editImagesWithYaml,
  type HelmImagePath,
  type ImageUpdate,
  type PinMode,
} from "../../shared/domain/image-editor.js";
import type { PublishInput } from "../../shared/ports/index.js";
import { EXAMPLE_DIR } from "../helpers/local.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const FIXTURES = join(HERE, "../fixtures/helm");
const SEED_VALUES = resolve(
  HERE,
  "../../../shared/corpus/seed/chuc-thien-go-coffeshop@branches/helm_dev/tct-coffee-shop/values.yaml",
);
if (!existsSync(SEED_VALUES)) {
  console.warn(
    `[image-editor-helm] seed chart not found at ${SEED_VALUES}: its values.yaml tests are skipped`,
  );
}
const ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;

const repo = (service: string) => `${ECR}/go-coffeeshop-${service}`;
const up = (service: string, tag = "v1.1.0", digest?: string): ImageUpdate =>
  digest ? { service, repository: repo(service), tag, digest } : { service, repository: repo(service), tag };
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");
const helm = (helmPaths: HelmImagePath[], pin: PinMode = "tag+digest", extra: Partial<EditOptions> = {}) =>
  ({ kind: "helm", pin, path: "charts/coffeeshop/values.yaml", helmPaths, ...extra }) satisfies EditOptions;

const SCALAR_PATHS: HelmImagePath[] = [
  { service: "web", path: "web.image" },
  { service: "proxy", path: "services.proxy.image" },
  { service: "counter", path: "services.counter.image" },
];
const MAP_PATHS: HelmImagePath[] = [
  { service: "web", path: "web.image" },
  { service: "proxy", path: "proxy.image" },
  { service: "counter", path: "counter.image" },
  { service: "barista", path: "barista.image" },
];
const ALL = ["web", "proxy", "counter", "barista"];

/** The 1-based numbers of the lines that differ (same line count asserted). */
function changedLines(before: string, after: string): number[] {
  const a = before.split("\n");
  const b = after.split("\n");
  expect(b.length).toBe(a.length);
  return a.flatMap((line, i) => (line === b[i] ? [] : [i + 1]));
}

describe("helm: scalar image values", () => {
  const text = fixture("values-scalar.yaml");

  it("pins each configured path, keeping quotes and trailing comments, and nothing else", () => {
    const out = editImages(
      text,
      ALL.map((s) => up(s, "v1.1.0", D1)),
      helm(SCALAR_PATHS),
    );
    expect(out.text).toBe(
      text
        .replace(`"${repo("web")}:v1.0.0" # pinned`, `"${repo("web")}:v1.1.0@${D1}" # pinned`)
        .replace(`'${repo("proxy")}:v1.0.0'`, `'${repo("proxy")}:v1.1.0@${D1}'`)
        .replace(`${repo("counter")}:v1.0.0   # counter`, `${repo("counter")}:v1.1.0@${D1}   # counter`),
    );
    expect(out.changes).toEqual([
      {
        path: "charts/coffeeshop/values.yaml",
        line: 7,
        repository: repo("web"),
        before: `${repo("web")}:v1.0.0`,
        after: `${repo("web")}:v1.1.0@${D1}`,
      },
      expect.objectContaining({ line: 13, repository: repo("proxy") }),
      expect.objectContaining({ line: 19, repository: repo("counter") }),
    ]);
  });

  it.each([
    ["tag", (s: string) => `${repo(s)}:v1.1.0`],
    ["digest", (s: string) => `${repo(s)}@${D1}`],
    ["tag+digest", (s: string) => `${repo(s)}:v1.1.0@${D1}`],
  ] as const)("pin %s", (pin, expected) => {
    const out = editImages(text, [up("web", "v1.1.0", D1)], helm(SCALAR_PATHS, pin));
    expect(parse(out.text).web.image).toBe(expected("web"));
    expect(changedLines(text, out.text)).toEqual([7]);
  });

  it("falls back to repo:tag in every pin mode when the update has no digest", () => {
    const out = editImages(text, [up("proxy")], helm(SCALAR_PATHS, "digest"));
    expect(parse(out.text).services.proxy.image).toBe(`${repo("proxy")}:v1.1.0`);
  });

  it("applies only the update of the path's service, and only when the value is that image", () => {
    // The postgres path names the web service: the value is another image, so it is left alone.
    const paths = [...SCALAR_PATHS, { service: "web", path: "postgres.image" }];
    const out = editImages(text, [up("web")], helm(paths));
    expect(changedLines(text, out.text)).toEqual([7]);
    // An update carrying no service applies to no Helm path.
    const anonymous = editImages(text, [{ repository: repo("web"), tag: "v1.1.0" }], helm(SCALAR_PATHS));
    expect(anonymous.text).toBe(text);
    expect(anonymous.changes).toEqual([]);
  });

  it("edits the same image at an unconfigured path never", () => {
    const extra = `${text}copy:\n  image: ${repo("web")}:v1.0.0\n`;
    const out = editImages(extra, [up("web")], helm(SCALAR_PATHS, "tag"));
    expect(out.text.endsWith(`copy:\n  image: ${repo("web")}:v1.0.0\n`)).toBe(true);
    expect(out.changes).toHaveLength(1);
  });

  it("reaches sequence items by index (sidecars.1.image)", () => {
    const values = [
      "sidecars:",
      "  - name: a",
      "    image: busybox:1",
      "  - name: b",
      `    image: ${repo("web")}:v1`,
      "",
    ].join("\n");
    const out = editImages(values, [up("web")], helm([{ service: "web", path: "sidecars.1.image" }], "tag"));
    expect(out.text).toBe(values.replace(`${repo("web")}:v1`, `${repo("web")}:v1.1.0`));
  });

  it("follows an alias to the anchored value and edits it once", () => {
    const values = `web:\n  image: &web ${repo("web")}:v1.0.0\nworker:\n  image: *web\n`;
    const paths = [
      { service: "web", path: "web.image" },
      { service: "web", path: "worker.image" },
    ];
    const out = editImages(values, [up("web")], helm(paths, "tag"));
    expect(out.text).toBe(values.replace(":v1.0.0", ":v1.1.0"));
    expect(out.changes).toHaveLength(1);
  });
});

describe("helm: repository/tag maps", () => {
  const text = fixture("values-map.yaml");

  it("tag+digest: sets tag, replaces or inserts digest after tag, leaves another image's map alone", () => {
    const out = editImages(
      text,
      ALL.map((s) => up(s, "v1.1.0", D2)),
      helm(MAP_PATHS),
    );
    expect(out.text).toBe(
      text
        .replace(
          '    tag: "v1.0.0" # bumped on release\n',
          `    tag: "v1.1.0" # bumped on release\n    digest: ${D2}\n`,
        )
        .replace("    tag: 'v1.0.0'\n", "    tag: 'v1.1.0'\n")
        .replace(`    digest: "${D1}"`, `    digest: "${D2}"`)
        .replace('    tag: v1.0.0\n    digest: ""', `    tag: v1.1.0\n    digest: "${D2}"`),
    );
    expect(out.changes.map((c) => [c.line, c.before, c.after])).toEqual([
      [4, `${repo("web")}:v1.0.0`, `${repo("web")}:v1.1.0@${D2}`],
      [11, `${repo("proxy")}:v1.0.0@${D1}`, `${repo("proxy")}:v1.1.0@${D2}`],
      [18, `${repo("counter")}:v1.0.0`, `${repo("counter")}:v1.1.0@${D2}`],
    ]);
    const values = parse(out.text);
    expect(values.barista.image).toEqual({ repository: "docker.io/library/busybox", tag: "1.36" });
    expect(values.proxy.image).toMatchObject({
      registry: ECR,
      repository: "go-coffeeshop-proxy",
      digest: D2,
    });
  });

  it("tag: sets tags, removes a stale digest line, leaves an empty digest alone (as for kustomize)", () => {
    const out = editImages(
      text,
      ALL.map((s) => up(s, "v1.1.0", D2)),
      helm(MAP_PATHS, "tag"),
    );
    expect(out.text).toBe(
      text
        .replace('tag: "v1.0.0"', 'tag: "v1.1.0"')
        .replace("    tag: 'v1.0.0'\n", "    tag: 'v1.1.0'\n")
        .replace(`    digest: "${D1}"\n`, "")
        .replace("    tag: v1.0.0\n", "    tag: v1.1.0\n"),
    );
    expect(out.changes.find((c) => c.repository === repo("proxy"))?.after).toBe(`${repo("proxy")}:v1.1.0`);
  });

  it("digest: still sets an existing tag (it must not lie about the version), writes the digest", () => {
    const out = editImages(text, [up("web", "v1.1.0", D2)], helm(MAP_PATHS, "digest"));
    expect(parse(out.text).web.image).toMatchObject({ tag: "v1.1.0", digest: D2 });
    expect(out.changes[0]?.after).toBe(`${repo("web")}:v1.1.0@${D2}`);
  });

  it("inserts a missing tag after repository, and quotes a tag YAML would read as a number", () => {
    const values = "image:\n  repository: web\n  pullPolicy: Always\n";
    const out = editImages(
      values,
      [{ service: "web", repository: "web", tag: "1.10" }],
      helm([{ service: "web", path: "image" }]),
    );
    expect(out.text).toBe('image:\n  repository: web\n  tag: "1.10"\n  pullPolicy: Always\n');
    expect(parse(out.text).image.tag).toBe("1.10");
    const plain = "image:\n  repository: web\n  tag: 1.0\n";
    const replaced = editImages(
      plain,
      [{ service: "web", repository: "web", tag: "1.10" }],
      helm([{ service: "web", path: "image" }]),
    );
    expect(replaced.text).toBe('image:\n  repository: web\n  tag: "1.10"\n');
  });

  it("edits a flow-style map in place", () => {
    const values = "web:\n  image: {repository: web, tag: v1.0.0}\n";
    const out = editImages(
      values,
      [{ service: "web", repository: "web", tag: "v1.1.0", digest: D1 }],
      helm([{ service: "web", path: "web.image" }]),
    );
    expect(out.text).toBe(`web:\n  image: {repository: web, tag: v1.1.0, digest: "${D1}"}\n`);
  });

  it("fails loudly rather than leave a stale digest it cannot remove cleanly", () => {
    const values = `web:\n  image: {repository: web, tag: v1.0.0, digest: "${D1}"}\n`;
    expect(() =>
      editImages(
        values,
        [{ service: "web", repository: "web", tag: "v1.1.0" }],
        helm([{ service: "web", path: "web.image" }], "tag"),
      ),
    ).toThrow(ManifestInvalidError);
  });
});

describe("helm: errors, regression, identity", () => {
  it("a configured path missing from the file names the file and the path", () => {
    const text = fixture("values-scalar.yaml");
    const run = (path: string) => () => editImages(text, [], helm([{ service: "web", path }]));
    expect(run("web.imag")).toThrow(ManifestInvalidError);
    expect(run("web.imag")).toThrow(
      'charts/coffeeshop/values.yaml: Helm values path "web.imag" (service web) not found',
    );
    expect(run("services.kitchen.image")).toThrow(
      'charts/coffeeshop/values.yaml: Helm values path "services.kitchen.image" (service web) not found (no "services.kitchen")',
    );
    expect(run("web.image.repository")).toThrow(/"web\.image\.repository" .*not found/);
    expect(() => editImages("", [], helm([{ service: "web", path: "web.image" }]))).toThrow(
      /web\.image.*not found/,
    );
  });

  it("a path holding neither form is a mismatch too", () => {
    const text = fixture("values-scalar.yaml");
    for (const path of ["web.replicas", "web.service", "services.proxy.env", "global"]) {
      expect(() => editImages(text, [up("web")], helm([{ service: "web", path }]))).toThrow(
        `Helm values path "${path}" (service web) holds neither an image reference nor a map with repository and tag`,
      );
    }
  });

  it("invalid YAML names the line and column", () => {
    expect(() => editImages("web:\n  image: [\n", [up("web")], helm(SCALAR_PATHS))).toThrow(
      /charts\/coffeeshop\/values\.yaml: invalid YAML at line \d+, column \d+/,
    );
  });

  it("refuses to move an image back unless forced, in both forms", () => {
    for (const [name, paths] of [
      ["values-scalar.yaml", SCALAR_PATHS],
      ["values-map.yaml", MAP_PATHS],
    ] as const) {
      const text = fixture(name);
      const run = (force: boolean) =>
        editImages(text, [up("proxy", "v0.9.0")], helm(paths, "tag", { force }));
      expect(() => run(false)).toThrow(VersionRegressionError);
      expect(() => run(false)).toThrow(
        `charts/coffeeshop/values.yaml: go-coffeeshop-proxy is at v1.0.0, refusing to move it back to v0.9.0 (use --force)`,
      );
      expect(run(true).changes).toEqual([expect.objectContaining({ after: `${repo("proxy")}:v0.9.0` })]);
    }
  });

  it("rejects a malformed update even for a Helm file", () => {
    expect(() =>
      editImages("a: 1\n", [{ service: "web", repository: "web", tag: "bad tag" }], helm([])),
    ).toThrow(InvalidInputError);
  });

  it("no change needed: the very same string, no changes; a re-run is a no-op", () => {
    for (const [name, paths] of [
      ["values-scalar.yaml", SCALAR_PATHS],
      ["values-map.yaml", MAP_PATHS],
    ] as const) {
      const text = fixture(name);
      for (const pin of ["tag", "digest", "tag+digest"] as const) {
        const updates = ALL.map((s) => up(s, "v1.1.0", D2));
        const once = editImages(text, updates, helm(paths, pin));
        expect(once.changes.length).toBeGreaterThan(0);
        const twice = editImages(once.text, updates, helm(paths, pin));
        expect(twice).toEqual({ text: once.text, changes: [] });
      }
      expect(editImages(text, [], helm(paths)).text).toBe(text);
    }
  });

  it("CRLF files keep CRLF, including inserted lines", () => {
    for (const [name, paths] of [
      ["values-scalar.yaml", SCALAR_PATHS],
      ["values-map.yaml", MAP_PATHS],
    ] as const) {
      const lf = fixture(name);
      const crlf = lf.replaceAll("\n", "\r\n");
      const updates = ALL.map((s) => up(s, "v1.1.0", D2));
      const out = editImages(crlf, updates, helm(paths));
      expect(out.text).toBe(editImages(lf, updates, helm(paths)).text.replaceAll("\n", "\r\n"));
      expect(out.text).not.toMatch(/[^\r]\n/);
    }
  });

  it("editImagesWithYaml takes the same route", () => {
    const text = fixture("values-map.yaml");
    const updates = ALL.map((s) => up(s, "v1.1.0", D2));
    expect(editImagesWithYaml(text, updates, helm(MAP_PATHS))).toEqual(
      editImages(text, updates, helm(MAP_PATHS)),
    );
  });
});

describe.runIf(existsSync(SEED_VALUES))("helm: the seed chart's values.yaml", () => {
  it("pins the three services' untagged image strings and leaves postgres, comments and HPA settings alone", () => {
    const text = readFileSync(SEED_VALUES, "utf8");
    const services = ["barista", "counter", "kitchen"];
    const paths = services.map((s) => ({ service: s, path: `${s}.deployment.image` }));
    const updates = services.map((s) => ({
      service: s,
      repository: `chucthien03/go-coffeeshop-${s}`,
      tag: "v1.1.0",
      digest: D1,
    }));
    const out = editImages(text, updates, helm(paths));
    let expected = text;
    for (const s of services) {
      expected = expected.replace(
        `"chucthien03/go-coffeeshop-${s}"`,
        `"chucthien03/go-coffeeshop-${s}:v1.1.0@${D1}"`,
      );
    }
    expect(out.text).toBe(expected);
    expect(out.changes).toHaveLength(3);
    expect(editImages(out.text, updates, helm(paths)).text).toBe(out.text);
  });
});

// ---- property: only the configured image lines change -------------------------------------------

interface Entry {
  service: string;
  map: boolean;
  quote: "" | "'" | '"';
  comment: boolean;
  oldMinor: number;
  digest: boolean;
}

const entryArb = (service: string) =>
  fc.record({
    service: fc.constant(service),
    map: fc.boolean(),
    quote: fc.constantFrom("" as const, "'" as const, '"' as const),
    comment: fc.boolean(),
    oldMinor: fc.nat(9),
    digest: fc.boolean(),
  });

const fillerArb = fc.uniqueArray(
  fc.tuple(
    fc.constantFrom("replicas", "port", "note", "pullPolicy", "imagePullSecrets", "image"),
    fc.constantFrom("1", '"x: y"', "'it''s'", "IfNotPresent", "[a, b]", "{}", "~"),
  ),
  { maxLength: 3, selector: ([key]) => key },
);

/** Renders a values file; `imageLines` are the 1-based lines a configured image value may occupy. */
function render(entries: Entry[], fillers: [string, string][][], prefix: string[], pin: PinMode) {
  const lines: string[] = ["# generated values"];
  const imageLines: number[] = [];
  const paths: HelmImagePath[] = [];
  let indent = "";
  for (const key of prefix) {
    lines.push(`${indent}${key}:`);
    indent += "  ";
  }
  entries.forEach((e, i) => {
    const q = (v: string) => `${e.quote}${v}${e.quote}`;
    const c = e.comment ? "  # keep me" : "";
    lines.push(`${indent}${e.service}:`);
    for (const [k, v] of fillers[i] ?? []) {
      if (k !== "image") lines.push(`${indent}  ${k}: ${v}`);
      // an image of ours at a path nobody configured
      else lines.push(`${indent}  other:`, `${indent}    image: ${repo(e.service)}:v1.0.${e.oldMinor}`);
    }
    if (e.map) {
      lines.push(`${indent}  image:`, `${indent}    repository: ${q(repo(e.service))}`);
      lines.push(`${indent}    tag: ${q(`v1.0.${e.oldMinor}`)}${c}`);
      imageLines.push(lines.length);
      // A stale digest would have its line removed in "tag" mode; the property keeps line counts.
      lines.push(`${indent}    digest: ${e.digest && pin !== "tag" ? q(D1) : '""'}${c}`);
      imageLines.push(lines.length);
    } else {
      lines.push(
        `${indent}  image: ${q(`${repo(e.service)}:v1.0.${e.oldMinor}${e.digest ? `@${D1}` : ""}`)}${c}`,
      );
      imageLines.push(lines.length);
    }
    paths.push({ service: e.service, path: [...prefix, e.service, "image"].join(".") });
  });
  lines.push("");
  return { text: lines.join("\n"), imageLines, paths };
}

describe("helm: property", () => {
  it("only the lines of configured image values change, and they read back as the update", () => {
    const arb = fc.subarray(ALL, { minLength: 1 }).chain((services) =>
      fc.record({
        entries: fc.tuple(...services.map(entryArb)),
        fillers: fc.array(fillerArb, { minLength: services.length, maxLength: services.length }),
        prefix: fc.array(fc.constantFrom("app", "images", "chart"), { maxLength: 2 }),
        pin: fc.constantFrom<PinMode>("tag", "digest", "tag+digest"),
        updated: fc.subarray(services),
        crlf: fc.boolean(),
      }),
    );
    fc.assert(
      fc.property(arb, ({ entries, fillers, prefix, pin, updated, crlf }) => {
        const { text: lf, imageLines, paths } = render(entries, fillers, [...new Set(prefix)], pin);
        const text = crlf ? lf.replaceAll("\n", "\r\n") : lf;
        const updates = updated.map((s) => up(s, "v2.0.0", D2));
        const out = editImages(text, updates, helm(paths, pin));
        if (crlf) expect(out.text).not.toMatch(/[^\r]\n/);
        const changed = changedLines(lf, out.text.replaceAll("\r\n", "\n"));
        for (const line of changed) expect(imageLines).toContain(line);
        expect(out.changes.map((c) => c.repository).sort()).toEqual(updated.map(repo).sort());
        const values = parseDocument(out.text).toJS();
        const at = (path: string) => path.split(".").reduce((node, key) => node?.[key], values);
        for (const { service, path } of paths) {
          const value = at(path);
          const tag = updated.includes(service) ? "v2.0.0" : undefined;
          if (typeof value === "string") {
            if (tag) {
              const ref =
                pin === "digest"
                  ? `${repo(service)}@${D2}`
                  : pin === "tag"
                    ? `${repo(service)}:v2.0.0`
                    : `${repo(service)}:v2.0.0@${D2}`;
              expect(value).toBe(ref);
            }
          } else if (tag) {
            expect(value.tag).toBe(tag);
            expect(value.digest).toBe(pin === "tag" ? "" : D2);
          }
        }
        if (updated.length === 0) expect(out.text).toBe(text);
      }),
      { numRuns: 300 },
    );
  });
});

// ---- config and the UpdateManifests core -------------------------------------------------------

function rawConfig(): Record<string, unknown> & { manifests: { files: unknown[] } } {
  return parse(readFileSync(join(EXAMPLE_DIR, "pourover.config.yaml"), "utf8"));
}

function withHelmFile(imagePaths: unknown): unknown {
  const raw = rawConfig();
  const files = raw.manifests.files;
  raw.manifests.files = [
    ...files.slice(0, 2),
    { path: "charts/coffeeshop/values.yaml", kind: "helm", imagePaths },
    ...files.slice(2),
  ];
  return raw;
}

describe("helm: config", () => {
  it("accepts a helm file with imagePaths and keeps existing configs valid", () => {
    expect(parseAppConfig(rawConfig()).manifests.files.every((f) => f.kind !== "helm")).toBe(true);
    const config = parseAppConfig(withHelmFile([{ service: "web", path: "web.image" }]));
    expect(config.manifests.files[2]).toEqual({
      path: "charts/coffeeshop/values.yaml",
      kind: "helm",
      imagePaths: [{ service: "web", path: "web.image" }],
    });
  });

  it("an unknown service is one line naming the field", () => {
    let error: unknown;
    try {
      parseAppConfig(withHelmFile([{ service: "webb", path: "web.image" }]), "pourover.config.yaml");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    const message = (error as Error).message;
    expect(message).toBe(
      'pourover.config.yaml: manifests.files[2].imagePaths[0].service: "webb" is not one of services[].name',
    );
    expect(message).not.toContain("\n");
  });

  it("a helm file needs at least one imagePath, and a well-formed one", () => {
    expect(() => parseAppConfig(withHelmFile([]))).toThrow(/manifests\.files\[2\]\.imagePaths: /);
    expect(() => parseAppConfig(withHelmFile([{ service: "web", path: "web..image" }]))).toThrow(
      /manifests\.files\[2\]\.imagePaths\[0\]\.path: must be a dotted path/,
    );
    const raw = rawConfig();
    raw.manifests.files.push({ path: "values.yaml", kind: "helm" });
    expect(() => parseAppConfig(raw)).toThrow(/manifests\.files\[\d+\]\.imagePaths/);
  });
});

describe("helm: UpdateManifests passes helmPaths and services through", () => {
  it("pins the values file in the same commit as the other manifests", async () => {
    const config: AppConfig = parseAppConfig(
      withHelmFile([
        { service: "web", path: "web.image" },
        { service: "proxy", path: "proxy.image" },
        { service: "counter", path: "counter.image" },
        { service: "barista", path: "barista.image" },
      ]),
    );
    const seed = join(EXAMPLE_DIR, config.manifests.localSeed ?? "manifests");
    const published: PublishInput[] = [];
    await updateManifests(
      {
        app: "coffeeshop",
        tag: "v1.3.0",
        executionId: "x",
        images: config.services.map((s) => ({
          service: s.name,
          repository: `${ECR}/${s.repository}`,
          tag: "v1.3.0",
          digest: D2,
        })),
      },
      {
        config,
        repo: {
          async readFiles({ paths }) {
            const files: Record<string, string> = {};
            for (const p of paths) {
              files[p] = p.endsWith("values.yaml")
                ? fixture("values-map.yaml")
                : readFileSync(join(seed, p), "utf8");
            }
            return { baseCommit: "b".repeat(40), files };
          },
          async publish(input) {
            published.push(input);
            return { commit: "c".repeat(40), url: null, number: null, unchanged: false };
          },
        },
        artifacts: { put: async (key: string) => `s3://a/${key}` },
        executionUrl: (id) => id,
      },
    );
    const values = published[0]?.files.find((f) => f.path === "charts/coffeeshop/values.yaml");
    expect(values).toBeDefined();
    expect(parse(values?.content ?? "").web.image).toMatchObject({ tag: "v1.3.0", digest: D2 });
    expect(published[0]?.message).toContain(`charts/coffeeshop/values.yaml: ${repo("web")}:v1.3.0@${D2}`);
  });
});
