/**
 * JSON.parse that builds only the parts a caller names. A Trivy report is mostly descriptions,
 * references, CVSS vectors and layer ids the gate never reads; JSON.parse builds all of them first
 * (about five times the text in memory). This parser checks the WHOLE text with JSON's grammar, as
 * strictly as JSON.parse (same accepted texts, same values where it builds), but allocates only the
 * named fields; the rest is scanned and dropped.
 *
 * A `Projection` names what to keep:
 * - `"all"`: the value as JSON.parse would give it;
 * - `{ fields: { name: Projection } }`: an object with only those own keys (the last duplicate wins,
 *   as in JSON.parse); a value that is not an object is kept whole, so a schema check sees its type;
 * - `{ items: Projection }`: an array, each item projected; a non-array is kept whole.
 */
export type Projection = "all" | { fields: Readonly<Record<string, Projection>> } | { items: Projection };

export function parseJsonProjection(text: string, projection: Projection): unknown {
  const parser = new ProjectingParser(text);
  parser.ws();
  const value = parser.value(projection);
  parser.ws();
  if (parser.at < text.length) parser.fail("unexpected text after the JSON value");
  return value;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
/** A run of string characters that need no care: no quote, backslash or control character. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it excludes.
const PLAIN_STRING = /[^"\\\u0000-\u001f]*/y;

class ProjectingParser {
  at = 0;

  constructor(private readonly text: string) {}

  fail(why: string): never {
    throw new SyntaxError(`${why} at position ${this.at}`);
  }

  ws(): void {
    const t = this.text;
    let i = this.at;
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i++;
      else break;
    }
    this.at = i;
  }

  value(projection: Projection): unknown {
    const c = this.text[this.at];
    if (projection !== "all") {
      if ("fields" in projection && c === "{") return this.object(projection.fields);
      if ("items" in projection && c === "[") return this.array(projection.items);
    }
    const start = this.at;
    this.skip();
    return JSON.parse(this.text.slice(start, this.at));
  }

  private object(fields: Readonly<Record<string, Projection>>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.at++; // {
    this.ws();
    if (this.text[this.at] === "}") {
      this.at++;
      return out;
    }
    for (;;) {
      if (this.text[this.at] !== '"') this.fail("expected a string key");
      const keyStart = this.at;
      this.skipString();
      const key = JSON.parse(this.text.slice(keyStart, this.at)) as string;
      this.ws();
      if (this.text[this.at] !== ":") this.fail("expected ':'");
      this.at++;
      this.ws();
      const wanted = Object.hasOwn(fields, key) ? fields[key] : undefined;
      if (wanted === undefined) this.skip();
      else out[key] = this.value(wanted);
      this.ws();
      const c = this.text[this.at];
      this.at++;
      if (c === "}") return out;
      if (c !== ",") this.fail("expected ',' or '}'");
      this.ws();
    }
  }

  private array(items: Projection): unknown[] {
    const out: unknown[] = [];
    this.at++; // [
    this.ws();
    if (this.text[this.at] === "]") {
      this.at++;
      return out;
    }
    for (;;) {
      out.push(this.value(items));
      this.ws();
      const c = this.text[this.at];
      this.at++;
      if (c === "]") return out;
      if (c !== ",") this.fail("expected ',' or ']'");
      this.ws();
    }
  }

  /** Scans one value without building it. Iterative: nesting depth costs no stack. */
  skip(): void {
    const t = this.text;
    const open: number[] = []; // 1: in an object, 2: in an array
    for (;;) {
      // A value.
      const c = t[this.at];
      if (c === "{" || c === "[") {
        this.at++;
        this.ws();
        const close = c === "{" ? "}" : "]";
        if (t[this.at] === close) {
          this.at++;
        } else {
          open.push(c === "{" ? 1 : 2);
          if (c === "{") this.key();
          continue;
        }
      } else if (c === '"') this.skipString();
      else if (c === "t" && t.startsWith("true", this.at)) this.at += 4;
      else if (c === "f" && t.startsWith("false", this.at)) this.at += 5;
      else if (c === "n" && t.startsWith("null", this.at)) this.at += 4;
      else {
        NUMBER.lastIndex = this.at;
        if (!NUMBER.test(t)) this.fail("expected a JSON value");
        this.at = NUMBER.lastIndex;
      }
      // After a value: close containers or move to the next item.
      for (;;) {
        if (open.length === 0) return;
        this.ws();
        const d = t[this.at];
        const inObject = open[open.length - 1] === 1;
        this.at++;
        if (d === ",") {
          this.ws();
          if (inObject) this.key();
          break;
        }
        if (d === (inObject ? "}" : "]")) {
          open.pop();
          continue;
        }
        this.at--;
        this.fail(inObject ? "expected ',' or '}'" : "expected ',' or ']'");
      }
    }
  }

  /** `"key"` `:` and the whitespace after it, inside an object being skipped. */
  private key(): void {
    if (this.text[this.at] !== '"') this.fail("expected a string key");
    this.skipString();
    this.ws();
    if (this.text[this.at] !== ":") this.fail("expected ':'");
    this.at++;
    this.ws();
  }

  /** A JSON string starting at `at` (a quote), with JSON.parse's rules: escapes, no raw controls. */
  skipString(): void {
    const t = this.text;
    // Fast path: most strings have no escape and no control character up to the next quote.
    const quote = t.indexOf('"', this.at + 1);
    if (quote !== -1) {
      PLAIN_STRING.lastIndex = this.at + 1;
      if (PLAIN_STRING.test(t) && PLAIN_STRING.lastIndex === quote) {
        this.at = quote + 1;
        return;
      }
    }
    let i = this.at + 1;
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === 34) break; // "
      if (Number.isNaN(c)) {
        this.at = i;
        this.fail("unterminated string");
      }
      if (c < 32) {
        this.at = i;
        this.fail("control character in a string");
      }
      if (c === 92) {
        const e = t[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(t.slice(i + 2, i + 6))) {
            this.at = i;
            this.fail("bad \\u escape");
          }
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) {
          this.at = i;
          this.fail("bad escape");
        }
        i += 2;
        continue;
      }
      i++;
    }
    this.at = i + 1;
  }
}
