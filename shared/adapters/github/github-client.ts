import { createPrivateKey, sign } from "node:crypto";
import { Octokit } from "@octokit/core";
import { retry } from "@octokit/plugin-retry";
import { type ThrottlingOptions, throttling } from "@octokit/plugin-throttling";
import { RequestError } from "@octokit/request-error";

/** How the pipeline authenticates to GitHub: a token (PAT, Actions token) or a GitHub App installation. */
export type GithubAuth =
  | { kind: "token"; token: string }
  | { kind: "app"; appId: string; privateKey: string; installationId: number };

export interface GithubClientOptions {
  /** `https://api.github.com` by default; `https://<host>/api/v3` for GitHub Enterprise Server. */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** How many times a secondary rate limit (403/429 + retry-after) is retried. Default 2. */
  secondaryRateLimitRetries?: number;
  /**
   * Milliseconds per second of `retry-after` (default 1000). Tests lower it so that a
   * `retry-after: 1` does not cost a real second.
   */
  retryAfterBaseMs?: number;
  /**
   * Spacing between write requests (POST/PATCH/PUT/DELETE and GraphQL) and between requests that
   * notify people (creating a pull request). Default: the throttling plugin's own (GitHub's
   * guidance: 1 s between writes, 3 s between notifying writes). Tests and benches pass 0.
   */
  writeSpacingMs?: number;
  /** Called once per HTTP request actually sent (retries included): method and URL, never headers. */
  onRequest?: (request: { method: string; url: string }) => void;
}

export const PouroverOctokit = Octokit.plugin(retry, throttling);
export type GithubClient = InstanceType<typeof PouroverOctokit>;

const USER_AGENT = "pourover";

/**
 * An Octokit (core + retry + throttling) authenticated with a token or as a GitHub App
 * installation. App auth signs its own RS256 JWT with node:crypto and caches the installation
 * token until five minutes before it expires. Tokens are never logged.
 */
export function createGithubClient(auth: GithubAuth, options: GithubClientOptions = {}): GithubClient {
  const maxSecondaryRetries = options.secondaryRateLimitRetries ?? 2;
  const throttle: ThrottlingOptions = {
    onSecondaryRateLimit: (retryAfter, request, octokit, retryCount) => {
      const retrying = retryCount < maxSecondaryRetries;
      octokit.log.warn(
        `GitHub secondary rate limit on ${request.method} ${request.url}; ${retrying ? `retrying after ${retryAfter}s` : "giving up"}`,
      );
      return retrying;
    },
    onRateLimit: (retryAfter, request, octokit, retryCount) => {
      // A primary limit resets within the hour: only wait when it is about to reset.
      const retrying = retryCount < 1 && retryAfter <= 60;
      octokit.log.warn(
        `GitHub rate limit on ${request.method} ${request.url}; ${retrying ? `retrying after ${retryAfter}s` : "giving up"}`,
      );
      return retrying;
    },
  };
  if (options.retryAfterBaseMs !== undefined) throttle.retryAfterBaseValue = options.retryAfterBaseMs;
  if (options.writeSpacingMs !== undefined) {
    throttle.write = spacedLimiter(options.writeSpacingMs);
    throttle.notifications = spacedLimiter(options.writeSpacingMs);
  }

  const octokitOptions: ConstructorParameters<typeof PouroverOctokit>[0] = {
    userAgent: USER_AGENT,
    throttle,
    retry: {
      // Rate limits (403/429) belong to the throttling plugin alone; retry handles 5xx and network errors.
      doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451],
      ...(options.retryAfterBaseMs !== undefined ? { retryAfterBaseValue: options.retryAfterBaseMs } : {}),
    },
    log: {
      debug: () => {},
      info: () => {},
      warn: console.warn.bind(console),
      error: console.error.bind(console),
    },
  };
  if (options.baseUrl) octokitOptions.baseUrl = options.baseUrl.replace(/\/+$/, "");
  const onRequest = options.onRequest;
  const baseFetch = options.fetch ?? globalThis.fetch;
  octokitOptions.request = {
    fetch: onRequest
      ? (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
          const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
          onRequest({ method: (init?.method ?? "GET").toUpperCase(), url });
          return baseFetch(input, init);
        }
      : baseFetch,
  };

  if (auth.kind === "token") {
    octokitOptions.auth = auth.token;
  } else {
    octokitOptions.authStrategy = createAppInstallationAuth;
    octokitOptions.auth = {
      appId: auth.appId,
      privateKey: auth.privateKey,
      installationId: auth.installationId,
    } satisfies AppAuthOptions;
  }
  return new PouroverOctokit(octokitOptions);
}

/**
 * A Bottleneck.Group look-alike for the throttling plugin's `write` option: serialises writes
 * with a fixed spacing. The plugin only calls `key(id).schedule(options, fn, ...args)`.
 */
