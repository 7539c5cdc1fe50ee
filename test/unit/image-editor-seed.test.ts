/**
 * Golden tests over the real seed corpus (read-only, `../shared/corpus/seed/` beside the clone).
 *
 * The 22 bot commits "Update image version for docker compose" of go-coffeshop were made with
 *   sed -i -E "s|(image: <ecr>/go-coffeeshop-web)(:.*)?|\1:$TAG|"
 * Our editor is run on each before/ with the commit's new tag (pin "tag"; force only for the three
 * downgrades, which are refused without it) and compared with after/. Where sed was right we produce
 * the same bytes; where it was wrong the test title names the case and asserts what we produce instead.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseVersion, TAG_PATTERN } from "../../shared/contracts/release.js";
import { VersionRegressionError } from "../../shared/domain/errors.js";
import {
  compareReleaseTags,
  type EditOptions,
  editImages,
  editImagesWithYaml,
  type ImageUpdate,
} from "../../shared/domain/image-editor.js";
import { scanFast } from "../../shared/domain/image-line-scanner.js";
import { parseImageReference } from "../../shared/domain/image-reference.js";

const SEED = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/corpus/seed");
const BUMPS = join(SEED, "chuc-thien-go-coffeshop@tag-bumps");
const APP = join(SEED, "chuc-thien-go-coffeshop");
const ECR = "492804330065.dkr.ecr.us-east-2.amazonaws.com";
const WEB = `${ECR}/go-coffeeshop-web`;
const SERVICES = ["proxy", "product", "counter", "barista", "kitchen", "web"] as const;
const DIGEST = `sha256:${"5".repeat(64)}`;

const present = existsSync(BUMPS) && existsSync(APP);
if (!present) {
  console.warn(`[image-editor-seed] seed corpus not found at ${SEED}: seed golden tests are skipped`);
}

interface Bump {
  commit: string;
  from: string;
  to: string;
}

function readBumps(): Bump[] {
  const index = readFileSync(join(BUMPS, "INDEX.txt"), "utf8");
  return index.split("\n").flatMap((line) => {
    const m = /^([0-9a-f]{7}) \| \S+ \| -(\S+)\s+\+(\S+)\s*$/.exec(line);
    return m?.[1] && m[2] && m[3] ? [{ commit: m[1], from: m[2], to: m[3] }] : [];
  });
}

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : [path];
    });
}

function kindOf(file: string): EditOptions["kind"] {
  return /compose/.test(basename(file)) ? "compose" : "kubernetes";
}

function tagOf(image: string): string {
  const tag = parseImageReference(image)?.tag;
  if (!tag) throw new Error(`no tag in ${image}`);
  return tag;
}

/** 1-based numbers of the lines that differ (line endings are part of a line here). */
function changedLines(a: string, b: string): number[] {
  const x = a.split("\n");
  const y = b.split("\n");
  expect(y.length).toBe(x.length);
  return x.flatMap((line, i) => (line === y[i] ? [] : [i + 1]));
}

/**
 * What sed got wrong, per commit (everything else it got right: we produce the same bytes).
 * - crlf: the `(:.*)?` group swallowed the `\r` of a CRLF line, leaving one LF line in a CRLF file.
 * - latest: the bot pinned the mutable `:latest` (our release tags must match TAG_PATTERN).
 * - downgrade: the bot moved the image to an older version (v6 → v4, v10 → v2.0, v2.0 → v1.1): short
 *   `vN` / `vN.N` tags are ordered as N.0.0 / N.N.0, so we refuse each without force.
 * - stale: the bot edited from a base that had already moved (a race between two runs).
 */
const WRONG: Record<string, { crlf?: string[]; latest?: true; downgrade?: true; stale?: true }> = {
  "42e3bf2": { latest: true },
  "7be2b9c": { crlf: ["docker-compose.yml"] },
  d465fab: { stale: true },
  "255466e": { downgrade: true, stale: true },
  "33bf15a": { latest: true },
  f57acb1: { crlf: ["docker-compose.yml"] },
  "1fdcf75": { latest: true },
  "9ef7f94": { latest: true, stale: true },
  f698ec6: { latest: true },
  fb2065a: { crlf: ["manifest/web/web-deployment.yaml"] },
  "779158b": { crlf: ["manifest/web/web-deployment.yaml"], downgrade: true },
  c88a95e: { crlf: ["manifest/web/web-deployment.yaml"], downgrade: true },
};

