import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Projection, parseJsonProjection } from "../../shared/domain/json-projection.js";

/** The reference: JSON.parse, then keep what the projection names (what parseJsonProjection must equal). */
function project(value: unknown, p: Projection): unknown {
  if (p === "all") return value;
  if ("fields" in p) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
    const out: Record<string, unknown> = {};
    for (const [k, sub] of Object.entries(p.fields))
      if (Object.hasOwn(value, k)) out[k] = project((value as Record<string, unknown>)[k], sub);
    return out;
  }
  return Array.isArray(value) ? value.map((v) => project(v, p.items)) : value;
}

function outcome(fn: () => unknown): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    expect(error).toBeInstanceOf(SyntaxError);
    return { ok: false };
  }
}

const projections: Projection[] = [
  "all",
  { fields: { a: "all", b: { items: "all" } } },
  { items: { fields: { a: { fields: { b: "all" } }, c: "all" } } },
  { fields: {} },
];

describe("parseJsonProjection agrees with JSON.parse", () => {
  it("on every JSON text: the same value, projected", () => {
    fc.assert(
      fc.property(fc.json(), fc.constantFrom(...projections), (text, p) => {
        expect(parseJsonProjection(text, p)).toEqual(project(JSON.parse(text), p));
      }),
      { numRuns: 2000 },
    );
  });

  it("on mutated texts: accepts exactly what JSON.parse accepts", () => {
    const mutated = fc
      .tuple(
        fc.json(),
        fc.nat(),
        fc.constantFrom("", ",", "]", "}", '"', "\\", "\u0001", "0", "-", ":", " ", "x"),
      )
      .map(([text, at, insert]) => {
        const i = text.length === 0 ? 0 : at % (text.length + 1);
        return text.slice(0, i) + insert + text.slice(i + (insert === "" ? 1 : 0));
      });
    fc.assert(
      fc.property(mutated, fc.constantFrom(...projections), (text, p) => {
        const expected = outcome(() => project(JSON.parse(text), p));
        const actual = outcome(() => parseJsonProjection(text, p));
        expect(actual.ok).toBe(expected.ok);
        if (actual.ok && expected.ok) expect(actual.value).toEqual(expected.value);
      }),
      { numRuns: 3000 },
    );
  });

  it.each([
    ['{"a":1,}', false],
    ["[1,]", false],
    ["01", false],
    ['"\\x"', false],
    ['"\\u12G4"', false],
    ['"a\tb"', false],
    ['{"a" 1}', false],
    ["", false],
    [" \n\t\r[] ", true],
    ['{"a":1,"a":2}', true],
    ['"\\ud800"', true],
    ["-0.5e+10", true],
  ])("%j: accepted = %s, as JSON.parse", (text, ok) => {
    const p: Projection = { fields: { a: "all" } };
    expect(outcome(() => JSON.parse(text)).ok).toBe(ok);
    expect(outcome(() => parseJsonProjection(text, p)).ok).toBe(ok);
    if (ok) expect(parseJsonProjection(text, p)).toEqual(project(JSON.parse(text), p));
  });

  it("skips deep nesting without recursion (100,000 levels under a dropped key)", () => {
    const deep = `{"a":1,"junk":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
    expect(parseJsonProjection(deep, { fields: { a: "all" } })).toEqual({ a: 1 });
    expect(() => parseJsonProjection(`{"junk":${"[".repeat(100_000)}}`, { fields: {} })).toThrow(SyntaxError);
  });

  it("keeps the last of duplicate keys, and never sets a prototype from a `__proto__` key", () => {
    const value = parseJsonProjection('{"a":1,"a":2,"__proto__":{"x":1}}', {
      fields: { a: "all" },
    }) as object;
    expect(value).toEqual({ a: 2 });
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });
});
