/**
 * The manifest image editor: pins new images in Kubernetes YAML, kustomizations and compose files.
 *
 * Pure, no I/O. The text is parsed with `yaml` only to FIND the image values; the new values are
 * spliced into the ORIGINAL text by source range, so everything else stays byte for byte: comments,
 * quote style, key order, indentation, blank lines, CRLF, other documents, trailing comments.
 *
 * Where images are found
 * - kubernetes: `containers`, `initContainers` and `ephemeralContainers` of the pod spec of a
 *   Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job
 *   (spec.template.spec), CronJob (spec.jobTemplate.spec.template.spec), PodTemplate
 *   (template.spec), Pod (spec), and of every item of a `kind: List`; every document of a
 *   multi-document file. A kustomization (`kind: Kustomization`, or no `kind` and an `images:`
 *   sequence) has its `images:` entries edited, see below.
 * - compose: `services.<name>.image`, whether or not the service also has `build:`.
 * - helm: only the values at the configured dotted paths (`helmPaths`), see "Helm values" below.
 * - Aliases are followed (`image: *web`, `- *container`, `<<: *defaults` merge keys): the
 *   anchored scalar is edited once, the alias itself is never touched, the change is reported once.
 *
 * Matching is on the parsed name (registry with port + path, as written, not normalised): `web`
 * never matches `web-canary`, `postgres` does not match `docker.io/library/postgres`.
 *
 * What is written (`pin`)
 * - "tag+digest": `repo:tag@sha256:...`, "tag": `repo:tag`, "digest": `repo@sha256:...`.
 * - An update without a digest falls back to `repo:tag` in every mode.
 * - The repository written is the update's repository string.
 * - The quote style of the original value is kept; a block scalar (`image: |`) has its content line
 *   replaced.
 *
 * Kustomization `images:` entries
 * - An entry matches when its `newName` (or, without `newName`, its `name`) is the update's
 *   repository. `name`/`newName` are never rewritten.
 * - An existing `newTag` is set to the new tag (in every mode, so it never lies about the version;
 *   kustomize ignores it when `digest` is set). A missing `newTag` is inserted (modes "tag" and
 *   "tag+digest") on a new line after `newName`/`name`, with the same indentation.
 * - With a digest to write (modes "tag+digest" and "digest"), an existing `digest` is replaced and a
 *   missing one is inserted on a new line after `newTag` (or after `newName`/`name` when there is no
 *   `newTag`), same indentation, same line ending. In flow style (`- {name: x, newTag: v1}`) the
 *   field is inserted as `, digest: "sha256:..."` after `newTag`.
 * - Without a digest to write, an existing `digest` would keep kustomize on the old image, so its
 *   line is removed. When that line cannot be removed cleanly (flow style, or `- digest:` as the
 *   entry's first key) a ManifestInvalidError says so rather than leave a stale pin.
 *
 * Helm values (`kind: "helm"`)
 * - Each configured path (`web.image`, `services.proxy.image`, `sidecars.0.image`) names one service;
 *   only the update carrying that `service` applies there. The path holds either a scalar image
 *   reference (edited like every other image value above) or a map with `repository` and `tag`, and
 *   optionally `digest` and `registry` (joined as `registry/repository` for matching).
 * - Either way the value must still name the update's repository (parsed, never text); a path holding
 *   another image is left alone and reported nowhere. `repository`/`registry` are never rewritten.
 * - Map form follows the kustomize rules above with `tag` for `newTag` and `digest` for `digest`:
 *   an existing `tag` is set in every mode, a missing one inserted after `repository` (modes "tag" and
 *   "tag+digest"); a digest to write replaces `digest` or is inserted after `tag`, same indentation;
 *   without a digest to write a stale `digest` line is removed (an empty `digest: ""` is left alone).
 *   A tag that plain YAML would read as a number (`1.10`) is written double-quoted, as Helm would
 *   otherwise render it as a float.
 * - A path that is not in the file, or holds neither form, is a config/manifest mismatch: a
 *   ManifestInvalidError names the file and the path, even when no update is for its service.
 *
 * Version regression
 * - Refused unless `force`: a VersionRegressionError names the file, the image and both versions.
 * - Semantic versions as accepted by `parseVersion` (`v1.2.3`, `v1.2.3-rc.1`) are compared, and so
 *   are the short `vN` and `vN.N` tags real histories hold (`v6` is v6.0.0, `v2.0` is v2.0.0): the
 *   seed history moved v6 → v4, v10 → v2.0 and v2.0 → v1.1, and each is refused here.
 * - A missing tag, a digest-only reference, or any other tag (`latest`, `14-alpine`, `2.0`, `v1.2.3.4`)
 *   on either side is not comparable and is allowed: there is no order to check against.
 *
 * Speed: a line scanner handles plain block-style files (most manifests and compose files) without
 * building a YAML document, and hands anything else to `yaml` (see "fast path" below); both find the
 * same images and produce the same bytes, which the differential tests check.
 *
 * No change needed => the very same string is returned with no changes (`result.text === text`).
 * Invalid YAML => ManifestInvalidError naming the file, line and column (even with no updates).
 * An update whose repository is not a bare image name, whose tag is not a docker tag, or whose
 * digest does not match DIGEST_PATTERN => InvalidInputError. Two updates for the same repository:
 * the later one wins.
 *
 * Long because the contract above is kept whole beside the code that keeps it, and the Editor class
 * carries one file's splice state (edits, pending changes, nodes already edited, the alias resolver)
 * through the kubernetes, compose, kustomize and Helm forms; alias resolution (yaml-resolver.ts) and
 * the fast path (image-line-scanner.ts) are their own modules.
 */

