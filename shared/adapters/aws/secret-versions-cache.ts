import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

export interface SecretsCacheOptions {
  /** @default 5 minutes */
  ttlMs?: number;
  /** A forced refresh (after no cached secret matched) happens at most this often. @default 30 s */
  minRefreshIntervalMs?: number;
  now?: () => number;
}

/**
 * Reads a secret's `AWSCURRENT` and `AWSPREVIOUS` versions and caches them, so a caller checking a
 * signature or a token accepts both during a rotation. Both webhook endpoints use it: `decode` turns
 * a SecretString into the value compared (empty values are dropped). A forced refresh (`refresh:
 * true`, when nothing cached matched) re-reads a just-rotated secret, rate-limited.
 *
 * Why not Powertools Parameters' SecretsProvider: its cache key is the secret name and transform only
 * (BaseProvider keys on `[name, transform]`), so the AWSCURRENT and AWSPREVIOUS reads of one secret
 * (a `VersionStage` in `sdkOptions`) would share one cache entry and one of them would be answered
 * with the other's value; and it has no rate limit on `forceFetch`, which a flood of badly signed
 * requests would turn into one Secrets Manager call each.
 */
export function cachedSecretVersions(
  client: Pick<SecretsManagerClient, "send">,
  secretId: string,
  options: SecretsCacheOptions & { decode?: (secretString: string | undefined) => string } = {},
): (opts?: { refresh?: boolean }) => Promise<string[]> {
  const ttlMs = options.ttlMs ?? 5 * 60_000;
  const minRefreshMs = options.minRefreshIntervalMs ?? 30_000;
  const now = options.now ?? Date.now;
  const decode = options.decode ?? ((s: string | undefined) => s ?? "");
  let cached: { at: number; values: string[] } | undefined;
  let inFlight: Promise<string[]> | undefined;

  const readStage = async (stage: "AWSCURRENT" | "AWSPREVIOUS"): Promise<string> => {
    try {
      const out = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
      return decode(out.SecretString);
    } catch (error) {
      // Before the first rotation there is no AWSPREVIOUS version.
      if (
        stage === "AWSPREVIOUS" &&
        (error as { name?: string } | null)?.name === "ResourceNotFoundException"
      ) {
        return "";
      }
      throw error;
    }
  };
  const load = async (): Promise<string[]> => {
    const values = (await Promise.all([readStage("AWSCURRENT"), readStage("AWSPREVIOUS")])).filter(
      (s) => s.length > 0,
    );
    cached = { at: now(), values: [...new Set(values)] };
    return cached.values;
  };

  return async (opts) => {
    const age = cached ? now() - cached.at : Number.POSITIVE_INFINITY;
    const stale = age >= ttlMs || (opts?.refresh === true && age >= minRefreshMs);
    if (cached && !stale) return cached.values;
    inFlight ??= load().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
