import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseFindingsDocument, type ScanFindingsDocument } from "../../contracts/release-state.js";
import type { FindingsStore } from "../../ports/findings-store.js";

/**
 * Scan findings under a folder of the state dir (the local reports folder, so a findings document
 * sits next to its report as in S3), addressed by the same keys as in the bucket.
 */
export class DirectoryFindingsStore implements FindingsStore {
  constructor(readonly root: string) {}

  async put(key: string, document: ScanFindingsDocument): Promise<string> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    // Written aside and renamed, so a reader never sees half a document (as S3 never shows one).
    const partial = `${path}.${randomBytes(4).toString("hex")}.partial`;
    await writeFile(partial, JSON.stringify(document));
    await rename(partial, path);
    return pathToFileURL(path).href;
  }

  async read(location: string): Promise<ScanFindingsDocument> {
    if (!location.startsWith("file://"))
      throw new Error(`local findings store reads file:// URIs, got ${location}`);
    const path = fileURLToPath(location);
    if (!path.startsWith(resolve(this.root) + sep))
      throw new Error(`findings ${location} are not in the local findings folder ${this.root}`);
    return parseFindingsDocument(await readFile(path, "utf8"), location);
  }

  path(key: string): string {
    const path = resolve(this.root, key);
    if (!path.startsWith(resolve(this.root) + sep)) throw new Error(`findings key escapes the store: ${key}`);
    return path;
  }
}
