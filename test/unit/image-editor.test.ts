import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManifestInvalidError, VersionRegressionError } from "../../shared/domain/errors.js";
import { type EditOptions, editImages, type ImageUpdate } from "../../shared/domain/image-editor.js";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;
const ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const K8S: EditOptions = { kind: "kubernetes", pin: "tag", path: "web.yaml" };
const COMPOSE: EditOptions = { kind: "compose", pin: "tag", path: "docker-compose.yml" };

const web = (tag = "v1.1.0", digest?: string): ImageUpdate =>
  digest ? { repository: "web", tag, digest } : { repository: "web", tag };

function deployment(image: string, kind = "Deployment"): string {
  return [
    "apiVersion: apps/v1",
    `kind: ${kind}`,
    "metadata:",
    "  name: web",
    "spec:",
    "  template:",
    "    spec:",
    "      containers:",
    "        - name: web",
    `          image: ${image}`,
    "",
  ].join("\n");
}

/** Lines of `after` that differ from `before` (same line count assumed). */
function changedLines(before: string, after: string): number[] {
  const a = before.split("\n");
  const b = after.split("\n");
  expect(b.length).toBe(a.length);
  return a.flatMap((line, i) => (line === b[i] ? [] : [i + 1]));
}

describe("editImages: matching", () => {
  it("web does not match web-canary (nor web-canary match web)", () => {
    const text = `${deployment("web:v1.0.0")}---\n${deployment("web-canary:v1.0.0")}`;
    const out = editImages(text, [web()], K8S);
    expect(out.text).toBe(text.replace("web:v1.0.0", "web:v1.1.0"));
    expect(out.changes).toEqual([
      { path: "web.yaml", line: 10, repository: "web", before: "web:v1.0.0", after: "web:v1.1.0" },
    ]);
    const canary = editImages(text, [{ repository: "web-canary", tag: "v1.1.0" }], K8S);
    expect(canary.text).toBe(text.replace("web-canary:v1.0.0", "web-canary:v1.1.0"));
  });

  it("a registry with a port matches only that registry and port", () => {
    const text = `services:\n  a:\n    image: localhost:5000/web:v1.0.0\n  b:\n    image: localhost:5001/web:v1.0.0\n  c:\n    image: web:v1.0.0\n`;
    const out = editImages(text, [{ repository: "localhost:5000/web", tag: "v2.0.0" }], COMPOSE);
    expect(out.text).toBe(text.replace("localhost:5000/web:v1.0.0", "localhost:5000/web:v2.0.0"));
    expect(out.changes).toHaveLength(1);
  });

  it("the same path under another registry does not match", () => {
    const text = deployment(`${ECR}/web:v1.0.0`);
    expect(editImages(text, [web()], K8S)).toEqual({ text, changes: [] });
    const out = editImages(text, [{ repository: `${ECR}/web`, tag: "v1.1.0" }], K8S);
    expect(out.text).toBe(deployment(`${ECR}/web:v1.1.0`));
  });

  it("names are not normalised: postgres is not docker.io/library/postgres", () => {
    const text = deployment("docker.io/library/postgres:14");
    expect(editImages(text, [{ repository: "postgres", tag: "15" }], K8S).text).toBe(text);
  });

  it("an untagged image gets the tag", () => {
    const out = editImages(deployment(`${ECR}/web`), [{ repository: `${ECR}/web`, tag: "v1.0.0" }], K8S);
    expect(out.text).toBe(deployment(`${ECR}/web:v1.0.0`));
    expect(out.changes[0]?.before).toBe(`${ECR}/web`);
  });

  it("a value that is not an image reference (${VAR}) is left alone", () => {
    const text = "services:\n  web:\n    image: ${REGISTRY}/web:${TAG}\n";
    expect(editImages(text, [web()], COMPOSE)).toEqual({ text, changes: [] });
  });

  it("image keys outside a container or service are not touched", () => {
    const text = [
      "kind: ConfigMap",
      "data:",
      "  image: web:v1.0.0",
      "---",
      "kind: Deployment",
      "metadata: {image: web:v1.0.0}",
      "spec:",
      "  template:",
      "    metadata:",
      "      annotations: {image: web:v1.0.0}",
      "    spec:",
      "      volumes: [{name: x, image: web:v1.0.0}]",
      "      containers: []",
      "",
    ].join("\n");
    expect(editImages(text, [web()], K8S)).toEqual({ text, changes: [] });
  });
});