function title(bump: Bump): string {
  const wrong = WRONG[bump.commit];
  const notes: string[] = [];
  if (wrong?.crlf)
    notes.push(`sed dropped the CR of the edited line in ${wrong.crlf.join(", ")}: we keep CRLF`);
  if (wrong?.latest) notes.push("sed pinned mutable :latest: TAG_PATTERN refuses it upstream");
  if (wrong?.downgrade) notes.push("downgrade: refused without --force, produced with it");
  if (wrong?.stale) notes.push("race: edited from a stale base");
  const verdict = notes.length ? `WRONG: ${notes.join("; ")}` : "sed was right: identical bytes";
  const from = parseImageReference(bump.from)?.tag ?? "(untagged)";
  return `${bump.commit} ${from} -> ${tagOf(bump.to)}: ${verdict}`;
}

describe.skipIf(!present)("seed: the 22 bot tag bumps of go-coffeshop", () => {
  const bumps = present ? readBumps() : [];

  it("INDEX.txt lists 22 commits, each with before/ and after/", () => {
    expect(bumps).toHaveLength(22);
    for (const { commit } of bumps) {
      expect(existsSync(join(BUMPS, commit, "before", "docker-compose.yml"))).toBe(true);
      expect(existsSync(join(BUMPS, commit, "after", "docker-compose.yml"))).toBe(true);
    }
  });

  it.each(bumps.map((bump) => [title(bump), bump] as const))("%s", (_title, bump) => {
    const wrong = WRONG[bump.commit] ?? {};
    const update: ImageUpdate = { repository: WEB, tag: tagOf(bump.to) };
    const beforeDir = join(BUMPS, bump.commit, "before");
    for (const file of walk(beforeDir)) {
      const rel = relative(beforeDir, file);
      const before = readFileSync(file, "utf8");
      const sed = readFileSync(join(BUMPS, bump.commit, "after", rel), "utf8");
      const options: EditOptions = { kind: kindOf(file), pin: "tag", path: rel };
      const ours = editImages(before, [update], { ...options, force: wrong.downgrade === true });

      // We change exactly the line sed changed, and report it.
      const lines = changedLines(before, sed);
      expect(lines).toHaveLength(1);
      expect(ours.changes.map((c) => c.line)).toEqual(lines);
      expect(ours.changes[0]?.after).toBe(`${WEB}:${update.tag}`);
      if (rel === "docker-compose.yml") {
        expect(ours.changes[0]?.before).toBe(bump.from);
        expect(ours.changes[0]?.after).toBe(bump.to);
      }

      if (wrong.crlf?.includes(rel)) {
        // sed: "...:v2\n" in a CRLF file; ours keeps "\r\n" on the edited line too.
        expect(ours.text).not.toBe(sed);
        const line = (lines[0] ?? 0) - 1;
        expect(before.split("\n")[line]?.endsWith("\r")).toBe(true);
        expect(sed.split("\n")[line]?.endsWith("\r")).toBe(false);
        const expected = sed.split("\n");
        expected[line] = `${expected[line]}\r`;
        expect(ours.text).toBe(expected.join("\n"));
        expect(ours.text.split("\r\n")).toHaveLength(before.split("\r\n").length);
      } else {
        expect(ours.text).toBe(sed);
      }
    }

    if (wrong.latest) expect(TAG_PATTERN.test(update.tag)).toBe(false);
    const from = parseImageReference(bump.from)?.tag ?? "";
    if (wrong.downgrade) {
      // Short tags, not full semver: parseVersion alone cannot order them, releaseVersion does.
      expect(parseVersion(from) === null || parseVersion(update.tag) === null).toBe(true);
      expect(compareReleaseTags(update.tag, from)).toBeLessThan(0);
      for (const file of walk(beforeDir)) {
        const rel = relative(beforeDir, file);
        const before = readFileSync(file, "utf8");
        expect(() =>
          editImages(before, [update], { kind: kindOf(file), pin: "tag", path: rel }),
        ).toThrowError(
          new VersionRegressionError(
            `${rel}: go-coffeeshop-web is at ${from}, refusing to move it back to ${update.tag} (use --force)`,
          ),
        );
      }
    } else {
      // Every other bump moves forward or has no order (latest): allowed without force.
      expect((compareReleaseTags(update.tag, from) ?? 0) >= 0).toBe(true);
    }
  });

  it("the stale-base commits are exactly the ones whose old image is not the previous commit's new image", () => {
    const stale = bumps.filter((b, i) => i > 0 && b.from !== bumps[i - 1]?.to).map((b) => b.commit);
    expect(stale).toEqual(Object.keys(WRONG).filter((c) => WRONG[c]?.stale));
  });

  it("exactly three bumps of this history are downgrades, the ones sed let through", () => {
    const downgrades = bumps
      .filter((b) => (compareReleaseTags(tagOf(b.to), parseImageReference(b.from)?.tag ?? "") ?? 0) < 0)
      .map((b) => `${b.commit} ${parseImageReference(b.from)?.tag} -> ${tagOf(b.to)}`);
    expect(downgrades).toEqual(["255466e v6 -> v4", "779158b v10 -> v2.0", "c88a95e v2.0 -> v1.1"]);
    expect(Object.keys(WRONG).filter((c) => WRONG[c]?.downgrade)).toEqual(["255466e", "779158b", "c88a95e"]);
  });

  it("a semver downgrade in this history is refused without force (v4.5.6 back to v2.4.5), allowed with it", () => {
    const dir = join(BUMPS, "c8879e6", "after");
    const back: ImageUpdate = { repository: WEB, tag: "v2.4.5" };
    const compose = readFileSync(join(dir, "docker-compose.yml"), "utf8");
    expect(() =>
      editImages(compose, [back], { kind: "compose", pin: "tag", path: "docker-compose.yml" }),
    ).toThrowError(
      new VersionRegressionError(
        "docker-compose.yml: go-coffeeshop-web is at v4.5.6, refusing to move it back to v2.4.5 (use --force)",
      ),
    );
    const deployment = readFileSync(join(dir, "manifest/web/web-deployment.yaml"), "utf8");
    const path = "manifest/web/web-deployment.yaml";
    expect(() => editImages(deployment, [back], { kind: "kubernetes", pin: "tag", path })).toThrowError(
      VersionRegressionError,
    );
    const forced = editImages(deployment, [back], { kind: "kubernetes", pin: "tag", path, force: true });
    expect(forced.text).toBe(deployment.replace(`${WEB}:v4.5.6`, `${WEB}:v2.4.5`));
  });

  it("re-running a bump on its own result is a no-op (sed's re-run failed with 'nothing to commit')", () => {
    for (const bump of bumps) {
      const after = readFileSync(join(BUMPS, bump.commit, "after", "docker-compose.yml"), "utf8");
      const out = editImages(after, [{ repository: WEB, tag: tagOf(bump.to) }], {
        kind: "compose",
        pin: "tag",
      });
      expect(out.text).toBe(after);
      expect(out.changes).toEqual([]);
    }
  });
});

