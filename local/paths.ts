import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The Pourover checkout: the nearest folder above this module whose package.json is Pourover's. It
 * is found rather than computed because the CLI also runs from a bundle under node_modules/.cache.
 */
function findProjectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "pourover")
      return dir;
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error("cannot find the Pourover checkout (a package.json named pourover) above the CLI");
    dir = parent;
  }
}

export const PROJECT_ROOT = findProjectRoot();
export const ASL_PATH = join(PROJECT_ROOT, "state-machines", "release.asl.json");