import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  parseAllDocuments,
  parseDocument,
  Scalar,
  type YAMLMap,
} from "yaml";
import { DIGEST_PATTERN } from "../contracts/release.js";
import { InvalidInputError, ManifestInvalidError, VersionRegressionError } from "./errors.js";
import { compareReleaseTags, releaseVersion } from "./release-version.js";

export { compareReleaseTags, releaseVersion };

import { NOT_A_STRING, POD_SPEC_AT_TEMPLATE, scanFast } from "./image-line-scanner.js";
import {
  formatImageReference,
  type ImageReference,
  imageName,
  parseImageReference,
} from "./image-reference.js";
import { Budget, DEFAULT_RESOLVE_BUDGET, type ResolveBudget, Resolver } from "./yaml-resolver.js";

export interface ImageUpdate {
  /** Full "host/path" as in config, e.g. "123456789012.dkr.ecr.us-east-1.amazonaws.com/go-coffeeshop-web". */
  repository: string;
  tag: string;
  digest?: string;
  /** The config service this image is built for; selects the update for a Helm values path. */
  service?: string;
}

/** A Helm values location of one service's image (see `HelmImagePathSchema` in the app config). */
export interface HelmImagePath {
  service: string;
  /** Dotted path into the values YAML: `web.image`, `services.proxy.image`. */
  path: string;
}

export type PinMode = "tag+digest" | "tag" | "digest";

export interface EditOptions {
  kind: "kubernetes" | "compose" | "helm";
  pin: PinMode;
  /** Allow moving an image to an older version. @default false */
  force?: boolean;
  /** The file's path, for error messages and change records. */
  path?: string;
  /** kind "helm" only: where the images are. @default [] */
  helmPaths?: readonly HelmImagePath[];
  /** How much alias and merge-key resolution one file may cost. @default DEFAULT_RESOLVE_BUDGET */
  budget?: Partial<ResolveBudget>;
}

export { DEFAULT_RESOLVE_BUDGET, type ResolveBudget };

export interface ImageChange {
  path: string | undefined;
  /**
   * 1-based line of the edited value (of the entry's `name` for a kustomization entry, of the
   * `repository` key for a Helm image map).
   */
  line: number;
  /** The update's repository. */
  repository: string;
  /** The image as it was, e.g. "web:v1.0.0". */
  before: string;
  /** The image as written, e.g. "web:v1.1.0@sha256:...". */
  after: string;
}

export interface EditResult {
  text: string;
  changes: ImageChange[];
}

