import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseVersion } from "../../shared/contracts/release.js";
import { ManifestInvalidError, VersionRegressionError } from "../../shared/domain/errors.js";
import {
  compareReleaseTags,
  type EditOptions,
  editImages,
  editImagesWithYaml,
  type ImageUpdate,
  type PinMode,
  releaseVersion,
} from "../../shared/domain/image-editor.js";
import { scanFast } from "../../shared/domain/image-line-scanner.js";

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

  it("a value that is not an image reference (compose interpolation) is left alone", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose interpolation, not a template.
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

  it.each(["latest", "14-alpine", "2.0", "v2.0.0.1", "v02", "V6", "v6-beta"])(
    "a tag with no version order (%s) is not comparable: allowed",
    (old) => {
      const t = `services:\n  web:\n    image: web:${old}\n`;
      expect(editImages(t, [web("v0.0.1")], COMPOSE).text).toBe(t.replace(`web:${old}`, "web:v0.0.1"));
    },
  );

  it.each([
    ["v6", "v4"],
    ["v10", "v2.0"],
    ["v2.0", "v1.1"],
    ["v6", "v5.9.9"],
    ["v2.1", "v2.0.9"],
    ["v1.0.0", "v0"],
  ])("a short tag is ordered as semver: %s back to %s is refused, allowed with force", (old, next) => {
    const t = `services:\n  web:\n    image: web:${old}\n`;
    expect(() => editImages(t, [web(next)], COMPOSE)).toThrowError(
      `docker-compose.yml: web is at ${old}, refusing to move it back to ${next} (use --force)`,
    );
    expect(editImages(t, [web(next)], { ...COMPOSE, force: true }).text).toBe(t.replace(old, next));
  });

  it.each([
    ["v2", "v6"],
    ["v9", "v10"],
    ["v2.0", "v2.0.0"],
    ["v2.0.0", "v2"],
    ["v1.1", "v2.0"],
    ["v2.0", "v2.4.4"],
    ["v6", "v6.0.1-rc.1"],
  ])("a short tag moving forward or to the same version (%s to %s) is allowed", (old, next) => {
    const t = `services:\n  web:\n    image: web:${old}\n`;
    expect(editImages(t, [web(next)], COMPOSE).text).toBe(t.replace(`web:${old}`, `web:${next}`));
  });

  it("compareReleaseTags orders full and short tags, null when either has no order", () => {
    expect(compareReleaseTags("v4", "v6")).toBeLessThan(0);
    expect(compareReleaseTags("v2.0", "v2.0.0")).toBe(0);
    expect(compareReleaseTags("v1.2.0", "v1.2.0-rc.1")).toBeGreaterThan(0);
    expect(compareReleaseTags("latest", "v1.0.0")).toBeNull();
    expect(compareReleaseTags("v1.0.0", "14-alpine")).toBeNull();
    expect(releaseVersion("v10")).toEqual({ major: 10, minor: 0, patch: 0, pre: "" });
    expect(releaseVersion("v2.4")).toEqual({ major: 2, minor: 4, patch: 0, pre: "" });
    expect(releaseVersion("v2.4.5-rc.1")).toEqual(parseVersion("v2.4.5-rc.1"));
  });

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

  it("invalid YAML is reported even when there is nothing to update", () => {
    expect(() => editImages("a: [\n", [], K8S)).toThrowError(ManifestInvalidError);
    expect(() => editImages("a: 1\na: 2\n", [web()], COMPOSE)).toThrowError(/Map keys must be unique/);
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

// ---- differential: the line scanner (fast path) against `yaml` --------------------------------

type Tree = { map: [string, Tree][] } | { seq: Tree[] } | { leaf: string };

const KEYS = [
  "spec",
  "template",
  "containers",
  "initContainers",
  "image",
  "name",
  "services",
  "kind",
  "jobTemplate",
  "env",
  "a.b/c",
  "x",
];
const SIMPLE_LEAVES = [
  "web:v1.0.0",
  "web-canary:v1.0.0",
  `${ECR}/web:v1.2.3@${D1}`,
  "localhost:5000/web",
  '"web:v1.0.0"',
  "'web:v0.1.0'",
  "web:v1.0.0 # c",
  "'web:v1.0.0' #c",
  "Deployment",
  "Pod",
  "CronJob",
  "42",
  "1.35.0 (HEAD)",
  "-Xmx512m",
  '"a # b"',
  "[CMD, pg_isready]",
  '{a: 1, "b": [2]}',
  "http://x:80/y",
];
const ODD_LEAVES = [
  "a: b",
  "null",
  "~",
  "[{name: a, image: web:v1.0.0}]",
  "&anchor web:v1.0.0",
  "*anchor",
  "|",
  "!!str web:v1.0.0",
  '"web\\x3av1"',
  "'it''s'",
  '"unclosed',
  "web:v1.0.0\t# tab",
];

const leaf: fc.Arbitrary<Tree> = fc
  .oneof(
    { arbitrary: fc.constantFrom(...SIMPLE_LEAVES), weight: 40 },
    { arbitrary: fc.constantFrom(...ODD_LEAVES), weight: 1 },
  )
  .map((l) => ({ leaf: l }));
const trees = fc.letrec<{ node: Tree; root: Tree }>((tie) => ({
  root: fc.record({
    map: fc.uniqueArray(fc.tuple(fc.constantFrom(...KEYS), tie("node")), {
      minLength: 1,
      maxLength: 5,
      selector: ([key]) => key,
    }),
  }),
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.record({
      map: fc.uniqueArray(fc.tuple(fc.constantFrom(...KEYS), tie("node")), {
        minLength: 1,
        maxLength: 4,
        selector: ([key]) => key,
      }),
    }),
    fc.record({ seq: fc.array(tie("node"), { minLength: 1, maxLength: 3 }) }),
  ),
}));
const tree: fc.Arbitrary<Tree> = fc.oneof(
  { arbitrary: trees.root, weight: 4 },
  { arbitrary: trees.node, weight: 1 },
);

interface Style {
  sameIndentSeq: boolean;
  step: number;
  comments: boolean;
}

function render(node: Tree, indent: number, style: Style, out: string[]): void {
  const pad = " ".repeat(indent);
  if ("leaf" in node) {
    out.push(`${pad}${node.leaf}`);
    return;
  }
  if ("map" in node) {
    for (const [key, value] of node.map) {
      if ("leaf" in value) out.push(`${pad}${key}: ${value.leaf}`);
      else {
        out.push(`${pad}${key}:${style.comments ? " # open" : ""}`);
        const childIndent = "seq" in value && style.sameIndentSeq ? indent : indent + style.step;
        render(value, childIndent, style, out);
      }
    }
    return;
  }
  for (const item of node.seq) {
    if ("leaf" in item) out.push(`${pad}- ${item.leaf}`);
    else if ("map" in item) {
      const inner: string[] = [];
      render(item, indent + 2, style, inner);
      out.push(`${pad}- ${(inner[0] ?? "").trimStart()}`, ...inner.slice(1));
    } else {
      out.push(`${pad}-`);
      render(item, indent + style.step, style, out);
    }
  }
}

const JUNK = [
  "image: web:v0.0.1",
  "",
  "# comment",
  "  # indented comment",
  "---",
  "--- # doc",
  "...",
  "\tkey: tab",
  "   odd: indent",
  "%YAML 1.2",
  "- stray",
  "key: dup",
];

function outcome(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (error) {
    return { error: (error as Error).name, message: (error as Error).message.replace(/ at line.*/, "") };
  }
}

describe("editImages: the fast path agrees with yaml", () => {
  it("on generated documents, valid or not", () => {
    let fast = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            tree,
            fc.record({ sameIndentSeq: fc.boolean(), step: fc.constantFrom(2, 4), comments: fc.boolean() }),
          ),
          {
            minLength: 1,
            maxLength: 3,
          },
        ),
        fc.oneof(
          { arbitrary: fc.constant([] as [number, string][]), weight: 3 },
          {
            arbitrary: fc.array(fc.tuple(fc.nat(), fc.constantFrom(...JUNK)), { minLength: 1, maxLength: 2 }),
            weight: 1,
          },
        ),
        fc.boolean(),
        fc.constantFrom("kubernetes", "compose") as fc.Arbitrary<"kubernetes" | "compose">,
        fc.constantFrom("tag", "tag+digest", "digest") as fc.Arbitrary<PinMode>,
        (docs, junk, crlf, kind, pin) => {
          const lines: string[] = [];
          docs.forEach(([t, style], i) => {
            if (i > 0) lines.push("---");
            render(t, 0, style, lines);
          });
          for (const [at, line] of junk) lines.splice(at % (lines.length + 1), 0, line);
          const eol = crlf ? "\r\n" : "\n";
          const text = lines.join(eol) + eol;
          const updates = [web("v1.5.0", D2), { repository: `${ECR}/web`, tag: "v1.5.0", digest: D2 }];
          const options: EditOptions = { kind, pin, path: "gen.yaml" };
          if (scanFast(text, kind) !== null) fast++;
          expect(outcome(() => editImages(text, updates, options))).toEqual(
            outcome(() => editImagesWithYaml(text, updates, options)),
          );
        },
      ),
      { numRuns: 1000 },
    );
    // The comparison means something only if the fast path took a fair share of the inputs.
    expect(fast).toBeGreaterThan(200);
  });

  it("on generated workloads and compose files (all on the fast path)", () => {
    const imageLeaf = fc.constantFrom(...SIMPLE_LEAVES.filter((l) => l.includes("web")));
    const container = fc
      .tuple(
        fc.constantFrom("a", "b", "web"),
        imageLeaf,
        fc.subarray([
          ["ports", { leaf: "[80, 443]" }],
          ["args", { seq: [{ leaf: "-Xmx512m" }, { leaf: '"a # b"' }] }],
          [
            "env",
            {
              seq: [
                {
                  map: [
                    ["name", { leaf: "X" }],
                    ["value", { leaf: "'1'" }],
                  ],
                },
              ],
            },
          ],
        ] as [string, Tree][]),
        fc.boolean(),
      )
      .map(([name, image, extra, imageFirst]): Tree => {
        const own: [string, Tree][] = [["name", { leaf: name }], ...extra];
        return {
          map: imageFirst ? [["image", { leaf: image }], ...own] : [...own, ["image", { leaf: image }]],
        };
      });
    const lists = fc.uniqueArray(
      fc.tuple(
        fc.constantFrom("containers", "initContainers", "ephemeralContainers"),
        fc.array(container, { minLength: 1, maxLength: 3 }),
      ),
      { minLength: 1, maxLength: 3, selector: ([list]) => list },
    );
    const workload = fc
      .tuple(fc.constantFrom("Deployment", "StatefulSet", "Job", "CronJob", "Pod", "Service"), lists)
      .map(([kind, ls]): Tree => {
        const podSpec: Tree = { map: ls.map(([list, items]): [string, Tree] => [list, { seq: items }]) };
        const template: Tree = {
          map: [
            ["metadata", { map: [["labels", { map: [["app", { leaf: "web" }]] }]] }],
            ["spec", podSpec],
          ],
        };
        const spec: Tree =
          kind === "Pod"
            ? podSpec
            : kind === "CronJob"
              ? {
                  map: [
                    ["schedule", { leaf: '"*/5 * * * *"' }],
                    ["jobTemplate", { map: [["spec", { map: [["template", template]] }]] }],
                  ],
                }
              : {
                  map: [
                    ["replicas", { leaf: "2" }],
                    ["template", template],
                  ],
                };
        return {
          map: [
            ["apiVersion", { leaf: "apps/v1" }],
            ["kind", { leaf: kind }],
            ["spec", spec],
          ],
        };
      });
    const compose = fc
      .uniqueArray(fc.tuple(fc.constantFrom("web", "api", "db", "worker"), imageLeaf, fc.boolean()), {
        minLength: 1,
        maxLength: 4,
        selector: ([name]) => name,
      })
      .map(
        (services): Tree => ({
          map: [
            ["version", { leaf: '"3.8"' }],
            [
              "services",
              {
                map: services.map(([name, image, build]): [string, Tree] => [
                  name,
                  {
                    map: [
                      ...(build
                        ? ([["build", { map: [["context", { leaf: "." }]] }]] as [string, Tree][])
                        : []),
                      ["image", { leaf: image }],
                    ],
                  },
                ]),
              },
            ],
          ],
        }),
      );
    let changed = 0;
    fc.assert(
      fc.property(
        fc.array(workload, { minLength: 1, maxLength: 3 }),
        compose,
        fc.record({ sameIndentSeq: fc.boolean(), step: fc.constantFrom(2, 4), comments: fc.boolean() }),
        fc.boolean(),
        fc.constantFrom("tag", "tag+digest", "digest") as fc.Arbitrary<PinMode>,
        (workloads, composeTree, style, crlf, pin) => {
          const eol = crlf ? "\r\n" : "\n";
          const k8s: string[] = [];
          workloads.forEach((w, i) => {
            if (i > 0) k8s.push(style.comments ? "--- # next" : "---");
            render(w, 0, style, k8s);
          });
          const composeLines: string[] = [];
          render(composeTree, 0, style, composeLines);
          const updates = [web("v1.5.0", D2), { repository: `${ECR}/web`, tag: "v1.5.0", digest: D2 }];
          for (const [kind, lines] of [
            ["kubernetes", k8s],
            ["compose", composeLines],
          ] as const) {
            const text = lines.join(eol) + eol;
            expect(scanFast(text, kind)).not.toBeNull();
            const options: EditOptions = { kind, pin, path: "gen.yaml", force: true };
            const fast = editImages(text, updates, options);
            expect(fast).toEqual(editImagesWithYaml(text, updates, options));
            changed += fast.changes.length;
          }
        },
      ),
      { numRuns: 400 },
    );
    expect(changed).toBeGreaterThan(400);
  });

  it("on every hand-written case of this file", () => {
    // Inputs the fast path must hand to yaml (or treat exactly like it).
    const tricky = [
      "services:\n  web:\n    image : web:v1.0.0\n",
      "services:\n  web:\n    image: web:v1.0.0\n    image: web:v1.0.0\n",
      "services:\n- image: web:v1.0.0\n",
      "services:\n  web:\n    image: web:v1.0.0\n      continued\n",
      "services:\n  web:\n    image: 'web:v1.0.0'x\n",
      'services:\n  web:\n    image: "web:v1.0.0"#c\n',
      "services:\n  web:\n    image: web:v1.0.0\n   odd: 1\n",
      "services:\n  web:\n    image: web:v1.0.0\r  x: 1\n",
      "\ufeffservices:\n  web:\n    image: web:v1.0.0\n",
      "services:\n  1:\n    image: web:v1.0.0\n  01:\n    image: web:v1.0.0\n",
      "--- !!map\nservices:\n  web:\n    image: web:v1.0.0\n",
      "services:\n  web:\n    image: web:v1.0.0\n...\nservices:\n  web:\n    image: web:v1.0.0\n",
      "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: 12\n",
      'services:\n  web:\n    image: "web:v1.0.0" # say "hi"\n',
      "services:\n  web:\n    image: 'web:v1.0.0' # it's\n",
      'services:\n  web:\n    image: "web:v1.0.0\n',
      "services:\n  web:\n    image: web:v1.0.0 #c: d\n    x: a#b: c\n",
      "services:\n  web:\n    image: web:v1.0.0\n  api:\n  - image: web:v1.0.0\n",
    ];
    for (const text of tricky) {
      for (const kind of ["kubernetes", "compose"] as const) {
        const options: EditOptions = { kind, pin: "tag", force: true, path: "t.yaml" };
        expect(outcome(() => editImages(text, [web()], options))).toEqual(
          outcome(() => editImagesWithYaml(text, [web()], options)),
        );
      }
    }
    const texts = [
      deployment("web:v1.0.0"),
      deployment("'web:v1.0.0' # c").replace(/\n/g, "\r\n"),
      "services:\n  web:\n    build: .\n    image: web:v1.0.0\n    healthcheck:\n      test: [CMD, x]\n",
      'kind: Pod\nspec:\n  containers:\n  - name: a\n    image: web:v1.0.0\n  - name: b\n    image: "web:v0.9.0"\n',
      "kind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          initContainers:\n            - image: web # c\n",
    ];
    for (const text of texts) {
      for (const kind of ["kubernetes", "compose"] as const) {
        expect(scanFast(text, kind)).not.toBeNull();
        const options: EditOptions = { kind, pin: "tag+digest", force: true };
        expect(editImages(text, [web("v2.0.0", D1)], options)).toEqual(
          editImagesWithYaml(text, [web("v2.0.0", D1)], options),
        );
      }
    }
  });
});