describe("editImages: keeping the bytes", () => {
  it("an existing digest is replaced together with the tag", () => {
    const text = deployment(`web:v1.0.0@${D1}`);
    expect(editImages(text, [web("v1.1.0", D2)], { ...K8S, pin: "tag+digest" }).text).toBe(
      deployment(`web:v1.1.0@${D2}`),
    );
    expect(editImages(text, [web("v1.1.0", D2)], { ...K8S, pin: "tag" }).text).toBe(deployment("web:v1.1.0"));
  });

  it("double-quoted values keep their quotes", () => {
    const out = editImages(deployment('"web:v1.0.0"'), [web()], K8S);
    expect(out.text).toBe(deployment('"web:v1.1.0"'));
    expect(out.changes[0]?.before).toBe("web:v1.0.0");
  });

  it("single-quoted values keep their quotes", () => {
    expect(editImages(deployment("'web:v1.0.0'"), [web()], K8S).text).toBe(deployment("'web:v1.1.0'"));
  });

  it("a trailing comment on the same line is kept", () => {
    const text = deployment("web:v1.0.0   # pinned by pourover\t(do not edit)");
    expect(editImages(text, [web()], K8S).text).toBe(
      deployment("web:v1.1.0   # pinned by pourover\t(do not edit)"),
    );
  });

  it("a quoted value with a trailing comment keeps both", () => {
    const text = deployment('"web:v1.0.0" # c');
    expect(editImages(text, [web()], K8S).text).toBe(deployment('"web:v1.1.0" # c'));
  });

  it("CRLF files keep CRLF on every line, the edited one included", () => {
    const text = deployment("web:v1.0.0 # c").replace(/\n/g, "\r\n");
    const out = editImages(text, [web()], K8S);
    expect(out.text).toBe(deployment("web:v1.1.0 # c").replace(/\n/g, "\r\n"));
    expect(out.text.split("\r\n")).toHaveLength(text.split("\r\n").length);
    expect(out.changes[0]?.line).toBe(10);
  });

  it("tabs inside comments and odd spacing are kept", () => {
    const text =
      "#\tleading\ttabs\nservices:   #\tx\n  web:\n    image:    web:v1.0.0\t# \ttab comment\n\n\n";
    expect(editImages(text, [web()], COMPOSE).text).toBe(text.replace("web:v1.0.0", "web:v1.1.0"));
  });

  it("flow-style containers are edited in place", () => {
    const text = [
      "kind: Pod",
      "spec:",
      "  containers: [{name: a, image: web:v1.0.0}, {name: b, image: 'web-canary:v1.0.0'}]",
      '  initContainers: [ { name: i, image: "web:v0.0.1" } ]',
      "",
    ].join("\n");
    const out = editImages(text, [web()], K8S);
    expect(out.text).toBe(
      text.replace("image: web:v1.0.0", "image: web:v1.1.0").replace('"web:v0.0.1"', '"web:v1.1.0"'),
    );
    expect(out.changes.map((c) => c.line)).toEqual([3, 4]);
  });

  it("a block scalar image has its content replaced", () => {
    const text = "services:\n  web:\n    image: |-\n      web:v1.0.0\n    ports: []\n";
    expect(editImages(text, [web()], COMPOSE).text).toBe(text.replace("web:v1.0.0", "web:v1.1.0"));
  });

  it("no change needed returns the very same string and no changes", () => {
    const text = deployment("web:v1.1.0 # already");
    const out = editImages(text, [web()], K8S);
    expect(out.text).toBe(text);
    expect(out.changes).toEqual([]);
    const pinned = deployment(`web:v1.1.0@${D1}`);
    expect(editImages(pinned, [web("v1.1.0", D1)], { ...K8S, pin: "tag+digest" }).changes).toEqual([]);
  });

  it("a file with no match round-trips byte for byte", () => {
    const text = "# top\r\n\r\nkind: Service # svc\r\nspec:\r\n  ports: [80]\r\n...\r\n";
    const out = editImages(text, [web()], K8S);
    expect(out.text).toBe(text);
    expect(out.changes).toEqual([]);
  });

  it("an empty file and a comment-only file are fine", () => {
    expect(editImages("", [web()], K8S)).toEqual({ text: "", changes: [] });
    expect(editImages("# nothing\n", [web()], COMPOSE)).toEqual({ text: "# nothing\n", changes: [] });
  });
});

