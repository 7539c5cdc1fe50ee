/** Seeds the local manifests repository from an example's files, once, safely against concurrent runs. */
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, cpSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { cp, lstat, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { ManifestInvalidError } from "../../domain/errors.js";
import { runGit } from "./git-cli.js";
import { currentProcessOwner, isOwnerAlive, parseProcessOwner } from "./process-owner.js";

/**
 * Creates a git repository at repoDir (when there is none) holding one commit of seedDir's files
 * on baseBranch. Works on a machine without a git identity. Returns the base branch head.
 *
 * With `templateCache`, the first seed of given files is also kept there, and later ones copy it
 * instead of running git init, add and commit (three git processes, most of a local release's
 * start on a 2-core machine). A template is named after the seed's paths, modes and contents and
 * the branch, so an edited seed makes a new one; it is only ever read whole (built aside, renamed).
 */
export async function initManifestRepo(
  repoDir: string,
  seedDir: string,
  baseBranch: string,
  options: { templateCache?: string } = {},
): Promise<string> {
  const dir = resolve(repoDir);
  const ready = await seededHead(dir, baseBranch);
  if (ready) return ready;
  // Many first runs may start at once: one seeds, the others wait for it and use its result.
  const release = await acquireSeedLock(`${dir}.seed-lock`);
  try {
    const again = await seededHead(dir, baseBranch);
    if (again) return again;
    // Temp dirs of seeds killed midway: nobody else seeds while this lock is held.
    const prefix = `${basename(dir)}.seeding-`;
    for (const name of await readdir(dirname(dir)).catch(() => [] as string[]))
      if (name.startsWith(prefix)) await rm(join(dirname(dir), name), { recursive: true, force: true });
    // Built aside and renamed into place: an interrupted seed leaves only a temp dir, never a
    // half-made repository that every later release would trip on.
    const tmp = `${dir}.seeding-${process.pid}-${randomBytes(4).toString("hex")}`;
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    try {
      const template = options.templateCache
        ? join(options.templateCache, `seed-${seedKey(resolve(seedDir), baseBranch)}`)
        : null;
      // Synchronous on purpose: fs.cp's promise version queues every stat, copy and chmod of the
      // template's hundred-odd small files on libuv's thread pool: about 350 ms here, against 60 ms.
      if (template && (await exists(template))) {
        cpSync(template, tmp, { recursive: true });
        // cpSync keeps the template's modes, which the umask of whoever made it decided: the
        // checkout in the state dir is owner-only whatever they were.
        ownerOnly(tmp);
      } else {
        await seedWithGit(tmp, resolve(seedDir), baseBranch);
        if (template) await keepTemplate(tmp, template);
      }
      // A leftover from an interrupted seed of an older version: keep it aside, never delete data.
      if (await exists(dir)) await rename(dir, `${dir}.broken-${Date.now()}`);
      await mkdir(dirname(dir), { recursive: true });
      await rename(tmp, dir);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    const head = await seededHead(dir, baseBranch);
    if (!head) throw new ManifestInvalidError(`Branch ${baseBranch} not found in ${dir}`);
    return head;
  } finally {
    await release();
  }
}

/** git init, the seed's files (owner-only), one commit of all of them on baseBranch. */
async function seedWithGit(tmp: string, seedDir: string, baseBranch: string): Promise<void> {
  // Independent: git's own folder and the seed's files (which never include a .git).
  await Promise.all([
    runGit(tmp, ["init", "--quiet", "-b", baseBranch]),
    cp(seedDir, tmp, { recursive: true, filter: (src) => !src.split(/[\\/]/).includes(".git") }),
  ]);
  // cp keeps the seed's modes (0644/0755); the state dir is owner-only, so is its checkout.
  ownerOnly(tmp);
  await runGit(tmp, ["add", "--all"]);
  await runGit(tmp, [
    "-c",
    "commit.gpgsign=false",
    // A fresh one-commit repository needs no housekeeping: no `git maintenance run --auto` child.
    "-c",
    "maintenance.auto=false",
    "commit",
    "--quiet",
    "--allow-empty",
    "--no-verify",
    "-m",
    "Seed manifests",
  ]);
}

/** A name for the seed's files (paths, executable bits, contents or link targets) and the branch. */
function seedKey(seedDir: string, baseBranch: string): string {
  const hash = createHash("sha256").update(`${baseBranch}\0`);
  const walk = (rel: string): void => {
    const entries = readdirSync(join(seedDir, rel), { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    );
    for (const entry of entries) {
      if (entry.name === ".git") continue;
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      const full = join(seedDir, path);
      if (entry.isDirectory()) walk(path);
      else if (entry.isSymbolicLink()) hash.update(`l ${path}\0${readlinkSync(full)}\0`);
      else {
        const content = readFileSync(full);
        const executable = statSync(full).mode & 0o100 ? "x" : "-";
        hash.update(`f ${path} ${executable} ${content.length}\0`).update(content);
      }
    }
  };
  walk("");
  return hash.digest("hex").slice(0, 24);
}

/** Keeps a copy of a fresh seed as the template; only a cache, so a failure to write it is ignored. */
async function keepTemplate(seeded: string, template: string): Promise<void> {
  const aside = `${template}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
  try {
    await mkdir(dirname(template), { recursive: true, mode: 0o700 });
    await cp(seeded, aside, { recursive: true });
    ownerOnly(aside);
    // Another run may have kept the same template meanwhile: theirs stays, this copy goes.
    await rename(aside, template);
  } catch {
    // the next seed builds with git again
  } finally {
    await rm(aside, { recursive: true, force: true });
  }
}

/** The head of `baseBranch` when `dir` is a repository of its own that has it; otherwise null. */
async function seededHead(dir: string, baseBranch: string): Promise<string | null> {
  if (!(await exists(join(dir, ".git")))) return null;
  // One git process for both questions: the git dir comes first, then the branch head; a missing
  // branch exits 1 (after the git dir), no repository at all exits 128.
  const out = await runGit(
    dir,
    ["rev-parse", "--absolute-git-dir", "--verify", "--quiet", `refs/heads/${baseBranch}^{commit}`],
    { allowFail: true },
  );
  const [gitDir, head] = out.stdout.trim().split("\n");
  if (out.code !== 0 || !gitDir || resolve(gitDir) !== join(dir, ".git") || !head) return null;
  return head.trim();
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => null)) !== null;
}

/**
 * A lock directory (mkdir is atomic) holding its owner; a lock whose owner process is gone (kill -9,
 * reboot) is taken over. Waits up to two minutes: seeding takes well under a second.
 */
async function acquireSeedLock(lockDir: string): Promise<() => Promise<void>> {
  await mkdir(dirname(lockDir), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await mkdir(lockDir, { mode: 0o700 });
      await writeFile(join(lockDir, "owner.json"), JSON.stringify(currentProcessOwner()), { mode: 0o600 });
      return () => rm(lockDir, { recursive: true, force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const ownerText = await readFile(join(lockDir, "owner.json"), "utf8").catch(() => null);
    const owner = parseProcessOwner(ownerText);
    const age = Date.now() - ((await lstat(lockDir).catch(() => null))?.mtimeMs ?? Date.now());
    // No owner yet: its creator is between mkdir and writing it, unless that was long ago.
    if ((owner && !isOwnerAlive(owner)) || (!owner && age > 10_000)) {
      // Renamed first so that only one waiter takes it over; the others see it gone and retry.
      const aside = `${lockDir}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
      if (
        await rename(lockDir, aside).then(
          () => true,
          () => false,
        )
      )
        await rm(aside, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline)
      throw new ManifestInvalidError(
        `timed out waiting for ${lockDir} (held by pid ${owner?.pid ?? "unknown"}) to seed the local manifests repo`,
      );
    await new Promise((r) => setTimeout(r, 25 + Math.random() * 50));
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Owner-only modes under `dir`, whatever the umask or the source's modes were: 0700 for folders and
 * executables, 0600 for the rest; links are left alone. Synchronous, like the template copy.
 */
function ownerOnly(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) {
      chmodSync(path, 0o700);
      ownerOnly(path);
    } else chmodSync(path, statSync(path).mode & 0o100 ? 0o700 : 0o600);
  }
}
