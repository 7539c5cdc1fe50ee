/**
 * The image editor's fast path: a line scanner for plain block YAML.
 *
 * Parsing with `yaml` costs about 1 ms per 100-line file on these machines, over the budget of
 * 1,000 files a second. Most manifests are plain block YAML, so a line scanner handles that subset
 * and hands everything else to `yaml`. It reads `key: &name scalar` and `key: *name` (an alias of a
 * scalar anchored above in the same document: a compose file of thousands of `image: *img` lines
 * would otherwise pay for a full parse); other anchors and aliases, tags, merge keys, block and multi-line
 * scalars, escapes, tabs, BOM, directives, `...`, kustomizations, `kind: List`, quoted, duplicate or
 * non-string keys, multi-line flow collections, and any indentation it does not fully understand.
 * One-line flow collections (`test: ["CMD", "pg_isready"]`) are checked with `yaml` (cached) and
 * accepted only when the word "image" does not occur in them. It never accepts what `yaml` would
 * reject (it bails instead), and it finds exactly the image values `yaml` would find: the
 * differential tests (generated documents, the seed corpus) check both paths against each other.
 *
 * Long because scanFast is one loop over the lines whose state (the indentation stack, the
 * document's kind, anchors, sites) lives in its locals; split up, every line's call would pass that
 * state around on the editor's hot path (the bench holds the editor to 1,000 files a second).
 */
import { isMap, isSeq, parseDocument, Scalar } from "yaml";
import type { EditOptions } from "./image-editor.js";

/** Kinds whose pod spec is at `spec.template.spec`. */
export const POD_SPEC_AT_TEMPLATE = new Set([
  "Deployment",
  "StatefulSet",
  "DaemonSet",
  "ReplicaSet",
  "ReplicationController",
  "Job",
]);

export interface FastSite {
  value: string;
  start: number;
  end: number;
  style: Scalar.Type;
}

