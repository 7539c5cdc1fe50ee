/**
 * The pure half of a Function URL endpoint (the GitHub webhook, the Argo CD notification endpoint):
 * the request and response shapes, the checks every unauthenticated POST endpoint makes first
 * (method, body size), header access, secret matching with one refresh, and log lines that never
 * carry a body or a secret. No SDK and no dependency beyond Node, so the webhook bundle stays small.
 */

/** What an endpoint core is given: a Function URL (payload format 2.0) request, or `pourover serve`'s. */
export interface EndpointRequest {
  method: string;
  /** Header names in any case (a Function URL lowercases them). */
  headers: Record<string, string | undefined>;
  body: string;
  isBase64Encoded?: boolean;
}

export interface EndpointResponse {
  statusCode: number;
  /** JSON: `{"message": "...", ...}`. */
  body: string;
  headers?: Record<string, string>;
}

/** One structured log line. A core never passes the body, a secret, a token or a signature. */
export type EndpointLog = (entry: Record<string, unknown>) => void;

export const JSON_HEADERS = { "content-type": "application/json" } as const;

/** A JSON answer `{"message": ..., ...extra}`. */
export function respond(
  statusCode: number,
  message: string,
  extra?: Record<string, unknown>,
  headers?: Record<string, string>,
): EndpointResponse {
  return {
    statusCode,
    headers: { ...JSON_HEADERS, ...headers },
    body: JSON.stringify({ message, ...extra }),
  };
}

/** A check that failed: the answer, and the fields its log line adds. */
export interface Rejection {
  response: EndpointResponse;
  fields?: Record<string, unknown>;
}

export function reject(response: EndpointResponse, fields?: Record<string, unknown>): Rejection {
  return fields ? { response, fields } : { response };
}

/** 405 with `Allow: POST`, or null when the method is POST (any case). */
export function requirePost(req: Pick<EndpointRequest, "method">): EndpointResponse | null {
  if (String(req.method ?? "").toUpperCase() === "POST") return null;
  return respond(405, "method not allowed", undefined, { allow: "POST" });
}

/**
 * The raw body, or a 413 when it is over `maxBytes`. The size is checked before anything decodes,
 * parses or authenticates the body: every UTF-16 unit is at least one byte, and a base64 text decodes
 * to at most 3/4 of its length, so an oversized body is refused without decoding it.
 */
export function readBody(
  req: Pick<EndpointRequest, "body" | "isBase64Encoded">,
  maxBytes: number,
): { raw: Buffer } | { response: EndpointResponse } {
  const body = typeof req.body === "string" ? req.body : "";
  const base64 = req.isBase64Encoded === true;
  const tooLarge = { response: respond(413, "payload too large", { maxBytes }) };
  if (base64 ? Math.floor((body.length * 3) / 4) > maxBytes + 2 : body.length > maxBytes) return tooLarge;
  const raw = base64 ? Buffer.from(body, "base64") : Buffer.from(body, "utf8");
  return raw.length > maxBytes ? tooLarge : { raw };
}

/** The lowercase name when set, else the first name equal to it ignoring case that has a value. */
export function header(
  headers: Record<string, string | undefined> | undefined,
  lowerName: string,
): string | undefined {
  if (headers === undefined || headers === null) return undefined;
  const direct = headers[lowerName];
  if (direct !== undefined) return direct;
  for (const key of Object.keys(headers)) {
    if (key.length !== lowerName.length || key.toLowerCase() !== lowerName) continue;
    const value = headers[key];
    if (value !== undefined) return value;
  }
  return undefined;
}

/** The error's name and a bounded message for a log line (never a stack, never a payload). */
export function errorSummary(error: unknown): { error: string; errorMessage?: string } {
  if (error instanceof Error) return { error: error.name, errorMessage: error.message.slice(0, 300) };
  return { error: typeof error };
}

/**
 * Checks a credential against the configured secrets (current first, then the previous one during a
 * rotation; empty ones ignored). When none matches, the provider is asked once with `refresh: true`
 * and only the new values are tried, so a just-rotated secret is picked up without re-reading on
 * every bad request. `none` when no secret is configured at all (the endpoint answers 500 then).
 */
export async function matchSecrets(
  provider: (options?: { refresh?: boolean }) => Promise<string[]>,
  matches: (secrets: readonly string[]) => boolean,
): Promise<"match" | "mismatch" | "none"> {
  const secrets = (await provider()).filter((s) => typeof s === "string" && s.length > 0);
  if (secrets.length === 0) return "none";
  if (matches(secrets)) return "match";
  const refreshed = (await provider({ refresh: true })).filter(
    (s) => typeof s === "string" && s.length > 0 && !secrets.includes(s),
  );
  return matches(refreshed) ? "match" : "mismatch";
}

/**
 * The endpoint's log: `log` never throws (a broken logger must not change the answer), and `done`
 * logs one `{msg, status, ...fields}` line per answer and returns the answer.
 */
export function endpointLog(
  sink: EndpointLog | undefined,
  msg: string,
): {
  log: EndpointLog;
  done: (res: EndpointResponse, fields?: Record<string, unknown>) => EndpointResponse;
} {
  const log: EndpointLog = (entry) => {
    try {
      sink?.(entry);
    } catch {
      // A broken logger must not change the answer.
    }
  };
  const done = (res: EndpointResponse, fields: Record<string, unknown> = {}): EndpointResponse => {
    log({ msg, status: res.statusCode, ...fields });
    return res;
  };
  return { log, done };
}
