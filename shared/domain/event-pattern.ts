/**
 * EventBridge event-pattern matching for the operators Pourover's rules use: exact values, prefix,
 * suffix, exists and anything-but. Locally, events are routed through the same patterns the CDK
 * stack deploys (a test compares them with the synthesized template).
 */
export type EventPattern = { [key: string]: unknown };

type Json = unknown;

export function matchesPattern(event: Json, pattern: EventPattern): boolean {
  if (event === null || typeof event !== "object" || Array.isArray(event)) return false;
  const obj = event as Record<string, Json>;
  for (const [key, rule] of Object.entries(pattern)) {
    const present = Object.hasOwn(obj, key);
    const value = obj[key];
    if (Array.isArray(rule)) {
      if (!rule.some((matcher) => matchesOne(matcher, present, value))) return false;
    } else if (rule !== null && typeof rule === "object") {
      if (!present || !matchesPattern(value, rule as EventPattern)) return false;
    } else {
      throw new Error(`invalid event pattern at "${key}": a field's rule must be a list or an object`);
    }
  }
  return true;
}

function matchesOne(matcher: Json, present: boolean, value: Json): boolean {
  if (matcher !== null && typeof matcher === "object") {
    const m = matcher as Record<string, Json>;
    if ("exists" in m) return m.exists === present && (!present || value !== null || m.exists === true);
    if (!present) return false;
    // An array field matches when any of its elements does, as in EventBridge.
    const values = Array.isArray(value) ? value : [value];
    if ("prefix" in m) return values.some((v) => typeof v === "string" && v.startsWith(String(m.prefix)));
    if ("suffix" in m) return values.some((v) => typeof v === "string" && v.endsWith(String(m.suffix)));
    if ("anything-but" in m) {
      const but = m["anything-but"];
      if (but !== null && typeof but === "object" && !Array.isArray(but)) {
        const inner = but as Record<string, Json>;
        if ("prefix" in inner)
          return values.every((v) => typeof v === "string" && !v.startsWith(String(inner.prefix)));
      }
      const excluded = Array.isArray(but) ? but : [but];
      return values.every((v) => !excluded.some((x) => x === v));
    }
    throw new Error(`unsupported event pattern operator: ${Object.keys(m).join(", ")}`);
  }
  if (!present) return false;
  const values = Array.isArray(value) ? value : [value];
  return values.some((v) => v === matcher);
}
