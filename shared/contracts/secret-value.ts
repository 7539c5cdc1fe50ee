import { InvalidInputError } from "../domain/errors.js";

/**
 * Secret values are parsed here and only here. `JSON.parse` puts the start of its input into its
 * error message (`Unexpected token 'g', "ghp_16C7e4"... is not valid JSON`), and a schema library may
 * echo what it received; either would carry a secret into a Lambda error, a log line and the failure
 * email. Every message below names the secret and the expected shape, never a value or a key read
 * from the secret, and no error keeps the original exception as its `cause`.
 */

/** What a secret's SecretString turned out to be, described without its content. */
export type SecretJson =
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; problem: "missing" | "empty" | "not-json" | "not-an-object" };

export function parseSecretJson(secretString: string | undefined): SecretJson {
  if (secretString === undefined) return { ok: false, problem: "missing" };
  if (secretString.trim() === "") return { ok: false, problem: "empty" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString);
  } catch {
    // The SyntaxError is dropped on purpose: its message quotes the secret.
    return { ok: false, problem: "not-json" };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    return { ok: false, problem: "not-an-object" };
  return { ok: true, value: parsed as Record<string, unknown> };
}

export type GithubCredentials =
  | { kind: "token"; token: string }
  | { kind: "app"; appId: string; installationId: number; privateKey: string };

export const GITHUB_CREDENTIALS_SHAPE =
  '{"token":"<token>"} or {"appId":"<id>","installationId":<number>,"privateKey":"-----BEGIN ..."}';

/**
 * The GitHub credentials secret: `{"token"}` or a GitHub App `{"appId","installationId","privateKey"}`.
 * Throws InvalidInputError whose message says what is wrong with the shape (not JSON, empty, which
 * expected key is missing or of the wrong type) and names the secret by `label`, never its content.
 */
export function githubCredentialsFromSecret(
  secretString: string | undefined,
  label: string,
): GithubCredentials {
  const fail = (what: string): never => {
    throw new InvalidInputError(
      `GitHub credentials secret ${label} ${what}; expected ${GITHUB_CREDENTIALS_SHAPE}`,
    );
  };
  const json = parseSecretJson(secretString);
  if (!json.ok) {
    const what = {
      missing: "has no SecretString",
      empty: "is empty",
      "not-json": 'is not JSON (a bare token must be wrapped as {"token":"..."})',
      "not-an-object": "is JSON but not an object",
    }[json.problem];
    return fail(what);
  }
  const v = json.value;
  const nonEmpty = (key: string) => typeof v[key] === "string" && (v[key] as string).trim() !== "";
  if ("token" in v) {
    if (!nonEmpty("token")) return fail('has a "token" that is not a non-empty string');
    return { kind: "token", token: v.token as string };
  }
  const appKeys = ["appId", "installationId", "privateKey"];
  if (appKeys.some((k) => k in v)) {
    const appId = typeof v.appId === "number" && Number.isInteger(v.appId) ? String(v.appId) : v.appId;
    const installationId =
      typeof v.installationId === "string" && /^\d+$/.test(v.installationId)
        ? Number(v.installationId)
        : v.installationId;
    const problems: string[] = [];
    if (typeof appId !== "string" || appId.trim() === "") problems.push('"appId" (a string or number)');
    if (typeof installationId !== "number" || !Number.isInteger(installationId))
      problems.push('"installationId" (an integer)');
    if (!nonEmpty("privateKey")) problems.push('"privateKey" (the PEM text)');
    if (problems.length > 0) return fail(`is missing or has a wrong ${problems.join(", ")}`);
    return {
      kind: "app",
      appId: appId as string,
      installationId: installationId as number,
      privateKey: v.privateKey as string,
    };
  }
  return fail(
    Object.keys(v).length === 0
      ? "is still the empty {} the stack created: fill it after deploy"
      : 'has neither "token" nor "appId"/"installationId"/"privateKey"',
  );
}
