import { execFileSync } from "node:child_process";
import { lstatSync, readdirSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  GitManifestRepository,
  initManifestRepo,
} from "../../shared/adapters/local/git-manifest-repository.js";
import { ManifestConflictError, ManifestInvalidError } from "../../shared/domain/errors.js";
import { compareReleaseTags } from "../../shared/domain/image-editor.js";
import type { PublishInput, SupersedeInput } from "../../shared/ports/index.js";

const SERVICES = ["proxy", "product", "counter", "barista", "kitchen", "web"];

let root: string;
let seedDir: string;
let repoDir: string;
let pullsDir: string;

/** git with no identity and no user/system config, like a fresh CI machine. */
function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null", HOME: root },
  }).trim();
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "pourover-git-test-"));
  // No git identity anywhere: the adapter must bring its own.
  process.env.GIT_CONFIG_GLOBAL = "/dev/null";
  process.env.GIT_CONFIG_NOSYSTEM = "1";
  seedDir = join(root, "seed");
  repoDir = join(root, "manifests");
  pullsDir = join(root, "state", "pulls");
  await mkdir(join(seedDir, "k8s"), { recursive: true });
  for (const s of SERVICES) {
    await writeFile(
      join(seedDir, "k8s", `${s}.yaml`),
      `kind: Deployment\nmetadata:\n  name: ${s}\nspec:\n  containers:\n    - image: ghcr.io/acme/${s}:v1.0.0 # pinned\n`,
    );
  }
  await writeFile(join(seedDir, "docker-compose.yaml"), "services: {}\n");
  await writeFile(join(seedDir, "deploy.sh"), "#!/bin/sh\necho deploy\n", { mode: 0o755 });
});

afterEach(async () => {
  delete process.env.GIT_CONFIG_GLOBAL;
  delete process.env.GIT_CONFIG_NOSYSTEM;
  await rm(root, { recursive: true, force: true });
});

const PATHS = [...SERVICES.map((s) => `k8s/${s}.yaml`), "k8s/missing.yaml"];

function bump(files: Record<string, string | null>, tag: string, only?: string[]) {
  return Object.entries(files)
    .filter(([p, t]) => t !== null && (!only || only.some((s) => p.includes(s))))
    .map(([path, text]) => ({ path, content: (text as string).replace(/:v[\d.]+/, `:${tag}`) }));
}

function release(baseCommit: string, files: { path: string; content: string }[], tag: string): PublishInput {
  return {
    baseBranch: "main",
    baseCommit,
    branch: `release/coffeeshop/${tag}`,
    message: `release coffeeshop ${tag}`,
    files,
    pullRequest: { title: `Release coffeeshop ${tag}`, body: `Pins ${tag}.` },
  };
}

async function records() {
  const names = (await readdir(pullsDir)).sort();
  return Promise.all(
    names.map(async (n) => ({ name: n, ...JSON.parse(await readFile(join(pullsDir, n), "utf8")) })),
  );
}

describe("initManifestRepo", () => {
  it("creates one seed commit on the base branch, and is idempotent", async () => {
    const head = await initManifestRepo(repoDir, seedDir, "main");
    expect(git(repoDir, "rev-list", "--count", "main")).toBe("1");
    expect(git(repoDir, "rev-parse", "main")).toBe(head);
    expect(git(repoDir, "ls-tree", "-r", "--name-only", "main").split("\n")).toHaveLength(8);
    expect(git(repoDir, "log", "-1", "--format=%an <%ae>")).toBe("Pourover <pourover@localhost>");
    expect(await initManifestRepo(repoDir, seedDir, "main")).toBe(head);
    expect(git(repoDir, "rev-list", "--count", "--all")).toBe("1");
  });

  it("with a template cache, a second seed of the same files is a copy of the first (no git init/add/commit)", async () => {
    const templates = join(root, "templates");
    const head = await initManifestRepo(repoDir, seedDir, "main", { templateCache: templates });
    const [template] = await readdir(templates);
    expect(template).toMatch(/^seed-[0-9a-f]{24}$/);
    // A template whose modes are open (as an older version left them): its copy must not be.
    execFileSync("chmod", ["-R", "go+rX", join(templates, template as string)]);
    // Marked inside the template's git folder: only a copy carries the mark.
    await writeFile(join(templates, template as string, ".git", "description"), "from the template\n");
    const second = join(root, "second");
    expect(await initManifestRepo(second, seedDir, "main", { templateCache: templates })).toBe(head);
    // Its copy is owner-only (checked before the git commands below, which write under this
    // process's umask, 022 in tests).
    const open: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (lstatSync(path).mode & 0o077) open.push(path);
        if (entry.isDirectory()) walk(path);
      }
    };
    walk(second);
    expect(open).toEqual([]);
    expect(await readFile(join(second, ".git", "description"), "utf8")).toBe("from the template\n");
    expect(git(second, "rev-parse", "--show-toplevel")).toBe(second);
    expect(git(second, "status", "--porcelain=v1")).toBe("");
    expect(git(second, "ls-tree", "main", "deploy.sh").split(" ")[0]).toBe("100755");
  });

  it("an edited seed (content or executable bit) gets a template of its own", async () => {
    const templates = join(root, "templates");
    await initManifestRepo(repoDir, seedDir, "main", { templateCache: templates });
    await writeFile(join(seedDir, "k8s", "web.yaml"), "kind: Deployment # edited\n");
    const edited = join(root, "edited");
    await initManifestRepo(edited, seedDir, "main", { templateCache: templates });
    expect(git(edited, "show", "main:k8s/web.yaml")).toBe("kind: Deployment # edited");
    execFileSync("chmod", ["0755", join(seedDir, "docker-compose.yaml")]);
    await initManifestRepo(join(root, "modes"), seedDir, "main", { templateCache: templates });
    expect((await readdir(templates)).filter((n) => n.startsWith("seed-"))).toHaveLength(3);
    expect(git(join(root, "modes"), "ls-tree", "main", "docker-compose.yaml").split(" ")[0]).toBe("100755");
  });

  it("creates its own repository even inside another one", async () => {
    git(root, "init", "-q", "-b", "trunk");
    await initManifestRepo(repoDir, seedDir, "main");
    expect(git(repoDir, "rev-parse", "--show-toplevel")).toBe(repoDir);
  });
});

