import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { lstat, mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { InvalidInputError } from "../../domain/errors.js";

/**
 * Writes a file whole or not at all: into a new temporary file next to it (O_EXCL, so a symlink
 * planted at that name is never followed), flushed, then renamed over the target. A reader sees the
 * old file or the new one, never half of one; a rename replaces a symlink at the target instead of
 * writing through it. Files are private to the user (0600).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const handle = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0),
    mode,
  );
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(tmp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** Throws when `path` exists and is a symbolic link: the state dir never leads elsewhere. */
export async function refuseSymlink(path: string): Promise<void> {
  const st = await lstat(path).catch(() => null);
  if (st?.isSymbolicLink())
    throw new InvalidInputError(
      `${path} is a symbolic link; Pourover does not follow links out of its state dir (remove it)`,
    );
}
