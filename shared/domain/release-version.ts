import { parseVersion } from "../contracts/release.js";

/**
 * Ordering release tags, shared by the manifest editor (refusing a downgrade), the GitOps write-back
 * (closing older release PRs) and the dev lock (newest release wins). No YAML, so the small
 * functions that need it stay small.
 *
 * Hand-written rather than the `semver` package: real tag histories hold short `v6` and `v2.0`
 * tags that must be ordered (a move from v10 to v2.0 is a downgrade), which `semver` rejects, and
 * `semver.coerce` would read `v1.0.0-rc.1` as 1.0.0 and lose the pre-release order. The precedence
 * rules are semver's own (section 11), in 20 lines.
 */
type Version = NonNullable<ReturnType<typeof parseVersion>>;

/** `vN` and `vN.N`, no leading zeros: the short tags people push before they adopt full semver. */
const SHORT_VERSION = /^v(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?$/;

/**
 * The version a release tag stands for: a full semver tag through `parseVersion`, `vN` as N.0.0 and
 * `vN.N` as N.N.0; null for anything else (`latest`, `14-alpine`), which has no order.
 */
export function releaseVersion(tag: string): Version | null {
  const full = parseVersion(tag);
  if (full) return full;
  const m = SHORT_VERSION.exec(tag);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2] ?? 0), patch: 0, pre: "" };
}

/**
 * Orders two release tags (see `releaseVersion`): negative when `a` is older than `b`, 0 when they
 * are the same version (`v2.0` and `v2.0.0`), positive when newer; null when either has no order.
 */
export function compareReleaseTags(a: string, b: string): number | null {
  const va = releaseVersion(a);
  const vb = releaseVersion(b);
  return va && vb ? compareVersions(va, vb) : null;
}

/** -1 when a < b, 0 when equal, 1 when a > b (semver precedence, build metadata ignored). */
export function compareVersions(a: Version, b: Version): number {
  if (a.major !== b.major) return a.major < b.major ? -1 : 1;
  if (a.minor !== b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch !== b.patch) return a.patch < b.patch ? -1 : 1;
  if (a.pre === b.pre) return 0;
  if (a.pre === "") return 1;
  if (b.pre === "") return -1;
  const pa = a.pre.split(".");
  const pb = b.pre.split(".");
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    const xNum = /^\d+$/.test(x);
    const yNum = /^\d+$/.test(y);
    if (xNum && yNum) return Number(x) < Number(y) ? -1 : 1;
    if (xNum) return -1;
    if (yNum) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}