describe("GitManifestRepository", () => {
  it("publishes one commit with exactly the changed files, leaving the working tree and index alone", async () => {
    const base = await initManifestRepo(repoDir, seedDir, "main");
    // The user has local work in progress: a staged change and an unstaged one.
    await writeFile(join(repoDir, "docker-compose.yaml"), "services: {staged: {}}\n");
    git(repoDir, "add", "docker-compose.yaml");
    await writeFile(join(repoDir, "k8s", "web.yaml"), "user edit, unstaged\n");
    const statusBefore = git(repoDir, "status", "--porcelain=v1");
    const indexBefore = git(repoDir, "ls-files", "-s");
    const headBefore = git(repoDir, "symbolic-ref", "HEAD");

    const repo = new GitManifestRepository({ repoDir, pullsDir });
    const read = await repo.readFiles({ baseBranch: "main", paths: PATHS });
    expect(read.baseCommit).toBe(base);
    expect(read.files["k8s/web.yaml"]).toContain("ghcr.io/acme/web:v1.0.0 # pinned"); // the commit, not the working tree
    expect(read.files["k8s/missing.yaml"]).toBeNull();

    const input = release(read.baseCommit, bump(read.files, "v1.1.0", ["web", "counter"]), "v1.1.0");
    // A file given with unchanged content is not a change.
    input.files.push({ path: "k8s/proxy.yaml", content: read.files["k8s/proxy.yaml"] as string });
    const result = await repo.publish(input);

    expect(result.unchanged).toBe(false);
    expect(result.number).toBe(1);
    const branch = "release/coffeeshop/v1.1.0";
    expect(git(repoDir, "rev-parse", branch)).toBe(result.commit);
    expect(git(repoDir, "rev-list", "--count", `main..${branch}`)).toBe("1");
    expect(git(repoDir, "log", "-1", "--format=%P", result.commit)).toBe(base);
    expect(git(repoDir, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", result.commit)).toBe(
      "Pourover <pourover@localhost>|Pourover <pourover@localhost>|release coffeeshop v1.1.0",
    );
    const changed = git(repoDir, "diff-tree", "-r", "--name-only", "--no-commit-id", base, result.commit);
    expect(changed.split("\n")).toEqual(["k8s/counter.yaml", "k8s/web.yaml"]);
    expect(git(repoDir, "show", `${branch}:k8s/web.yaml`)).toContain("ghcr.io/acme/web:v1.1.0 # pinned");
    expect(git(repoDir, "ls-tree", branch, "deploy.sh").split(" ")[0]).toBe("100755");

    // The user's working tree, index and HEAD are exactly as they were.
    expect(git(repoDir, "status", "--porcelain=v1")).toBe(statusBefore);
    expect(git(repoDir, "ls-files", "-s")).toBe(indexBefore);
    expect(git(repoDir, "symbolic-ref", "HEAD")).toBe(headBefore);
    expect(await readFile(join(repoDir, "k8s", "web.yaml"), "utf8")).toBe("user edit, unstaged\n");

    const [record] = await records();
    expect(record).toMatchObject({
      name: "release__coffeeshop__v1.1.0.json",
      number: 1,
      title: "Release coffeeshop v1.1.0",
      body: "Pins v1.1.0.",
      head: branch,
      base: "main",
      commit: result.commit,
      // What git says changed (the adapter computes it from the blob ids, without diff-tree).
      files: changed.split("\n"),
    });
    expect(result.url).toBe(record.url);
    expect(record.url).toMatch(/^file:\/\/.*release__coffeeshop__v1\.1\.0\.json$/);
  });

  it("a re-run makes no commit and keeps one PR record; a second release gets its own branch and PR 2", async () => {
    await initManifestRepo(repoDir, seedDir, "main");
    const repo = new GitManifestRepository({ repoDir, pullsDir });
    const read = await repo.readFiles({ baseBranch: "main", paths: PATHS });
    const first = await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0"), "v1.1.0"));
    const objectsBefore = git(repoDir, "rev-list", "--all", "--count");

    const again = await repo.readFiles({ baseBranch: "main", paths: PATHS });
    const rerun = await repo.publish(release(again.baseCommit, bump(again.files, "v1.1.0"), "v1.1.0"));
    expect(rerun).toEqual({ ...first, unchanged: true });
    expect(git(repoDir, "rev-list", "--all", "--count")).toBe(objectsBefore);
    expect(await records()).toHaveLength(1);

    const second = await repo.publish(release(again.baseCommit, bump(again.files, "v1.2.0"), "v1.2.0"));
    expect(second.unchanged).toBe(false);
    expect(second.number).toBe(2);
    expect(git(repoDir, "rev-parse", "release/coffeeshop/v1.2.0")).toBe(second.commit);
    expect(git(repoDir, "rev-parse", "release/coffeeshop/v1.1.0")).toBe(first.commit);
    const all = await records();
    expect(all.map((r) => [r.name, r.number])).toEqual([
      ["release__coffeeshop__v1.1.0.json", 1],
      ["release__coffeeshop__v1.2.0.json", 2],
    ]);
  });

  it("a re-release with a new PR body updates the record, not duplicates it", async () => {
    await initManifestRepo(repoDir, seedDir, "main");
    const repo = new GitManifestRepository({ repoDir, pullsDir });
    const read = await repo.readFiles({ baseBranch: "main", paths: PATHS });
    const input = release(read.baseCommit, bump(read.files, "v1.1.0"), "v1.1.0");
    await repo.publish(input);
    input.pullRequest.body = "New body";
    const result = await repo.publish(input);
    expect(result.unchanged).toBe(true);
    const all = await records();
    expect(all).toHaveLength(1);
    expect(all[0]?.body).toBe("New body");
  });

  it("a moved base is a ManifestConflictError; rebuilding from the new head moves the branch", async () => {
    await initManifestRepo(repoDir, seedDir, "main");
    const repo = new GitManifestRepository({ repoDir, pullsDir });
    const read = await repo.readFiles({ baseBranch: "main", paths: PATHS });
    await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0"), "v1.1.0"));

    // Someone merges something to main.
    await writeFile(join(repoDir, "README.md"), "hello\n");
    git(repoDir, "add", "README.md");
    git(
      repoDir,
      "-c",
      "user.name=Someone",
      "-c",
      "user.email=someone@example.com",
      "commit",
      "-q",
      "-m",
      "readme",
    );

    await expect(
      repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0"), "v1.1.0")),
    ).rejects.toBeInstanceOf(ManifestConflictError);

    const fresh = await repo.readFiles({ baseBranch: "main", paths: PATHS });
    const rebuilt = await repo.publish(release(fresh.baseCommit, bump(fresh.files, "v1.1.0"), "v1.1.0"));
    expect(rebuilt.unchanged).toBe(false);
    expect(git(repoDir, "log", "-1", "--format=%P", rebuilt.commit)).toBe(fresh.baseCommit);
    expect(rebuilt.number).toBe(1);
    expect(await records()).toHaveLength(1);
  });

  it("refuses to move a branch the user has checked out", async () => {
    await initManifestRepo(repoDir, seedDir, "main");
    const repo = new GitManifestRepository({ repoDir, pullsDir });
    const read = await repo.readFiles({ baseBranch: "main", paths: PATHS });
    await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0"), "v1.1.0"));
    git(repoDir, "checkout", "-q", "release/coffeeshop/v1.1.0");
    await expect(
      repo.publish(release(read.baseCommit, bump(read.files, "v1.1.1"), "v1.1.0")),
    ).rejects.toBeInstanceOf(ManifestInvalidError);
  });

  it("with a remote: reads the remote base and pushes the branch there", async () => {
    const origin = join(root, "origin");
    await initManifestRepo(origin, seedDir, "main");
    git(root, "clone", "-q", origin, repoDir);
    const repo = new GitManifestRepository({ repoDir, pullsDir, remoteName: "origin" });
    const read = await repo.readFiles({ baseBranch: "main", paths: PATHS });
    expect(read.baseCommit).toBe(git(origin, "rev-parse", "main"));
    const result = await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0"), "v1.1.0"));
    expect(git(origin, "rev-parse", "release/coffeeshop/v1.1.0")).toBe(result.commit);
    const rerun = await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0"), "v1.1.0"));
    expect(rerun.unchanged).toBe(true);
  });

  it("supersede: closes the open PR records of older releases of the app, with a comment and closedBy", async () => {
    await initManifestRepo(repoDir, seedDir, "main");
    const repo = new GitManifestRepository({ repoDir, pullsDir });
    const read = await repo.readFiles({ baseBranch: "main", paths: PATHS });
    const open = async (tag: string, branch = `release/coffeeshop/${tag}`, baseBranch = "main") => {
      if (baseBranch !== "main") git(repoDir, "branch", "-f", baseBranch, "main");
      const input = { ...release(read.baseCommit, bump(read.files, tag), tag), branch, baseBranch };
      return repo.publish(input);
    };
    const v101 = await open("v1.0.1");
    const rc = await open("v1.1.0-rc.1");
    await open("v1.2.0"); // newer: stays open
    await open("v0.1.0", "release/other-app/v0.1.0"); // another app
    await open("nightly", "release/coffeeshop/nightly"); // no version order
    await open("v0.9.0", "release/coffeeshop/v0.9.0", "staging"); // another base branch

    const supersede = (tag: string): SupersedeInput => ({
      branchPrefix: "release/coffeeshop/",
      isOlder: (head) => (compareReleaseTags(head.slice("release/coffeeshop/".length), tag) ?? 0) < 0,
      comment: (pull) => `Superseded by #${pull.number}: ${pull.url}`,
    });
    const input = {
      ...release(read.baseCommit, bump(read.files, "v1.1.0"), "v1.1.0"),
      supersede: supersede("v1.1.0"),
    };
    const result = await repo.publish(input);

    expect(result.number).toBe(7);
    expect(result.superseded).toEqual([
      { number: v101.number, url: v101.url, branch: "release/coffeeshop/v1.0.1" },
      { number: rc.number, url: rc.url, branch: "release/coffeeshop/v1.1.0-rc.1" },
    ]);
    const byHead = new Map((await records()).map((r) => [r.head, r]));
    for (const head of ["release/coffeeshop/v1.0.1", "release/coffeeshop/v1.1.0-rc.1"]) {
      expect(byHead.get(head)).toMatchObject({
        state: "closed",
        closedBy: { number: 7, url: result.url, head: "release/coffeeshop/v1.1.0" },
        comments: [{ body: `Superseded by #7: ${result.url}` }],
      });
      expect(byHead.get(head)?.closedAt).toEqual(expect.any(String));
      // The branch itself is left where it was.
      expect(git(repoDir, "rev-parse", "--verify", "-q", head)).toMatch(/^[0-9a-f]{40}$/);
    }
    for (const head of [
      "release/coffeeshop/v1.2.0",
      "release/other-app/v0.1.0",
      "release/coffeeshop/nightly",
      "release/coffeeshop/v0.9.0",
      "release/coffeeshop/v1.1.0",
    ]) {
      expect([head, byHead.get(head)?.state]).toEqual([head, "open"]);
    }

    // A re-run finds nothing left to close and changes no record.
    const before = await records();
    const rerun = await repo.publish(input);
    expect(rerun.unchanged).toBe(true);
    expect(rerun.superseded).toEqual([]);
    expect(await records()).toEqual(before);

    // Releasing a superseded version again (forced upstream) reopens its record, not a second one.
    const again = await open("v1.0.1");
    expect(again.number).toBe(v101.number);
    const reopened = (await records()).find((r) => r.head === "release/coffeeshop/v1.0.1");
    expect(reopened?.state).toBe("open");
    expect(reopened?.closedBy).toBeUndefined();
    expect(reopened?.comments).toHaveLength(1);
  });

  it("without supersede nothing is closed and the result has no superseded list", async () => {
    await initManifestRepo(repoDir, seedDir, "main");
    const repo = new GitManifestRepository({ repoDir, pullsDir });
    const read = await repo.readFiles({ baseBranch: "main", paths: PATHS });
    await repo.publish(release(read.baseCommit, bump(read.files, "v1.0.1"), "v1.0.1"));
    const result = await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0"), "v1.1.0"));
    expect(result.superseded).toBeUndefined();
    expect((await records()).map((r) => r.state)).toEqual(["open", "open"]);
  });

  it("an unknown base branch is a ManifestInvalidError", async () => {
    await initManifestRepo(repoDir, seedDir, "main");
    const repo = new GitManifestRepository({ repoDir, pullsDir });
    await expect(repo.readFiles({ baseBranch: "nope", paths: PATHS })).rejects.toBeInstanceOf(
      ManifestInvalidError,
    );
  });
});
