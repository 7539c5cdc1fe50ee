/**
 * Alias and merge-key resolution for the image editor, under a work budget: a hostile file (an
 * alias or merge-key bomb) is refused with a ManifestInvalidError naming it instead of being
 * resolved for minutes.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, visit, type YAMLMap } from "yaml";
import { ManifestInvalidError } from "./errors.js";

/**
 * Work allowed to resolve one file's aliases and `<<` merge keys: node visits plus lookups, and wall
 * time. A file past either is refused (ManifestInvalidError naming it) rather than resolved for
 * minutes: `<<: [*a, *a]` doubling is exponential without memoisation, and even with it a hostile
 * file must not hold a release. Real manifests need a few thousand steps.
 */
export interface ResolveBudget {
  steps: number;
  ms: number;
}
export const DEFAULT_RESOLVE_BUDGET: ResolveBudget = { steps: 2_000_000, ms: 2_000 };

/** Merge keys whose sources merge further: past this depth the file is refused (the stack is finite). */
const MAX_MERGE_DEPTH = 256;

type Node = unknown;

/** Counts resolution work for one file and refuses the file past its budget. */
export class Budget {
  private steps = 0;
  private sinceClock = 0;
  private readonly deadline: number;

  constructor(
    private readonly limit: ResolveBudget,
    private readonly file: string,
  ) {
    this.deadline = Date.now() + limit.ms;
  }

  spend(steps = 1): void {
    this.steps += steps;
    this.sinceClock += steps;
    if (this.steps > this.limit.steps) this.refuse(`more than ${this.limit.steps} resolution steps`);
    if (this.sinceClock >= 1024) {
      this.sinceClock = 0;
      if (Date.now() > this.deadline) this.refuse(`more than ${this.limit.ms} ms`);
    }
  }

  refuse(why: string): never {
    throw new ManifestInvalidError(
      `${this.file}: refused: its aliases and merge keys take ${why} to resolve (an alias or merge-key bomb?)`,
    );
  }
}

const IN_PROGRESS: unique symbol = Symbol("in progress");

/**
 * Aliases and merge keys of one document, resolved in linear time. `Alias.resolve(doc)` walks the
 * whole document on every call (8,000 `image: *x` lines took 80 s), so every alias is bound to
 * its anchor in one walk here, with the same rule: the last node with that anchor before the alias.
 * Lookups through `<<` are memoised per (map, key), so `<<: [*a, *a]` chains cost what their
 * nodes cost, and a cycle (an anchored map merging itself) resolves to "not found".
 */
export class Resolver {
  private readonly targets = new Map<object, Node>();
  private readonly memo = new Map<object, Map<string, Node | typeof IN_PROGRESS>>();

  constructor(
    doc: Document,
    private readonly budget: Budget,
  ) {
    const anchors = new Map<string, Node>();
    visit(doc, {
      Node: (_key, node) => {
        budget.spend();
        if (isAlias(node)) {
          this.targets.set(node, anchors.get(node.source));
          return;
        }
        const anchor = (node as { anchor?: string }).anchor;
        if (anchor) anchors.set(anchor, node);
      },
    });
  }

  deref(node: Node): Node {
    if (!isAlias(node)) return node;
    this.budget.spend();
    return this.targets.get(node);
  }

  get(map: YAMLMap, key: string, depth = 0): Node {
    let byKey = this.memo.get(map);
    const known = byKey?.get(key);
    if (known === IN_PROGRESS) return undefined; // a merge cycle: the key is not found through it
    if (known !== undefined || byKey?.has(key)) return known;
    if (depth > MAX_MERGE_DEPTH) this.budget.refuse(`merge keys nested more than ${MAX_MERGE_DEPTH} deep`);
    if (!byKey) {
      byKey = new Map();
      this.memo.set(map, byKey);
    }
    byKey.set(key, IN_PROGRESS);
    const found = this.lookup(map, key, depth);
    byKey.set(key, found);
    return found;
  }

  private lookup(map: YAMLMap, key: string, depth: number): Node {
    let merges: Node[] | undefined;
    for (const pair of map.items) {
      this.budget.spend();
      const k = pair.key;
      const name = isScalar(k) ? k.value : k;
      if (name === key) return this.deref(pair.value);
      if (name === "<<" || (isScalar(k) && k.source === "<<")) {
        merges ??= [];
        merges.push(pair.value);
      }
    }
    if (!merges) return undefined;
    for (const merge of merges) {
      const source = this.deref(merge);
      const sources = isSeq(source) ? source.items : [source];
      for (const item of sources) {
        const candidate = this.deref(item);
        if (!isMap(candidate)) continue;
        const found = this.get(candidate, key, depth + 1);
        if (found !== undefined) return found;
      }
    }
    return undefined;
  }
}
