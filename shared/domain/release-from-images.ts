import { type AppConfig, imageRepository } from "../contracts/app-config.js";
import { parseVersion } from "../contracts/release.js";
import { imageName, parseImageReference } from "./image-reference.js";
import { compareVersions } from "./release-version.js";

/** Semver precedence of two tags, newest first when sorting with it; non-semver tags sort last. */
export function newestFirst(a: string, b: string): number {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (!va || !vb) return va ? -1 : vb ? 1 : a.localeCompare(b);
  return compareVersions(vb, va);
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