describe("editImages: anchors and aliases", () => {
  it("edits the anchored scalar once and never touches the alias", () => {
    const text = [
      "x-image: &img web:v1.0.0 # shared",
      "services:",
      "  web:",
      "    image: *img",
      "  worker:",
      "    image: *img",
      "",
    ].join("\n");
    const out = editImages(text, [web()], COMPOSE);
    expect(out.text).toBe(text.replace("&img web:v1.0.0", "&img web:v1.1.0"));
    expect(out.changes).toEqual([
      { path: "docker-compose.yml", line: 1, repository: "web", before: "web:v1.0.0", after: "web:v1.1.0" },
    ]);
  });

  it("an anchor on an image value and an alias elsewhere: one edit, one change", () => {
    const text = "services:\n  web:\n    image: &w 'web:v1.0.0'\n  web2:\n    image: *w\n";
    const out = editImages(text, [web()], COMPOSE);
    expect(out.text).toBe("services:\n  web:\n    image: &w 'web:v1.1.0'\n  web2:\n    image: *w\n");
    expect(out.changes).toHaveLength(1);
  });

  it("merge keys (<<: *defaults) are followed to the anchored image", () => {
    const text = [
      "x-defaults: &defaults",
      "  image: web:v1.0.0",
      "  restart: always",
      "services:",
      "  a:",
      "    <<: *defaults",
      "  b:",
      "    <<: *defaults",
      "    image: web:v0.9.0 # own key wins",
      "",
    ].join("\n");
    const out = editImages(text, [web()], COMPOSE);
    expect(out.text).toBe(text.replace("web:v1.0.0", "web:v1.1.0").replace("web:v0.9.0", "web:v1.1.0"));
    expect(out.changes.map((c) => c.line)).toEqual([2, 9]);
  });

  it("a container reached through an alias is edited at its anchor", () => {
    const text = [
      "kind: Pod",
      "spec:",
      "  initContainers:",
      "    - &c {name: web, image: web:v1.0.0}",
      "  containers:",
      "    - *c",
      "",
    ].join("\n");
    const out = editImages(text, [web()], K8S);
    expect(out.text).toBe(text.replace("web:v1.0.0", "web:v1.1.0"));
    expect(out.changes).toHaveLength(1);
  });
});

describe("editImages: documents and workload kinds", () => {
  it("--- separated documents with comments and empty documents", () => {
    const text = [
      "# leading comment",
      "---",
      "# empty document follows",
      "---",
      deployment("web:v1.0.0").trimEnd(),
      "--- # comment on the marker",
      "",
      "---",
      "kind: Service",
      "...",
      "---",
      deployment("web:v1.0.0", "StatefulSet").trimEnd(),
      "",
    ].join("\n");
    const out = editImages(text, [web()], K8S);
    expect(out.text).toBe(text.replaceAll("web:v1.0.0", "web:v1.1.0"));
    expect(out.changes.map((c) => c.line)).toEqual([14, 30]);
  });

  it.each(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"])(
    "%s: spec.template.spec",
    (kind) => {
      expect(editImages(deployment("web:v1.0.0", kind), [web()], K8S).text).toBe(
        deployment("web:v1.1.0", kind),
      );
    },
  );

  it("init and ephemeral containers", () => {
    const text = [
      "kind: Pod",
      "spec:",
      "  initContainers:",
      "    - name: init",
      "      image: web:v1.0.0",
      "  containers:",
      "    - name: main",
      "      image: web:v1.0.0",
      "  ephemeralContainers:",
      "    - name: debug",
      "      image: web:v1.0.0",
      "",
    ].join("\n");
    const out = editImages(text, [web()], K8S);
    expect(out.text).toBe(text.replaceAll("web:v1.0.0", "web:v1.1.0"));
    expect(out.changes.map((c) => c.line)).toEqual([5, 8, 11]);
  });

  it("CronJob: spec.jobTemplate.spec.template.spec", () => {
    const text = [
      "apiVersion: batch/v1",
      "kind: CronJob",
      "spec:",
      '  schedule: "*/5 * * * *"',
      "  jobTemplate:",
      "    spec:",
      "      template:",
      "        spec:",
      "          containers:",
      "            - name: job",
      "              image: web:v1.0.0",
      "",
    ].join("\n");
    expect(editImages(text, [web()], K8S).text).toBe(text.replace("web:v1.0.0", "web:v1.1.0"));
  });

  it("kind: List items are walked", () => {
    const text = `kind: List\nitems:\n  - ${deployment("web:v1.0.0").trimEnd().replace(/\n/g, "\n    ")}\n`;
    expect(editImages(text, [web()], K8S).text).toBe(text.replace("web:v1.0.0", "web:v1.1.0"));
  });

  it("a very long file (5,000 documents) is edited everywhere, the rest untouched", () => {
    const doc = deployment("web:v1.0.0 # pinned");
    const text = Array.from({ length: 5000 }, (_, i) => (i % 2 ? `# doc ${i}\n${doc}` : doc)).join("---\n");
    const out = editImages(text, [web()], K8S);
    expect(out.changes).toHaveLength(5000);
    expect(out.text).toBe(text.replaceAll("web:v1.0.0", "web:v1.1.0"));
    expect(out.changes[4999]?.line).toBe(text.split("\n").length - 1);
  });

  it("compose: services with build: are edited, other top-level keys are not", () => {
    const text = [
      "version: '3.8'",
      "x-note:",
      "  image: web:v1.0.0",
      "services:",
      "  web:",
      "    build:",
      "      context: .",
      "      dockerfile: ./docker/Dockerfile-web",
      "    image: web:v1.0.0",
      "  db:",
      "    image: postgres:14-alpine",
      "",
    ].join("\n");
    const out = editImages(text, [web(), { repository: "postgres", tag: "15-alpine" }], COMPOSE);
    expect(changedLines(text, out.text)).toEqual([9, 11]);
    expect(out.text).toContain("    image: web:v1.1.0\n");
    expect(out.text).toContain("  image: web:v1.0.0\n");
  });

  it("compose mode ignores Kubernetes documents and vice versa", () => {
    expect(editImages(deployment("web:v1.0.0"), [web()], COMPOSE).changes).toEqual([]);
    const compose = "services:\n  web:\n    image: web:v1.0.0\n";
    expect(editImages(compose, [web()], K8S).changes).toEqual([]);
  });
});