function spacedLimiter(
  spacingMs: number,
): NonNullable<Extract<ThrottlingOptions, { onRateLimit: unknown }>["write"]> {
  let chain: Promise<unknown> = Promise.resolve();
  let last = 0;
  const limiter = {
    schedule: (...args: unknown[]) => {
      const fnIndex = typeof args[0] === "function" ? 0 : 1;
      const fn = args[fnIndex] as (...a: unknown[]) => unknown;
      const rest = args.slice(fnIndex + 1);
      const run = chain.then(async () => {
        const wait = last + spacingMs - Date.now();
        if (spacingMs > 0 && wait > 0) await new Promise((r) => setTimeout(r, wait));
        last = Date.now();
      });
      chain = run.catch(() => {});
      return run.then(() => fn(...rest));
    },
  };
  return { key: () => limiter } as unknown as NonNullable<
    Extract<ThrottlingOptions, { onRateLimit: unknown }>["write"]
  >;
}

// ---------------------------------------------------------------------------------------------
// GitHub App installation auth (an Octokit auth strategy)
//
// Why not @octokit/auth-app: measured with @octokit/core 7 (minified ESM, fresh Node 24 process),
// it adds about 23 KB and 15-25 ms of import to every function that talks to GitHub, for the one
// flow used here (JWT -> installation token, cached). It also retries a 401 only within 5 s of
// creating a token (replication delay); a cached token revoked later fails the call, where this
// strategy fetches a new token once and retries, which a release in flight needs.

interface AppAuthOptions {
  appId: string;
  privateKey: string;
  installationId: number;
}

interface AuthStrategyState extends AppAuthOptions {
  request: GithubClient["request"];
}

type RequestFn = GithubClient["request"];
type EndpointOptions = {
  method: string;
  url: string;
  headers: Record<string, string | number | undefined>;
  [key: string]: unknown;
};

const REFRESH_MARGIN_MS = 5 * 60 * 1000;

/** Encodes a JWT segment as base64url. */
function b64url(value: string | Buffer): string {
  return Buffer.from(value).toString("base64url");
}

/** An RS256 GitHub App JWT: issued 60 s in the past (clock drift), valid for 9 minutes. */
export function createAppJwt(appId: string, privateKeyPem: string, nowMs = Date.now()): string {
  const now = Math.floor(nowMs / 1000);
  const header = b64url(JSON.stringify({ alg: "RS256", typ: "JWT" }));
  const payload = b64url(JSON.stringify({ iat: now - 60, exp: now + 9 * 60, iss: appId }));
  // Secrets stored as one-line JSON strings often carry literal "\n".
  const pem = privateKeyPem.includes("\\n") ? privateKeyPem.replace(/\\n/g, "\n") : privateKeyPem;
  const key = createPrivateKey(pem);
  const signature = sign("sha256", Buffer.from(`${header}.${payload}`), key);
  return `${header}.${payload}.${b64url(signature)}`;
}

function isAppRoute(url: string): boolean {
  const path = url.replace(/^https?:\/\/[^/]+/, "").replace(/^\/api\/v3/, "");
  return path === "/app" || path.startsWith("/app/") || path.startsWith("/app?");
}

function createAppInstallationAuth(state: AuthStrategyState) {
  let cached: { token: string; refreshAt: number } | null = null;
  let pending: Promise<string> | null = null;

  const jwt = () => createAppJwt(state.appId, state.privateKey);

  const fetchInstallationToken = async (): Promise<string> => {
    const response = await state.request("POST /app/installations/{installation_id}/access_tokens", {
      installation_id: state.installationId,
      headers: { authorization: `bearer ${jwt()}` },
    });
    const data = response.data as { token: string; expires_at: string };
    const expiresAt = Date.parse(data.expires_at);
    cached = {
      token: data.token,
      refreshAt: (Number.isNaN(expiresAt) ? Date.now() : expiresAt) - REFRESH_MARGIN_MS,
    };
    return data.token;
  };

  const installationToken = async (forceRefresh = false): Promise<string> => {
    if (!forceRefresh && cached && Date.now() < cached.refreshAt) return cached.token;
    if (!pending) {
      pending = fetchInstallationToken().finally(() => {
        pending = null;
      });
    }
    return pending;
  };

  const auth = async () => ({ type: "token", tokenType: "installation", token: await installationToken() });

  const hook = async (
    request: RequestFn,
    route: string | EndpointOptions,
    parameters?: Record<string, unknown>,
  ) => {
    const endpoint = (request.endpoint.merge as (r: unknown, p?: unknown) => unknown)(
      route,
      parameters,
    ) as EndpointOptions;
    const send = request as unknown as (options: EndpointOptions) => Promise<unknown>;
    if (isAppRoute(endpoint.url)) {
      // The token exchange itself, and any other /app route, authenticate with the JWT.
      if (!String(endpoint.headers.authorization ?? "").startsWith("bearer ")) {
        endpoint.headers.authorization = `bearer ${jwt()}`;
      }
      return send(endpoint);
    }
    endpoint.headers.authorization = `token ${await installationToken()}`;
    try {
      return await send(endpoint);
    } catch (error) {
      // A token revoked or expired early: refresh once.
      if (error instanceof RequestError && error.status === 401) {
        endpoint.headers.authorization = `token ${await installationToken(true)}`;
        return send(endpoint);
      }
      throw error;
    }
  };

  return Object.assign(auth, { hook });
}