interface Frame {
  indent: number;
  seq: boolean;
  path: string;
  keys: Set<string> | undefined;
  index: number;
  /** A key (map) or item (seq) whose value is the block that may follow, or null. */
  pending: string | null;
  /** A sequence written at its parent key's indentation (`containers:\n- name: x`). */
  sameIndent: boolean;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for.
const BAD_CHARS = /[\t\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff]|\r(?!\n)/;
/** Plain scalars cannot start with an indicator ("-", "?", ":" only when followed by a space). */
const INDICATOR_START = /^(?:[,[\]{}#&*!|>'"%@`]|[-?:](?: |$))/;
/** Plain scalars that the YAML 1.2 core schema reads as null, a boolean or a number. */
export const NOT_A_STRING =
  /^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
/** Single-line flow collections already checked with `yaml` (healthcheck tests, ports, ...). */
const flowChecked = new Map<string, boolean>();
const FLOW_CACHE_LIMIT = 2048;

/** A one-line flow collection (`[a, "b"] # c`) with nothing we would edit inside. */
function flowIsSimple(rest: string): boolean {
  let ok = flowChecked.get(rest);
  if (ok === undefined) {
    ok = false;
    if (!/image|[&*!]|\\/.test(rest)) {
      const doc = parseDocument(rest, { prettyErrors: false });
      const contents = doc.contents;
      ok = doc.errors.length === 0 && (isSeq(contents) || isMap(contents)) && contents.flow === true;
    }
    if (flowChecked.size >= FLOW_CACHE_LIMIT) flowChecked.clear();
    flowChecked.set(rest, ok);
  }
  return ok;
}

/** A value from `from` to the end of the line: a scalar, "flow", undefined (empty) or null (bail). */
function scanValue(text: string, from: number, lineEnd: number): ScalarToken | "flow" | null | undefined {
  const first = text[from];
  if (first === "[" || first === "{") return flowIsSimple(text.slice(from, lineEnd)) ? "flow" : null;
  return scanScalar(text, from, lineEnd);
}

interface ScalarToken {
  value: string;
  start: number;
  end: number;
  style: Scalar.Type;
}

/** A scalar from `from` to the end of the line (`lineEnd`, comment excluded); null: not simple. */
function scanScalar(text: string, from: number, lineEnd: number): ScalarToken | null | undefined {
  const first = text[from];
  if (first === '"' || first === "'") {
    // The first closing quote (a missing one bails, so the search runs past this line once at most).
    const close = text.indexOf(first, from + 1);
    if (close === -1 || close >= lineEnd) return null;
    const value = text.slice(from + 1, close);
    if (first === '"' ? value.includes("\\") : text[close + 1] === "'") return null;
    let i = close + 1;
    while (i < lineEnd && text.charCodeAt(i) === 32) i++;
    if (i < lineEnd && (text[i] !== "#" || i === close + 1)) return null;
    return {
      value,
      start: from,
      end: close + 1,
      style: first === '"' ? Scalar.QUOTE_DOUBLE : Scalar.QUOTE_SINGLE,
    };
  }
  // A comment starts at " #"; search this line only (indexOf would run on to the end of the text).
  let end = lineEnd;
  for (let i = from + 1; i < lineEnd; i++) {
    if (text.charCodeAt(i) === 35 && text.charCodeAt(i - 1) === 32) {
      end = i - 1;
      break;
    }
  }
  while (end > from && text.charCodeAt(end - 1) === 32) end--;
  if (end === from) return undefined; // empty: a comment or nothing
  const value = text.slice(from, end);
  if (INDICATOR_START.test(value) || value.includes(": ") || value.endsWith(":")) return null;
  return { value, start: from, end, style: Scalar.PLAIN };
}

/**
 * The image values of `text` (compose: services.*.image; kubernetes: the containers of the pod
 * specs of known workload kinds), or null when the text is outside the simple subset.
 */
export function scanFast(text: string, kind: EditOptions["kind"]): FastSite[] | null {
  if (BAD_CHARS.test(text)) return null;
  const sites: FastSite[] = [];
  let docSites: { path: string; site: FastSite }[] = [];
  let docKind: string | undefined;
  let stack: Frame[] = [];
  /** Scalars anchored so far in this document (anchors do not cross documents). */
  const anchors = new Map<string, ScalarToken>();
  /** Sites already taken: an anchored image reached again through an alias is edited once. */
  const taken = new Set<number>();

  const endDocument = (): boolean => {
    for (const { path, site } of docSites) {
      if (taken.has(site.start)) continue;
      if (kind === "compose") {
        if (COMPOSE_IMAGE.test(path)) {
          sites.push(site);
          taken.add(site.start);
        }
        continue;
      }
      if (docKind === undefined) continue;
      const prefix = POD_SPEC_AT_TEMPLATE.has(docKind)
        ? "\nspec\ntemplate\nspec\n"
        : docKind === "CronJob"
          ? "\nspec\njobTemplate\nspec\ntemplate\nspec\n"
          : docKind === "PodTemplate"
            ? "\ntemplate\nspec\n"
            : docKind === "Pod"
              ? "\nspec\n"
              : undefined;
      if (!prefix || !path.startsWith(prefix)) continue;
      const rest = path.slice(prefix.length);
      if (CONTAINER_IMAGE.test(rest)) {
        sites.push(site);
        taken.add(site.start);
      }
    }
    docSites = [];
    docKind = undefined;
    stack = [];
    anchors.clear();
    return true;
  };

  let pos = 0;
  const length = text.length;
  while (pos < length) {
    let lineEnd = text.indexOf("\n", pos);
    const next = lineEnd === -1 ? length : lineEnd + 1;
    if (lineEnd === -1) lineEnd = length;
    if (text.charCodeAt(lineEnd - 1) === 13) lineEnd--;
    let c = pos;
    while (c < lineEnd && text.charCodeAt(c) === 32) c++;
    const indent = c - pos;
    const ch = text[c];
    if (c === lineEnd || ch === "#") {
      pos = next;
      continue;
    }
    if (indent === 0 && (ch === "-" || ch === ".") && text.startsWith(ch.repeat(3), c)) {
      const after = text[c + 3];
      if (after === undefined || c + 3 === lineEnd || after === " ") {
        if (ch === ".") return null;
        let r = c + 3;
        while (r < lineEnd && text.charCodeAt(r) === 32) r++;
        if (r < lineEnd && text[r] !== "#") return null; // `--- value`
        endDocument();
        pos = next;
        continue;
      }
    }
    if (ch === "%" && indent === 0) return null;

    // What is on the line: "- ...", "key: ...", or something else (bail).
    const dash = ch === "-" && (c + 1 === lineEnd || text[c + 1] === " ");
    let top = stack[stack.length - 1];
    if (!top) {
      stack.push({
        indent,
        seq: dash,
        path: "",
        keys: dash ? undefined : new Set(),
        index: -1,
        pending: null,
        sameIndent: false,
      });
    } else if (top.pending !== null && indent > top.indent) {
      const path = `${top.path}\n${top.pending}`;
      top.pending = null;
      stack.push({
        indent,
        seq: dash,
        path,
        keys: dash ? undefined : new Set(),
        index: -1,
        pending: null,
        sameIndent: false,
      });
    } else if (top.pending !== null && !top.seq && dash && indent === top.indent) {
      const path = `${top.path}\n${top.pending}`;
      top.pending = null;
      stack.push({ indent, seq: true, path, keys: undefined, index: -1, pending: null, sameIndent: true });
    } else {
      top.pending = null;
      while (top && (indent < top.indent || (indent === top.indent && top.sameIndent && !dash))) {
        stack.pop();
        top = stack[stack.length - 1];
        if (top) top.pending = null;
      }
      if (!top || top.indent !== indent || top.seq !== dash) return null;
    }
    top = stack[stack.length - 1] as Frame;

    let keyAt = c;
    if (dash) {
      top.index++;
      keyAt = c + 1;
      while (keyAt < lineEnd && text.charCodeAt(keyAt) === 32) keyAt++;
      if (keyAt === lineEnd || text[keyAt] === "#") {
        top.pending = `#${top.index}`;
        pos = next;
        continue;
      }
      if (text[keyAt] === "-" && (keyAt + 1 === lineEnd || text[keyAt + 1] === " ")) return null;
      const opener = text[keyAt];
      const colon = opener === "[" || opener === "{" ? -1 : findKeyColon(text, keyAt, lineEnd);
      if (colon === -1) {
        if (scanValue(text, keyAt, lineEnd) === null) return null;
        pos = next;
        continue;
      }
      // "- key: value" opens a map at the key's column.
      const frame: Frame = {
        indent: keyAt - pos,
        seq: false,
        path: `${top.path}\n#${top.index}`,
        keys: new Set(),
        index: -1,
        pending: null,
        sameIndent: false,
      };
      stack.push(frame);
      top = frame;
    }

    const colon = findKeyColon(text, keyAt, lineEnd);
    if (colon === -1) return null;
    const key = text.slice(keyAt, colon);
    if (INDICATOR_START.test(key) || NOT_A_STRING.test(key) || key.includes(" #") || key.endsWith(" "))
      return null;
    if (key === "<<") return null;
    const keys = top.keys as Set<string>;
    if (keys.has(key)) return null;
    keys.add(key);
    let v = colon + 1;
    while (v < lineEnd && text.charCodeAt(v) === 32) v++;
    let value: ScalarToken | "flow" | null | undefined;
    let aliased = false;
    if (text[v] === "&") {
      // `key: &name scalar`: an anchored scalar, remembered for the aliases below it. An anchor
      // on anything else (a block collection, an empty value) is left to `yaml`.
      ANCHOR.lastIndex = v;
      const m = ANCHOR.exec(text);
      if (!m || ANCHOR.lastIndex >= lineEnd) return null;
      value = scanScalar(text, ANCHOR.lastIndex, lineEnd);
      if (!value) return null;
      anchors.set(m[1] as string, value);
    } else if (text[v] === "*") {
      // `key: *name`: an alias of a scalar anchored above in this document; anything else bails.
      ALIAS.lastIndex = v;
      const m = ALIAS.exec(text);
      const target = m ? anchors.get(m[1] as string) : undefined;
      if (!m || !target || m.index + m[0].length !== lineEnd || key === "kind" || key === "images")
        return null;
      value = target;
      aliased = true;
    } else value = v === lineEnd || text[v] === "#" ? undefined : scanValue(text, v, lineEnd);
    if (value === null) return null;
    if (value === undefined) {
      top.pending = key;
    } else if (value !== "flow") {
      if (
        (key === "image" || key === "kind") &&
        value.style === Scalar.PLAIN &&
        NOT_A_STRING.test(value.value)
      ) {
        return null;
      }
      if (stack.length === 1 && !aliased) {
        if (key === "kind") docKind = value.value;
        if (key === "images" || (key === "kind" && value.value === "List")) return null;
      }
      if (key === "image") docSites.push({ path: `${top.path}\n${key}`, site: value });
    }
    if (stack.length === 1 && key === "images" && kind === "kubernetes") return null;
    pos = next;
  }
  endDocument();
  return sites;
}

/** The colon ending a simple key on this line (": " or ":" at the end), or -1. */
function findKeyColon(text: string, from: number, lineEnd: number): number {
  const first = text[from];
  if (first === '"' || first === "'") return -1;
  for (let i = from; i < lineEnd; i++) {
    if (text.charCodeAt(i) === 58 && (i + 1 === lineEnd || text.charCodeAt(i + 1) === 32))
      return i === from ? -1 : i;
  }
  return -1;
}

/** `&name ` before a scalar: YAML anchor characters, minus `:` (left to `yaml`), then spaces. */
const ANCHOR = /&([^\s,[\]{}:]+) +/y;
/** `*name`, then nothing but spaces or a ` #` comment to the end of the line. */
const ALIAS = /\*([^\s,[\]{}:]+)(?: +#[^\r\n]*| *)(?=\r?\n|$)/y;

/** Paths are keys joined by "\n" (no simple key holds one); "#3" is item 3 (no simple key starts with "#"). */
const CONTAINER_IMAGE = /^(?:containers|initContainers|ephemeralContainers)\n#\d+\nimage$/;
const COMPOSE_IMAGE = /^\nservices\n[^\n#][^\n]*\nimage$/;