describe("editImages: pin modes", () => {
  const text = deployment(`${ECR}/web:v1.0.0`);
  const update = { repository: `${ECR}/web`, tag: "v1.1.0", digest: D1 };
  it.each([
    ["tag+digest", `${ECR}/web:v1.1.0@${D1}`],
    ["tag", `${ECR}/web:v1.1.0`],
    ["digest", `${ECR}/web@${D1}`],
  ] as const)("%s", (pin, expected) => {
    const out = editImages(text, [update], { ...K8S, pin });
    expect(out.text).toBe(deployment(expected));
    expect(out.changes[0]?.after).toBe(expected);
  });

  it.each(["tag+digest", "digest"] as const)("%s without a digest falls back to the tag", (pin) => {
    expect(editImages(text, [{ repository: `${ECR}/web`, tag: "v1.1.0" }], { ...K8S, pin }).text).toBe(
      deployment(`${ECR}/web:v1.1.0`),
    );
  });

  it("re-pinning the same tag to a new digest is a change, the same digest is not", () => {
    const pinned = deployment(`web:v1.1.0@${D1}`);
    const opts = { ...K8S, pin: "tag+digest" as const };
    expect(editImages(pinned, [web("v1.1.0", D2)], opts).text).toBe(deployment(`web:v1.1.0@${D2}`));
    expect(editImages(pinned, [web("v1.1.0", D1)], opts).text).toBe(pinned);
  });
});