/** Docker's tag grammar (the editor accepts any valid tag; release tags are checked upstream). */
const DOCKER_TAG = /^[\w][\w.-]{0,127}$/;
const CONTAINER_LISTS = ["containers", "initContainers", "ephemeralContainers"] as const;
/** `kind: List` items that are Lists themselves, followed this deep. */
const MAX_LIST_DEPTH = 16;

interface PreparedUpdate {
  update: ImageUpdate;
  name: ImageReference;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

/** A field of a kustomize `images:` entry, with its source offsets. */
interface Field {
  value: Scalar;
  keyStart: number;
  valueStart: number;
  valueEnd: number;
}

interface PendingChange {
  offset: number;
  repository: string;
  before: string;
  after: string;
}

export function editImages(text: string, updates: ImageUpdate[], options: EditOptions): EditResult {
  if (options.kind === "helm") return editHelm(text, updates, options);
  const byName = prepareUpdates(updates);
  const fast = scanFast(text, options.kind);
  if (fast) {
    const editor = new Editor(text, byName, options);
    for (const site of fast) editor.imageAt(site.value, site.start, site.end, site.style, site.start);
    return editor.finish();
  }
  return editWithYaml(text, byName, options);
}

/** The general path: every YAML construct, through `yaml`'s document model. */
function editWithYaml(text: string, byName: Map<string, PreparedUpdate>, options: EditOptions): EditResult {
  const docs = parseAllDocuments(text, { prettyErrors: false });
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error) {
      const { line, column } = lineAndColumn(text, error.pos[0]);
      throw new ManifestInvalidError(
        `${label(options)}: invalid YAML at line ${line}, column ${column}: ${error.message}`,
      );
    }
  }

  const editor = new Editor(text, byName, options);
  for (const doc of docs) {
    const contents = doc.contents;
    if (!isMap(contents)) continue;
    if (options.kind === "compose") editor.compose(doc, contents);
    else editor.kubernetes(doc, contents, 0);
  }
  return editor.finish();
}

/**
 * The same edit, always through `yaml` (never the line scanner). For the differential tests.
 * @internal
 */
export function editImagesWithYaml(text: string, updates: ImageUpdate[], options: EditOptions): EditResult {
  if (options.kind === "helm") return editHelm(text, updates, options);
  return editWithYaml(text, prepareUpdates(updates), options);
}

/** Helm values: only the configured paths, always through `yaml` (values files are few and small). */
function editHelm(text: string, updates: ImageUpdate[], options: EditOptions): EditResult {
  const byService = new Map<string, PreparedUpdate>();
  for (const update of updates) {
    const prepared = prepareUpdate(update);
    // A later update for the same service wins, as for the same repository elsewhere.
    if (update.service !== undefined) byService.set(update.service, prepared);
  }
  const doc = parseDocument(text, { prettyErrors: false });
  const error = doc.errors[0];
  if (error) {
    const { line, column } = lineAndColumn(text, error.pos[0]);
    throw new ManifestInvalidError(
      `${label(options)}: invalid YAML at line ${line}, column ${column}: ${error.message}`,
    );
  }
  const editor = new Editor(text, new Map(), options);
  for (const location of options.helmPaths ?? []) editor.helm(doc, location, byService.get(location.service));
  return editor.finish();
}

function prepareUpdates(updates: ImageUpdate[]): Map<string, PreparedUpdate> {
  const byName = new Map<string, PreparedUpdate>();
  for (const update of updates) {
    const prepared = prepareUpdate(update);
    // A later update for the same repository wins.
    byName.set(imageName(prepared.name), prepared);
  }
  return byName;
}

function prepareUpdate(update: ImageUpdate): PreparedUpdate {
  const name = parseImageReference(update.repository);
  if (!name || name.tag !== null || name.digest !== null) {
    throw new InvalidInputError(`"${update.repository}" is not an image repository (no tag, no digest)`);
  }
  if (!DOCKER_TAG.test(update.tag)) throw new InvalidInputError(`"${update.tag}" is not a valid image tag`);
  if (update.digest !== undefined && !DIGEST_PATTERN.test(update.digest)) {
    throw new InvalidInputError(`"${update.digest}" is not a sha256 digest`);
  }
  return { update, name };
}

