import { type AppConfig, imageRepository } from "../contracts/app-config.js";
import { parseVersion } from "../contracts/release.js";
import { imageName, parseImageReference } from "./image-reference.js";

/**
 * Semver precedence of two tags, newest first when sorting with it; non-semver tags sort last. Not
 * the manifest editor's comparator: importing it would bundle the YAML parser into this Lambda.
 */
export function newestFirst(a: string, b: string): number {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (!va || !vb) return va ? -1 : vb ? 1 : a.localeCompare(b);
  for (const key of ["major", "minor", "patch"] as const) {
    if (va[key] !== vb[key]) return vb[key] - va[key];
  }
  if (va.pre === vb.pre) return 0;
  if (va.pre === "" || vb.pre === "") return va.pre === "" ? -1 : 1;
  const pa = va.pre.split(".");
  const pb = vb.pre.split(".");
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === y) continue;
    if (x === undefined || y === undefined) return x === undefined ? 1 : -1;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) return Number(y) - Number(x);
    if (xn !== yn) return xn ? 1 : -1;
    return x < y ? 1 : -1;
  }
  return 0;
}

/** Which release the images are: the tag of the app's service images, newest when they disagree. */
export function releaseFromImages(
  images: readonly string[],
  config: Pick<AppConfig, "registry" | "services">,
): { tag: string; services: string[]; note?: string } | { tag: null; reason: string } {
  const byName = new Map(
    config.services.map((s) => [imageRepository(config as AppConfig, s), s.name] as const),
  );
  const tags = new Map<string, string[]>();
  for (const image of images) {
    const ref = parseImageReference(image);
    const service = ref ? byName.get(imageName(ref)) : undefined;
    if (!ref?.tag || service === undefined) continue;
    tags.set(ref.tag, [...(tags.get(ref.tag) ?? []), service]);
  }
  if (tags.size === 0)
    return { tag: null, reason: "no tagged image of the app's services in the notification" };
  const sorted = [...tags.keys()].sort(newestFirst);
  const tag = sorted[0] as string;
  const services = tags.get(tag) ?? [];
  if (tags.size === 1) return { tag, services };
  const others = sorted
    .slice(1)
    .map((t) => `${t} (${(tags.get(t) ?? []).join(", ")})`)
    .join("; ");
  return {
    tag,
    services,
    note: `the app's images do not share one tag: recorded the newest, ${tag} (${services.join(", ")}); also running ${others}`,
  };
}