describe("editImages: version regression", () => {
  const text = `services:\n  web:\n    image: ${ECR}/go-coffeeshop-web:v2.4.5\n`;
  const back = { repository: `${ECR}/go-coffeeshop-web`, tag: "v2.0.0" };

  it("refuses an older version, naming the file, the image and both versions", () => {
    expect(() => editImages(text, [back], COMPOSE)).toThrowError(VersionRegressionError);
    expect(() => editImages(text, [back], COMPOSE)).toThrowError(
      "docker-compose.yml: go-coffeeshop-web is at v2.4.5, refusing to move it back to v2.0.0 (use --force)",
    );
  });

  it("allows it with force", () => {
    expect(editImages(text, [back], { ...COMPOSE, force: true }).text).toBe(text.replace("v2.4.5", "v2.0.0"));
  });

  it("a release candidate is older than its release; a newer one is fine", () => {
    const rc = { repository: `${ECR}/go-coffeeshop-web`, tag: "v2.4.5-rc.1" };
    expect(() => editImages(text, [rc], COMPOSE)).toThrowError(VersionRegressionError);
    const next = { repository: `${ECR}/go-coffeeshop-web`, tag: "v2.10.0" };
    expect(editImages(text, [next], COMPOSE).text).toBe(text.replace("v2.4.5", "v2.10.0"));
    const pre = `services:\n  web:\n    image: web:v1.0.0-rc.10\n`;
    expect(() => editImages(pre, [web("v1.0.0-rc.9")], COMPOSE)).toThrowError(VersionRegressionError);
    expect(editImages(pre, [web("v1.0.0-rc.11")], COMPOSE).changes).toHaveLength(1);
  });

  it.each(["latest", "v2", "v6", "v2.0", "14-alpine"])(
    "a non-semver existing tag (%s) is not comparable: allowed",
    (old) => {
      const t = `services:\n  web:\n    image: web:${old}\n`;
      expect(editImages(t, [web("v0.0.1")], COMPOSE).text).toBe(t.replace(`web:${old}`, "web:v0.0.1"));
    },
  );

  it("a missing tag or a digest-only reference is not comparable: allowed", () => {
    expect(editImages(deployment("web"), [web("v0.0.1")], K8S).changes).toHaveLength(1);
    expect(editImages(deployment(`web@${D1}`), [web("v0.0.1")], K8S).changes).toHaveLength(1);
  });

  it("a regression anywhere in the file refuses the whole edit", () => {
    const t = `services:\n  a:\n    image: web:v1.0.0\n  b:\n    image: web:v9.0.0\n`;
    expect(() => editImages(t, [web("v2.0.0")], COMPOSE)).toThrowError(/web is at v9.0.0/);
  });
});

describe("editImages: kustomization images", () => {
  const kustomization = (entries: string) =>
    `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - web.yaml\nimages:\n${entries}`;

  it("updates an existing newTag and digest, matched on name", () => {
    const text = kustomization(
      `  - name: web\n    newTag: v1.0.0 # c\n    digest: ${D1}\n  - name: web-canary\n    newTag: v1.0.0\n`,
    );
    const out = editImages(text, [web("v1.1.0", D2)], { ...K8S, pin: "tag+digest" });
    expect(out.text).toBe(text.replace("newTag: v1.0.0 # c", "newTag: v1.1.0 # c").replace(D1, D2));
    expect(out.changes).toEqual([
      { path: "web.yaml", line: 6, repository: "web", before: `web:v1.0.0@${D1}`, after: `web:v1.1.0@${D2}` },
    ]);
  });

  it("inserts a missing digest after newTag with the same indentation and line ending", () => {
    const text = kustomization("  - name: web\n    newTag: 'v1.0.0'\n    # trailing\n").replace(
      /\n/g,
      "\r\n",
    );
    const out = editImages(text, [web("v1.1.0", D2)], { ...K8S, pin: "tag+digest" });
    expect(out.text).toBe(
      kustomization(`  - name: web\n    newTag: 'v1.1.0'\n    digest: ${D2}\n    # trailing\n`).replace(
        /\n/g,
        "\r\n",
      ),
    );
  });

  it("matches on newName when present and inserts newTag when missing", () => {
    const text = kustomization(`  - name: web\n    newName: ${ECR}/web\n`);
    const out = editImages(text, [{ repository: `${ECR}/web`, tag: "v1.1.0" }], K8S);
    expect(out.text).toBe(kustomization(`  - name: web\n    newName: ${ECR}/web\n    newTag: v1.1.0\n`));
    expect(editImages(text, [web()], K8S).text).toBe(text);
  });

  it("tag mode removes a stale digest line (it would keep the old image)", () => {
    const text = kustomization(`  - name: web\n    newTag: v1.0.0\n    digest: ${D1}\n`);
    expect(editImages(text, [web()], K8S).text).toBe(kustomization("  - name: web\n    newTag: v1.1.0\n"));
  });

  it("flow-style entries get the digest inserted inline", () => {
    const text = kustomization("  - {name: web, newTag: v1.0.0}\n");
    expect(editImages(text, [web("v1.1.0", D1)], { ...K8S, pin: "tag+digest" }).text).toBe(
      kustomization(`  - {name: web, newTag: v1.1.0, digest: "${D1}"}\n`),
    );
  });

  it("refuses a regression of newTag", () => {
    const text = kustomization("  - name: web\n    newTag: v3.0.0\n");
    expect(() => editImages(text, [web()], K8S)).toThrowError(VersionRegressionError);
  });
});