function label(options: EditOptions): string {
  return options.path ?? "manifest";
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

/** Writes a new scalar value in the style of the one it replaces. */
function styled(style: Scalar.Type | undefined, value: string): string {
  if (style === Scalar.QUOTE_DOUBLE) return `"${value.replace(/[\\"]/g, "\\$&")}"`;
  if (style === Scalar.QUOTE_SINGLE) return `'${value.replace(/'/g, "''")}'`;
  return value;
}

/** Like `styled`, but a plain value YAML would read as a number, boolean or null is double-quoted. */
function styledString(style: Scalar.Type | undefined, value: string): string {
  return (style === undefined || style === Scalar.PLAIN) && NOT_A_STRING.test(value)
    ? styled(Scalar.QUOTE_DOUBLE, value)
    : styled(style, value);
}

type Node = unknown;

class Editor {
  private readonly edits: Edit[] = [];
  private readonly pending: PendingChange[] = [];
  private readonly seen = new Set<object>();
  private readonly resolvers = new Map<Document, Resolver>();
  private readonly budget: Budget;
  private eol: string | undefined;

  constructor(
    private readonly text: string,
    private readonly byName: Map<string, PreparedUpdate>,
    private readonly options: EditOptions,
  ) {
    this.budget = new Budget({ ...DEFAULT_RESOLVE_BUDGET, ...options.budget }, label(options));
  }

  // ---- where the images are ---------------------------------------------------------------

  compose(doc: Document, root: YAMLMap): void {
    const services = this.get(doc, root, "services");
    if (!isMap(services)) return;
    for (const pair of services.items) {
      const service = this.deref(doc, pair.value);
      if (isMap(service)) this.image(this.get(doc, service, "image"));
    }
  }

  kubernetes(doc: Document, root: YAMLMap, depth: number): void {
    const kind = this.get(doc, root, "kind");
    const kindName = isScalar(kind) && typeof kind.value === "string" ? kind.value : undefined;
    if (kindName === undefined || kindName === "Kustomization") {
      const images = this.get(doc, root, "images");
      if (isSeq(images)) {
        for (const item of images.items) {
          const entry = this.deref(doc, item);
          if (isMap(entry)) this.kustomizeEntry(doc, entry);
        }
      }
      return;
    }
    if (kindName === "List") {
      const items = this.get(doc, root, "items");
      if (isSeq(items) && depth < MAX_LIST_DEPTH) {
        for (const item of items.items) {
          const resource = this.deref(doc, item);
          if (isMap(resource)) this.kubernetes(doc, resource, depth + 1);
        }
      }
      return;
    }
    const path = POD_SPEC_AT_TEMPLATE.has(kindName)
      ? ["spec", "template", "spec"]
      : kindName === "CronJob"
        ? ["spec", "jobTemplate", "spec", "template", "spec"]
        : kindName === "PodTemplate"
          ? ["template", "spec"]
          : kindName === "Pod"
            ? ["spec"]
            : undefined;
    if (!path) return;
    let node: Node = root;
    for (const key of path) {
      if (!isMap(node)) return;
      node = this.get(doc, node, key);
    }
    if (!isMap(node)) return;
    for (const list of CONTAINER_LISTS) {
      const containers = this.get(doc, node, list);
      if (!isSeq(containers)) continue;
      for (const item of containers.items) {
        const container = this.deref(doc, item);
        if (isMap(container)) this.image(this.get(doc, container, "image"));
      }
    }
  }

  private deref(doc: Document, node: Node): Node {
    return isAlias(node) ? this.resolver(doc).deref(node) : node;
  }

  /** The value of `key`, aliases followed, `<<` merge keys honoured (own keys win). */
  private get(doc: Document, map: YAMLMap, key: string): Node {
    return this.resolver(doc).get(map, key);
  }

  private resolver(doc: Document): Resolver {
    let resolver = this.resolvers.get(doc);
    if (!resolver) {
      resolver = new Resolver(doc, this.budget);
      this.resolvers.set(doc, resolver);
    }
    return resolver;
  }

  // ---- editing a plain image value -------------------------------------------------------

  /** `only`: the one update that may apply here (Helm paths); otherwise matched by repository. */
  private image(node: Node, only?: PreparedUpdate): void {
    if (!isScalar(node) || typeof node.value !== "string" || !node.range) return;
    if (this.seen.has(node)) return; // an anchored value reached again through an alias
    this.seen.add(node);
    const [start, end] = node.range;
    if (node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED) {
      const value = node.value.replace(/\n+$/, "");
      const source = this.text.slice(start, end);
      const at = source.indexOf(value, source.indexOf("\n") + 1);
      if (at !== -1) this.imageAt(value, start + at, start + at + value.length, Scalar.PLAIN, start, only);
      return;
    }
    this.imageAt(node.value, start, end, node.type ?? Scalar.PLAIN, start, only);
  }

  /** Edits the image `value` written at [start, end) in the given scalar style. */
  imageAt(
    value: string,
    start: number,
    end: number,
    style: Scalar.Type,
    reportAt: number,
    only?: PreparedUpdate,
  ): void {
    const current = parseImageReference(value);
    if (!current) return;
    const prepared = only
      ? imageName(only.name) === imageName(current)
        ? only
        : undefined
      : this.byName.get(imageName(current));
    if (!prepared) return;
    const { update, name } = prepared;
    this.checkRegression(current.repository, current.tag, update.tag);
    const withDigest = update.digest !== undefined && this.options.pin !== "tag";
    const next = formatImageReference({
      registry: name.registry,
      repository: name.repository,
      tag: withDigest && this.options.pin === "digest" ? null : update.tag,
      digest: withDigest ? (update.digest ?? null) : null,
    });
    if (next === value) return;
    this.edits.push({ start, end, text: styled(style, next) });
    this.pending.push({ offset: reportAt, repository: update.repository, before: value, after: next });
  }

  private checkRegression(repository: string, oldTag: string | null, newTag: string): void {
    if (this.options.force || oldTag === null) return;
    const order = compareReleaseTags(newTag, oldTag);
    if (order === null || order >= 0) return;
    throw new VersionRegressionError(
      `${label(this.options)}: ${repository} is at ${oldTag}, refusing to move it back to ${newTag} (use --force)`,
    );
  }

  // ---- editing a kustomization images: entry --------------------------------------------

  private kustomizeEntry(doc: Document, entry: YAMLMap): void {
    const field = (key: string): Field | undefined => this.field(doc, entry, key);
    const str = (f: Field): string => this.fieldText(f);

    const nameField = field("name");
    if (!nameField) return;
    const newNameField = field("newName");
    const effective = parseImageReference(str(newNameField ?? nameField));
    if (!effective || effective.tag !== null || effective.digest !== null) return;
    const prepared = this.byName.get(imageName(effective));
    if (!prepared) return;
    this.pinMap(doc, entry, {
      form: "kustomize",
      names: [nameField, newNameField],
      effective,
      update: prepared.update,
      what: "kustomize image",
    });
  }

  /**
   * Pins a map-form image (a kustomize `images:` entry, a Helm `repository`/`tag` map) by the rules
   * of the file's opening comment: the tag field set or inserted, the digest written, inserted or
   * its stale line removed; the change is reported at `reportAt`.
   */
  private pinMap(
    doc: Document,
    map: YAMLMap,
    m: {
      /** kustomize: `newTag`; helm: `tag`, and `tag: ""` / `digest: ""` are a chart's "unset". */
      form: "kustomize" | "helm";
      /** The name field (where the change is reported) and the optional second one (newName, registry): a missing tag goes after whichever comes later. */
      names: [Field, Field | undefined];
      effective: ImageReference;
      update: ImageUpdate;
      what: string;
    },
  ): void {
    if (this.seen.has(map)) return; // two paths reaching one map through an alias
    this.seen.add(map);
    const helm = m.form === "helm";
    const tagField = this.field(doc, map, helm ? "tag" : "newTag");
    const digestField = this.field(doc, map, "digest");
    const text = (f: Field | undefined) => (f && f.value.value !== null ? this.fieldText(f) : null);
    const oldTag = helm ? text(tagField) || null : text(tagField);
    const oldDigest = helm ? text(digestField) || null : text(digestField);
    const { update } = m;
    this.checkRegression(m.effective.repository, oldTag, update.tag);
    // Helm: a tag YAML would read as a number is quoted; `digest: ""` is "no pin", not a stale one.
    const writeTag = helm ? styledString : styled;
    const staleDigest = helm ? oldDigest !== null : digestField !== undefined;

    const pin = this.options.pin;
    const digest = pin !== "tag" ? update.digest : undefined;
    const editsBefore = this.edits.length;
    const [reportAt, other] = m.names;
    let tagAnchor = other && other.keyStart > reportAt.keyStart ? other : reportAt;
    if (tagField) {
      if (oldTag !== update.tag) this.replaceScalar(tagField, update.tag, writeTag);
      tagAnchor = tagField;
    } else if (pin !== "digest" || digest === undefined) {
      this.insertAfter(
        map,
        tagAnchor,
        helm ? "tag" : "newTag",
        update.tag,
        writeTag(Scalar.PLAIN, update.tag),
      );
    }
    if (digest !== undefined) {
      if (digestField) {
        if (oldDigest !== digest) this.replaceScalar(digestField, digest);
      } else {
        this.insertAfter(map, tagAnchor, "digest", digest);
      }
    } else if (digestField && staleDigest) {
      this.removeLine(map, digestField, m.what);
    }
    if (this.edits.length === editsBefore) return;
    const base = { registry: m.effective.registry, repository: m.effective.repository };
    this.pending.push({
      offset: reportAt.keyStart,
      repository: update.repository,
      before: formatImageReference({ ...base, tag: oldTag, digest: oldDigest }),
      after: formatImageReference({
        ...base,
        tag: tagField || pin !== "digest" || digest === undefined ? update.tag : null,
        digest: digest ?? null,
      }),
    });
  }

  /** A scalar field of a map entry with its offsets; undefined when missing or not a scalar. */
  private field(doc: Document, entry: YAMLMap, key: string): Field | undefined {
    for (const pair of entry.items) {
      if (isScalar(pair.key) && pair.key.value === key && pair.key.range) {
        const value = this.deref(doc, pair.value);
        if (isScalar(value) && value.range) {
          return {
            value,
            keyStart: pair.key.range[0],
            valueStart: value.range[0],
            valueEnd: value.range[1],
          };
        }
        return undefined;
      }
    }
    return undefined;
  }

  /** A field's value as written (plain scalars from the source: `1.10` stays "1.10", not 1.1). */
  private fieldText(f: Field): string {
    return f.value.type === Scalar.PLAIN
      ? this.text.slice(f.valueStart, f.valueEnd)
      : String(f.value.value ?? "");
  }

  private replaceScalar(field: Field, value: string, write = styled): void {
    const start = field.valueStart;
    const end = field.valueEnd;
    // `newTag:` with no value: make sure a space separates the key's colon from what we write.
    const space = start === end && this.text[start - 1] === ":" ? " " : "";
    this.edits.push({ start, end, text: space + write(field.value.type, value) });
  }

  private insertAfter(entry: YAMLMap, anchor: Field, key: string, value: string, blockValue = value): void {
    const text = this.text;
    const valueEnd = anchor.valueEnd;
    if (entry.flow) {
      this.edits.push({ start: valueEnd, end: valueEnd, text: `, ${key}: "${value}"` });
      return;
    }
    const keyStart = anchor.keyStart;
    const lineStart = text.lastIndexOf("\n", keyStart - 1) + 1;
    const indent = " ".repeat(keyStart - lineStart);
    let lineEnd = text.indexOf("\n", valueEnd);
    let eol: string;
    if (lineEnd === -1) {
      lineEnd = text.length;
      eol = this.fileEol();
    } else if (text[lineEnd - 1] === "\r") {
      lineEnd--;
      eol = "\r\n";
    } else {
      eol = "\n";
    }
    this.edits.push({ start: lineEnd, end: lineEnd, text: `${eol}${indent}${key}: ${blockValue}` });
  }

  private removeLine(entry: YAMLMap, field: Field, what = "kustomize image"): void {
    const text = this.text;
    const keyStart = field.keyStart;
    const lineStart = text.lastIndexOf("\n", keyStart - 1) + 1;
    let lineEnd = text.indexOf("\n", field.valueEnd);
    lineEnd = lineEnd === -1 ? text.length : lineEnd + 1;
    const line = text.slice(lineStart, lineEnd);
    const clean = /^[ ]*digest[ ]*:[^\n]*$/.test(line.replace(/\r?\n$/, ""));
    if (entry.flow || text.slice(lineStart, keyStart).trim() !== "" || !clean) {
      throw new ManifestInvalidError(
        `${label(this.options)}: cannot remove the stale digest of ${what} ${field.value.value} ` +
          `at line ${lineAndColumn(text, keyStart).line}; remove it or pin with a digest`,
      );
    }
    this.edits.push({ start: lineStart, end: lineEnd, text: "" });
  }

  private fileEol(): string {
    this.eol ??= /\r\n/.test(this.text) ? "\r\n" : "\n";
    return this.eol;
  }

  // ---- editing a Helm values path -------------------------------------------------------

  /** The image at one configured values path; `prepared` is the update for its service, if any. */
  helm(doc: Document, location: HelmImagePath, prepared: PreparedUpdate | undefined): void {
    const where = `Helm values path "${location.path}" (service ${location.service})`;
    const segments = location.path.split(".");
    let node: Node = doc.contents;
    for (const [i, segment] of segments.entries()) {
      let next: Node;
      if (isMap(node)) next = this.get(doc, node, segment);
      else if (isSeq(node) && /^(?:0|[1-9]\d*)$/.test(segment))
        next = this.deref(doc, node.items[Number(segment)]);
      if (next === undefined) {
        const missing = segments.slice(0, i + 1).join(".");
        throw new ManifestInvalidError(
          `${label(this.options)}: ${where} not found${missing === location.path ? "" : ` (no "${missing}")`}`,
        );
      }
      node = next;
    }
    if (isScalar(node) && typeof node.value === "string") {
      if (prepared) this.image(node, prepared);
      return;
    }
    if (isMap(node)) {
      const repository = this.field(doc, node, "repository");
      if (repository && typeof repository.value.value === "string") {
        if (prepared) this.helmMap(doc, node, repository, prepared, location.path);
        return;
      }
    }
    throw new ManifestInvalidError(
      `${label(this.options)}: ${where} holds neither an image reference nor a map with repository and tag`,
    );
  }

  private helmMap(
    doc: Document,
    map: YAMLMap,
    repoField: Field,
    prepared: PreparedUpdate,
    path: string,
  ): void {
    const registryField = this.field(doc, map, "registry");
    const registry = registryField ? this.fieldText(registryField) : "";
    const repository = this.fieldText(repoField);
    const effective = parseImageReference(registry ? `${registry}/${repository}` : repository);
    if (!effective || effective.tag !== null || effective.digest !== null) return;
    if (imageName(effective) !== imageName(prepared.name)) return;
    this.pinMap(doc, map, {
      form: "helm",
      names: [repoField, registryField],
      effective,
      update: prepared.update,
      what: `the Helm image at ${path},`,
    });
  }

  // ---- result ---------------------------------------------------------------------------

  finish(): EditResult {
    if (this.edits.length === 0) return { text: this.text, changes: [] };
    const order = this.edits.map((edit, index) => ({ edit, index }));
    order.sort((a, b) => a.edit.start - b.edit.start || a.index - b.index);
    const parts: string[] = [];
    let at = 0;
    for (const { edit } of order) {
      parts.push(this.text.slice(at, edit.start), edit.text);
      at = edit.end;
    }
    parts.push(this.text.slice(at));

    this.pending.sort((a, b) => a.offset - b.offset);
    const changes: ImageChange[] = [];
    let line = 1;
    let counted = 0;
    for (const change of this.pending) {
      for (
        let i = this.text.indexOf("\n", counted);
        i !== -1 && i < change.offset;
        i = this.text.indexOf("\n", i + 1)
      ) {
        line++;
        counted = i + 1;
      }
      changes.push({
        path: this.options.path,
        line,
        repository: change.repository,
        before: change.before,
        after: change.after,
      });
    }
    return { text: parts.join(""), changes };
  }
}