describe.skipIf(!present)("seed: every manifest round-trips byte-identical when no image matches", () => {
  // The whole corpus: both apps, the other branches and every before/ and after/ of the bumps.
  const files = present ? walk(SEED).filter((f) => /\.ya?ml/.test(basename(f))) : [];
  // Near misses: a prefix of every ECR repository, a suffix and an extension of a bare name, a
  // normalised spelling of postgres, and an unrelated image.
  const misses: ImageUpdate[] = [
    { repository: `${ECR}/go-coffeeshop`, tag: "v9.9.9", digest: DIGEST },
    { repository: "coffeeshop-web", tag: "v9.9.9" },
    { repository: "go-coffeeshop-web-canary", tag: "v9.9.9" },
    { repository: "example.invalid/none", tag: "v9.9.9" },
    { repository: "docker.io/library/postgres", tag: "99" },
  ];

  it("finds the files, install.yaml (59 documents) among them", () => {
    expect(files.length).toBeGreaterThan(40);
    for (const dir of ["chuc-thien-go-coffeshop@branches", "chuc-thien-go-coffeshop@tag-bumps"]) {
      expect(files.filter((f) => relative(SEED, f).startsWith(`${dir}/`)).length).toBeGreaterThan(0);
    }
    expect(files.filter((f) => /compose/.test(basename(f))).length).toBeGreaterThanOrEqual(44);
    const install = readFileSync(join(APP, "argoCD/install.yaml"), "utf8");
    expect(install.split(/^---\s*$/m).length).toBeGreaterThanOrEqual(59);
  });

  it.each(files.map((f) => [relative(SEED, f), f] as const))("%s", (_rel, file) => {
    const text = readFileSync(file, "utf8");
    for (const kind of ["kubernetes", "compose"] as const) {
      const out = editImages(text, misses, { kind, pin: "tag+digest", path: file });
      expect(out.changes).toEqual([]);
      expect(out.text).toBe(text);
    }
  });
});