describe("editImages: invalid input", () => {
  it("invalid YAML names the file and the line", () => {
    const text = "services:\n  web:\n    image: web:v1\n  bad: [unclosed\n";
    expect(() => editImages(text, [web()], COMPOSE)).toThrowError(ManifestInvalidError);
    expect(() => editImages(text, [web()], COMPOSE)).toThrowError(
      /^docker-compose\.yml: invalid YAML at line \d+/,
    );
    expect(() => editImages("a: 1\nb: c: d\n", [web()], K8S)).toThrowError(
      /web\.yaml: invalid YAML at line 2/,
    );
  });

  it("an invalid document among valid ones fails the file", () => {
    const text = `${deployment("web:v1.0.0")}---\nkey: value\n  bad indent: x\n`;
    expect(() => editImages(text, [web()], K8S)).toThrowError(ManifestInvalidError);
  });
});

// ---- property: only image lines differ ---------------------------------------------------------

const serviceName = fc.stringMatching(/^[a-z][a-z0-9]{0,5}(?:-[a-z0-9]{1,4})?$/);
const repoName = fc.constantFrom(
  "web",
  "web-canary",
  "api",
  "localhost:5000/web",
  `${ECR}/web`,
  `${ECR}/worker`,
  "lib/web",
);
const tagName = fc.constantFrom("", ":v1.0.0", ":v1.2.3", ":latest", ":v2", `:v1.0.0@${D1}`, `@${D1}`);
const comment = fc.option(fc.stringMatching(/^[ \ta-z:#'"-]{0,12}$/), { nil: undefined });
const quoting = fc.constantFrom("plain", "single", "double");

const service = fc.record({
  name: serviceName,
  repo: repoName,
  tag: tagName,
  quote: quoting,
  comment,
  build: fc.boolean(),
  extra: fc.uniqueArray(
    fc.tuple(fc.constantFrom("restart", "user", "hostname"), fc.stringMatching(/^[a-z]{1,6}$/)),
    {
      maxLength: 2,
      selector: ([key]) => key,
    },
  ),
  blankAfter: fc.boolean(),
});

describe("editImages: property", () => {
  it("for generated compose files, only lines holding an image value change", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(service, { minLength: 1, maxLength: 8, selector: (s) => s.name }),
        fc.boolean(),
        comment,
        fc.subarray(["web", "localhost:5000/web", `${ECR}/web`, "api"]),
        fc.constantFrom("tag", "tag+digest", "digest") as fc.Arbitrary<"tag" | "tag+digest" | "digest">,
        (services, crlf, header, repos, pin) => {
          const lines: string[] = [];
          if (header !== undefined) lines.push(`#${header}`);
          lines.push("services:");
          const imageLines = new Set<number>();
          for (const s of services) {
            lines.push(`  ${s.name}:${s.comment !== undefined ? ` #${s.comment}` : ""}`);
            if (s.build) lines.push("    build:", "      context: .");
            const ref = s.repo + s.tag;
            const value = s.quote === "single" ? `'${ref}'` : s.quote === "double" ? `"${ref}"` : ref;
            lines.push(`    image: ${value}${s.comment !== undefined ? ` #${s.comment}` : ""}`);
            imageLines.add(lines.length);
            for (const [k, v] of s.extra) lines.push(`    ${k}: ${v}`);
            if (s.blankAfter) lines.push("");
          }
          const eol = crlf ? "\r\n" : "\n";
          const text = lines.join(eol) + eol;
          const updates = repos.map((repository) => ({ repository, tag: "v9.9.9", digest: D2 }));
          const out = editImages(text, updates, { kind: "compose", pin, force: true });
          const before = text.split(eol);
          const after = out.text.split(eol);
          expect(after).toHaveLength(before.length);
          const changed = before.flatMap((line, i) => (line === after[i] ? [] : [i + 1]));
          for (const n of changed) expect(imageLines.has(n)).toBe(true);
          expect(out.changes.map((c) => c.line)).toEqual(changed);
          if (changed.length === 0) expect(out.text).toBe(text);
          // Re-running is a no-op.
          expect(editImages(out.text, updates, { kind: "compose", pin, force: true })).toEqual({
            text: out.text,
            changes: [],
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
