import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { refuseSymlink, writeFileAtomic } from "../../shared/adapters/local/atomic-file.js";
import { initManifestRepo } from "../../shared/adapters/local/git-manifest-repository.js";
import { currentProcessOwner, isOwnerAlive } from "../../shared/adapters/local/process-owner.js";
import { EXAMPLE_DIR, tempDir } from "../helpers/local.js";

const SEED = join(EXAMPLE_DIR, "manifests");

describe("seeding the local manifests repo is atomic and safe to race", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });
  const fresh = () => {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    return dir.path;
  };

  it("12 seeds of the same repo at once: one commit, every caller gets its head, nothing left over", async () => {
    const repos = join(fresh(), "repos");
    const repo = join(repos, "coffeeshop-manifests");
    const heads = await Promise.all(Array.from({ length: 12 }, () => initManifestRepo(repo, SEED, "main")));
    expect(new Set(heads).size).toBe(1);
    expect(execFileSync("git", ["rev-list", "--count", "main"], { cwd: repo, encoding: "utf8" }).trim()).toBe(
      "1",
    );
    expect(readdirSync(repos)).toEqual(["coffeeshop-manifests"]);
  });

  it("a repo left half-made by an interrupted seed (no commit, no branch) is set aside and seeded again", async () => {
    const repo = join(fresh(), "repos", "coffeeshop-manifests");
    mkdirSync(repo, { recursive: true });
    execFileSync("git", ["init", "--quiet", "-b", "main"], { cwd: repo });
    writeFileSync(join(repo, "docker-compose.yml"), "half");
    const head = await initManifestRepo(repo, SEED, "main");
    expect(head).toMatch(/^[0-9a-f]{40}$/);
    expect(existsSync(join(repo, "k8s"))).toBe(true);
    // What was there is kept aside, never deleted.
    expect(readdirSync(join(repo, "..")).some((n) => n.startsWith("coffeeshop-manifests.broken-"))).toBe(
      true,
    );
  });

  it("a seed lock and temp dir left by a killed process are taken over and cleaned", async () => {
    const repo = join(fresh(), "repos", "coffeeshop-manifests");
    const lock = `${repo}.seed-lock`;
    mkdirSync(lock, { recursive: true });
    // A pid that existed and is gone: a child that already exited.
    const gone = spawnSync(process.execPath, ["-e", ""]).pid as number;
    writeFileSync(
      join(lock, "owner.json"),
      JSON.stringify({ ...currentProcessOwner(), pid: gone, start: "1" }),
    );
    // ...and the temp dir of the seed it was making.
    mkdirSync(`${repo}.seeding-${gone}-0badf00d`);
    const head = await initManifestRepo(repo, SEED, "main");
    expect(head).toMatch(/^[0-9a-f]{40}$/);
    expect(existsSync(lock)).toBe(false);
    expect(readdirSync(join(repo, ".."))).toEqual(["coffeeshop-manifests"]);
  });
});

describe("local state files", () => {
  it("process owners: this process is alive; an exited one, or one with another start time, is not", () => {
    const me = currentProcessOwner();
    expect(isOwnerAlive(me)).toBe(true);
    const gone = spawnSync(process.execPath, ["-e", ""]).pid as number;
    expect(isOwnerAlive({ ...me, pid: gone })).toBe(false);
    // A reused pid: same pid, another process start time.
    expect(isOwnerAlive({ ...me, start: "1" })).toBe(false);
    expect(isOwnerAlive({ ...me, bootId: "another-boot" })).toBe(false);
  });

  it("writeFileAtomic writes 0600 through a rename and never writes through a symlink at the target", async () => {
    const dir = tempDir();
    try {
      const outside = join(dir.path, "outside.txt");
      writeFileSync(outside, "keep");
      const state = join(dir.path, "state");
      mkdirSync(state);
      symlinkSync(outside, join(state, "record.json"));
      await writeFileAtomic(join(state, "record.json"), "new");
      expect(execFileSync("cat", [outside], { encoding: "utf8" })).toBe("keep");
      expect(
        execFileSync("stat", ["-c", "%a %F", join(state, "record.json")], { encoding: "utf8" }).trim(),
      ).toBe("600 regular file");
      symlinkSync(dir.path, join(state, "executions"));
      await expect(refuseSymlink(join(state, "executions"))).rejects.toThrow(/is a symbolic link/);
    } finally {
      dir.cleanup();
    }
  });
});
