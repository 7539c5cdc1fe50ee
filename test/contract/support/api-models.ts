/**
 * AWS API models as machine-readable data: the `aws-sdk` (v2) package ships every service's model
 * as `apis/<service>-<version>.min.json` (operations, input/output shapes, member names and types,
 * required members). Step Functions addresses members in PascalCase even when the API uses camelCase
 * (Step Functions Developer Guide, "AWS SDK service integrations": "Parameters in Step Functions are
 * expressed in PascalCase, even if the native service API is in camelCase").
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

// biome-ignore lint/suspicious/noExplicitAny: model JSON
type Json = any;

const APIS_DIR = join(dirname(createRequire(import.meta.url).resolve("aws-sdk/package.json")), "apis");

export interface Shape {
  type?: string;
  shape?: string;
  members?: Record<string, Shape>;
  required?: string[];
  member?: Shape;
  key?: Shape;
  value?: Shape;
}

export interface ApiModel {
  readonly file: string;
  readonly metadata: Json;
  readonly operations: Record<string, { input?: Shape; output?: Shape }>;
  readonly shapes: Record<string, Shape>;
}

/** The newest model of a service by its endpoint prefix (`ssm`, `codebuild`). */
export function apiModel(prefix: string): ApiModel {
  const files = readdirSync(APIS_DIR)
    .filter(
      (f) =>
        f.startsWith(`${prefix}-`) &&
        f.endsWith(".min.json") &&
        /^\d{4}-\d{2}-\d{2}$/.test(f.slice(prefix.length + 1, -9)),
    )
    .sort();
  const file = files.at(-1);
  if (!file) throw new Error(`no API model for ${prefix} in ${APIS_DIR}`);
  const model = JSON.parse(readFileSync(join(APIS_DIR, file), "utf8"));
  return { file, ...model };
}

/** Follows `shape` references; members without a type are strings in the min models. */
export function deref(model: ApiModel, shape: Shape): Shape {
  let s = shape;
  while (s.shape) {
    const next = model.shapes[s.shape];
    if (!next) throw new Error(`${model.file}: unknown shape ${s.shape}`);
    s = { ...next, ...s, shape: undefined };
  }
  return s;
}

export function typeOf(shape: Shape): string {
  if (shape.type) return shape.type;
  if (shape.members) return "structure";
  if (shape.member) return "list";
  if (shape.key) return "map";
  return "string";
}

export const pascal = (name: string) => `${name[0]?.toUpperCase() ?? ""}${name.slice(1)}`;

/** The member of a structure addressed by its PascalCase name, with its API name. */
export function memberByPascal(model: ApiModel, structure: Shape, key: string): [string, Shape] | undefined {
  const members = deref(model, structure).members ?? {};
  const hit = Object.entries(members).find(([name]) => pascal(name) === key);
  return hit ? [hit[0], deref(model, hit[1])] : undefined;
}

/** What a Step Functions value evaluates to, when it can be told without running it. */
function dynamicKind(expr: string): "list" | "string" | "unknown" {
  if (/^States\.Array\(/.test(expr)) return "list";
  if (/^States\.(Format|JsonToString|UUID|Base64Encode|Base64Decode|Hash)\(/.test(expr)) return "string";
  return "unknown";
}

function staticKind(value: unknown): string {
  if (Array.isArray(value)) return "list";
  if (value !== null && typeof value === "object") return "structure|map";
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number")
    return Number.isInteger(value) ? "integer|long|double|float" : "double|float";
  return "string|timestamp|blob";
}

/** Problems of a Step Functions `Parameters` object against an API input shape. */
export function checkParameters(model: ApiModel, shape: Shape, params: Json, path: string): string[] {
  const problems: string[] = [];
  const s = deref(model, shape);
  const type = typeOf(s);
  if (type === "structure") {
    if (params === null || typeof params !== "object" || Array.isArray(params))
      return [`${path}: must be an object (${type})`];
    const given = new Set<string>();
    for (const [rawKey, value] of Object.entries(params)) {
      const dynamic = rawKey.endsWith(".$");
      const key = dynamic ? rawKey.slice(0, -2) : rawKey;
      given.add(key);
      const member = memberByPascal(model, s, key);
      if (!member) {
        const known = Object.keys(s.members ?? {})
          .map(pascal)
          .join(", ");
        problems.push(`${path}.${key}: no such member (the model has: ${known})`);
        continue;
      }
      problems.push(...checkValue(model, member[1], value, dynamic, `${path}.${key}`));
    }
    for (const required of s.required ?? []) {
      if (!given.has(pascal(required)))
        problems.push(`${path}.${pascal(required)}: required by the API, missing`);
    }
    return problems;
  }
  return checkValue(model, s, params, false, path);
}

function checkValue(model: ApiModel, shape: Shape, value: Json, dynamic: boolean, path: string): string[] {
  const s = deref(model, shape);
  const type = typeOf(s);
  if (dynamic) {
    const kind = dynamicKind(String(value));
    if (kind !== "unknown" && kind !== type && !(kind === "string" && type === "string"))
      return [`${path}: ${String(value)} gives a ${kind}, the API wants a ${type}`];
    return [];
  }
  if (
    !staticKind(value)
      .split("|")
      .some((k) => k === type || (k === "structure" && type === "map"))
  )
    return [`${path}: ${JSON.stringify(value)} is not a ${type}`];
  if (type === "structure") return checkParameters(model, s, value, path);
  if (type === "list")
    return (value as Json[]).flatMap((v, i) =>
      checkValue(model, s.member as Shape, v, false, `${path}[${i}]`),
    );
  if (type === "map") {
    return Object.entries(value as Record<string, Json>).flatMap(([k, v]) => {
      const dyn = k.endsWith(".$");
      return checkValue(model, s.value as Shape, v, dyn, `${path}.${dyn ? k.slice(0, -2) : k}`);
    });
  }
  return [];
}

/** Problems of a JSONPath (`$.Build.Id`, `$.Command.CommandId`) against an API output shape. */
export function checkOutputPath(model: ApiModel, output: Shape, jsonPath: string): string[] {
  if (jsonPath === "$") return [];
  const m = /^\$((?:\.[A-Za-z0-9_]+|\[\d+\]|\[\*\])*)$/.exec(jsonPath);
  if (!m) return [`${jsonPath}: only simple paths ($.A.B[0]) are checked; simplify or extend the check`];
  let shape = deref(model, output);
  let at = "$";
  for (const step of (m[1] as string).match(/\.[A-Za-z0-9_]+|\[\d+\]|\[\*\]/g) ?? []) {
    if (step.startsWith("[")) {
      if (typeOf(shape) !== "list") return [`${jsonPath}: ${at} is a ${typeOf(shape)}, not a list`];
      shape = deref(model, shape.member as Shape);
    } else {
      const key = step.slice(1);
      if (typeOf(shape) === "map") shape = deref(model, shape.value as Shape);
      else {
        const member = typeOf(shape) === "structure" ? memberByPascal(model, shape, key) : undefined;
        if (!member) {
          const known = Object.keys(shape.members ?? {})
            .map(pascal)
            .join(", ");
          return [`${jsonPath}: ${at} has no member ${key} (it has: ${known || typeOf(shape)})`];
        }
        shape = member[1];
      }
    }
    at += step;
  }
  return [];
}