describe.skipIf(!present)("seed: a six-service release of go-coffeshop", () => {
  const updates: ImageUpdate[] = SERVICES.map((s) => ({
    repository: `${ECR}/go-coffeeshop-${s}`,
    tag: "v5.0.0",
    digest: DIGEST,
  }));
  const files = present
    ? [
        join(APP, "docker-compose.yml"),
        ...readdirSync(join(APP, "manifest"))
          .sort()
          .flatMap((dir) => {
            const path = join(APP, "manifest", dir, `${dir}-deployment.yaml`);
            return existsSync(path) ? [path] : [];
          }),
      ]
    : [];

  it("covers the compose file and the seven deployments", () => {
    expect(files.map((f) => relative(APP, f))).toEqual([
      "docker-compose.yml",
      "manifest/barista/barista-deployment.yaml",
      "manifest/counter/counter-deployment.yaml",
      "manifest/kitchen/kitchen-deployment.yaml",
      "manifest/product/product-deployment.yaml",
      "manifest/proxy/proxy-deployment.yaml",
      "manifest/rabbitmq/rabbitmq-deployment.yaml",
      "manifest/web/web-deployment.yaml",
    ]);
  });

  it.each(files.map((f) => [relative(APP, f), f] as const))(
    "%s: exactly the image lines change",
    (rel, file) => {
      const text = readFileSync(file, "utf8");
      const out = editImages(text, updates, { kind: kindOf(file), pin: "tag+digest", path: rel });
      const lines = text.split("\n");
      const imageLines = lines.flatMap((line, i) =>
        /^\s*image: 492804330065\.dkr\.ecr\.us-east-2\.amazonaws\.com\/go-coffeeshop-[a-z]+(:\S+)?\r?$/.test(
          line,
        )
          ? [i + 1]
          : [],
      );
      expect(changedLines(text, out.text)).toEqual(imageLines);
      expect(out.changes.map((c) => c.line)).toEqual(imageLines);
      expect(rel === "docker-compose.yml" ? 6 : rel.includes("rabbitmq") ? 0 : 1).toBe(imageLines.length);
      const after = out.text.split("\n");
      for (const n of imageLines) {
        const line = after[n - 1] ?? "";
        expect(line).toMatch(/go-coffeeshop-[a-z]+:v5\.0\.0@sha256:5{64}\r?$/);
        // The line ending of the edited line is the one it had (web-deployment.yaml mixes CRLF and LF).
        expect(line.endsWith("\r")).toBe((lines[n - 1] ?? "").endsWith("\r"));
      }
      // Idempotent: the second run changes nothing.
      expect(editImages(out.text, updates, { kind: kindOf(file), pin: "tag+digest" }).text).toBe(out.text);
    },
  );
});

describe.skipIf(!present)("seed: the line scanner and yaml agree on every file", () => {
  const files = present
    ? [...walk(APP), ...walk(join(SEED, "thangchung-go-coffeeshop")), ...walk(BUMPS)].filter((f) =>
        /\.ya?ml/.test(basename(f)),
      )
    : [];
  const updates: ImageUpdate[] = [
    // Newer than any tag in the corpus (v10 is there), so no file is a regression.
    ...SERVICES.map((s) => ({ repository: `${ECR}/go-coffeeshop-${s}`, tag: "v99.0.0", digest: DIGEST })),
    ...SERVICES.map((s) => ({ repository: `go-coffeeshop-${s}`, tag: "v99.0.0", digest: DIGEST })),
    { repository: "postgres", tag: "15-alpine" },
    { repository: "rabbitmq", tag: "3.13-management-alpine" },
  ];

  it.each(files.map((f) => [relative(SEED, f), f] as const))("%s", (_rel, file) => {
    const text = readFileSync(file, "utf8");
    for (const kind of ["kubernetes", "compose"] as const) {
      const options: EditOptions = { kind, pin: "tag+digest", path: file };
      expect(editImages(text, updates, options)).toEqual(editImagesWithYaml(text, updates, options));
    }
  });

  it("the compose files and deployments of the app take the fast path", () => {
    const common = files.filter((f) => /docker-compose|-deployment\.yaml$/.test(basename(f)));
    expect(common.length).toBeGreaterThan(40);
    for (const file of common) {
      expect([relative(SEED, file), scanFast(readFileSync(file, "utf8"), kindOf(file)) !== null]).toEqual([
        relative(SEED, file),
        true,
      ]);
    }
  });
});
