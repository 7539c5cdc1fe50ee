import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { InvalidInputError, ManifestConflictError, ManifestInvalidError } from "../../domain/errors.js";
import { localManifestPath, validatePublishInput } from "../../domain/publish-input.js";
import type { ManifestRepository, PublishInput, PublishResult } from "../../ports/index.js";
import { type GitResult, runGit } from "./git-cli.js";

export { initManifestRepo } from "./manifest-seed.js";

import { closeSupersededRecords, upsertPullRecord } from "./pull-records.js";

export type { PullRecord } from "./pull-records.js";

/**
 * The GitOps manifests repository as a real local git repository, driven through git plumbing.
 * The user's working tree, index and HEAD are never touched: blobs are written with
 * `hash-object`, the tree is built in a temporary index (GIT_INDEX_FILE), the commit is made with
 * `commit-tree` and the branch moved with a compare-and-swap `update-ref`. The "pull request" is
 * a JSON record in `pullsDir`, one per branch. Superseded release PRs get `state: "closed"`, the
 * comment and `closedBy` (the new PR), as GitHub would show them.
 *
 * With `remoteName`, the base branch is read from that remote (fetched first) and the release
 * branch is pushed there with `--force-with-lease`.
 */
export class GitManifestRepository implements ManifestRepository {
  private readonly repoDir: string;
  private readonly pullsDir: string;
  private readonly remoteName: string | undefined;

  constructor(options: { repoDir: string; pullsDir: string; remoteName?: string }) {
    this.repoDir = resolve(options.repoDir);
    this.pullsDir = resolve(options.pullsDir);
    this.remoteName = options.remoteName || undefined;
  }

  async readFiles(input: { baseBranch: string; paths: string[] }): Promise<{
    baseCommit: string;
    files: Record<string, string | null>;
  }> {
    const paths = input.paths.map(localManifestPath);
    const baseCommit = await this.baseHead(input.baseBranch, true);
    const blobs = await this.catFiles(paths.map((p) => `${baseCommit}:${p}`));
    const files: Record<string, string | null> = {};
    for (const [i, path] of paths.entries()) files[path] = blobs[i] ?? null;
    return { baseCommit, files };
  }

  async publish(input: PublishInput): Promise<PublishResult> {
    validatePublishInput(input);
    const branch = input.branch.replace(/^refs\/heads\//, "");
    const branchRef = `refs/heads/${branch}`;
    // Four read-only questions to git, asked at once; answered in the order they were checked before.
    const [refFormat, base, headRef, localTip] = await Promise.all([
      this.git(["check-ref-format", branchRef], { allowFail: true }),
      this.baseHead(input.baseBranch, true).then(
        (oid) => ({ oid }),
        (error: unknown) => ({ error }),
      ),
      this.git(["symbolic-ref", "-q", "HEAD"], { allowFail: true }),
      this.revParse(`${branchRef}^{commit}`),
    ]);
    if (refFormat.code !== 0) {
      throw new InvalidInputError(`Invalid branch name: ${branch}`);
    }
    if ("error" in base) throw base.error;
    const baseHead = base.oid;
    const files = input.files.map((f) => ({ path: localManifestPath(f.path), content: f.content }));

    // The base must not have moved since readFiles.
    if (baseHead !== input.baseCommit) {
      throw new ManifestConflictError(
        `Base branch ${input.baseBranch} moved from ${input.baseCommit} to ${baseHead}`,
      );
    }
    if (headRef.stdout.trim() === branchRef) {
      throw new ManifestInvalidError(
        `Branch ${branch} is checked out in ${this.repoDir}; refusing to move it`,
      );
    }

    const { tree, changed } = await this.buildTree(input.baseCommit, files);
    const remoteTip = this.remoteName ? await this.fetchRemoteBranch(branch) : undefined;
    const tip = this.remoteName ? remoteTip : localTip;

    const { commit, unchanged } = await this.commitOnce(input, { branch, tree, tip, localTip, remoteTip });

    const pull = await upsertPullRecord(this.pullsDir, {
      branch,
      base: input.baseBranch,
      title: input.pullRequest.title,
      body: input.pullRequest.body,
      commit,
      files: changed,
    });
    const result: PublishResult = { commit, url: pull.url, number: pull.number, unchanged };
    if (input.supersede)
      result.superseded = await closeSupersededRecords(
        this.pullsDir,
        input.supersede,
        pull,
        input.baseBranch,
      );
    return result;
  }

  /**
   * The commit of `tree` on the base, made once: a branch tip that already is exactly that
   * (same tree, the base its only parent) is reused, so a re-run makes no second commit.
   */
  private async commitOnce(
    input: PublishInput,
    at: { branch: string; tree: string; tip?: string; localTip?: string; remoteTip?: string },
  ): Promise<{ commit: string; unchanged: boolean }> {
    const branchRef = `refs/heads/${at.branch}`;
    const tipInfo = at.tip ? await this.commitInfo(at.tip) : null;
    if (
      at.tip &&
      tipInfo?.tree === at.tree &&
      tipInfo.parents.length === 1 &&
      tipInfo.parents[0] === input.baseCommit
    ) {
      if (at.localTip !== at.tip) await this.updateRef(branchRef, at.tip, at.localTip, input.message);
      return { commit: at.tip, unchanged: true };
    }
    const message = input.message.endsWith("\n") ? input.message : `${input.message}\n`;
    const commit = (
      await this.git(
        ["-c", "commit.gpgsign=false", "commit-tree", at.tree, "-p", input.baseCommit, "-F", "-"],
        {
          input: message,
        },
      )
    ).stdout.trim();
    await this.updateRef(branchRef, commit, at.localTip, input.message);
    if (this.remoteName) await this.push(at.branch, commit, at.remoteTip);
    return { commit, unchanged: false };
  }

  // --- git plumbing -----------------------------------------------------------------------------

  private async baseHead(baseBranch: string, fetch: boolean): Promise<string> {
    const name = baseBranch.replace(/^refs\/heads\//, "");
    let ref = `refs/heads/${name}`;
    if (this.remoteName) {
      ref = `refs/remotes/${this.remoteName}/${name}`;
      if (fetch) {
        const fetched = await this.git(
          ["fetch", "--quiet", "--no-tags", this.remoteName, `+refs/heads/${name}:${ref}`],
          {
            allowFail: true,
          },
        );
        if (fetched.code !== 0) {
          throw new ManifestInvalidError(
            `Cannot fetch ${name} from ${this.remoteName}: ${fetched.stderr.trim()}`,
          );
        }
      }
    }
    const oid = await this.revParse(`${ref}^{commit}`);
    if (!oid) throw new ManifestInvalidError(`Branch ${name} not found in ${this.repoDir}`);
    return oid;
  }

  private async revParse(rev: string): Promise<string | undefined> {
    const r = await this.git(["rev-parse", "--verify", "--quiet", rev], { allowFail: true });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  private async commitInfo(commit: string): Promise<{ tree: string; parents: string[] }> {
    const out = (await this.git(["show", "-s", "--format=%T%x00%P", commit])).stdout.trim();
    const [tree = "", parents = ""] = out.split("\0");
    return { tree, parents: parents.split(" ").filter(Boolean) };
  }

  /** Blob texts for `<rev>:<path>` names, in one `cat-file --batch`; null for missing or non-blob. */
  private async catFiles(names: string[]): Promise<(string | null)[]> {
    if (names.length === 0) return [];
    const { raw } = await this.git(["cat-file", "--batch"], { input: `${names.join("\n")}\n` });
    const out: (string | null)[] = [];
    let pos = 0;
    for (let i = 0; i < names.length; i++) {
      const eol = raw.indexOf(0x0a, pos);
      const header = raw.subarray(pos, eol).toString("utf8");
      pos = eol + 1;
      const m = /^([0-9a-f]+) (\w+) (\d+)$/.exec(header);
      if (!m) {
        out.push(null); // "<name> missing" / "ambiguous"
        continue;
      }
      const size = Number(m[3]);
      out.push(m[2] === "blob" ? raw.subarray(pos, pos + size).toString("utf8") : null);
      pos += size + 1;
    }
    return out;
  }

  /**
   * Writes the blobs and a tree = baseCommit's tree + files, in a temporary index. `changed` lists the
   * paths whose mode or blob differs from baseCommit's (what `diff-tree --name-only` would print, as
   * only these paths differ), in git's path order, from the ids already at hand.
   */
  private async buildTree(
    baseCommit: string,
    files: { path: string; content: string }[],
  ): Promise<{ tree: string; changed: string[] }> {
    const tmp = await mkdtemp(join(tmpdir(), "pourover-git-"));
    try {
      const env = { GIT_INDEX_FILE: join(tmp, "index") };
      // The temporary index, the new blobs and the existing modes do not depend on each other: three
      // git processes at once rather than one after another.
      const writeBlobs = async () => {
        const blobPaths = await Promise.all(
          files.map(async (f, i) => {
            const p = join(tmp, `blob-${i}`);
            await writeFile(p, f.content, "utf8");
            return p;
          }),
        );
        return (
          await this.git(["hash-object", "-w", "--no-filters", "--stdin-paths"], {
            input: `${blobPaths.join("\n")}\n`,
          })
        ).stdout
          .trim()
          .split("\n");
      };
      const [, shas, existing] = await Promise.all([
        this.git(["read-tree", baseCommit], { env }),
        writeBlobs(),
        this.existingEntries(
          baseCommit,
          files.map((f) => f.path),
        ),
      ]);
      const entries = files.map((f, i) => ({
        path: f.path,
        entry: `${existing.get(f.path)?.mode === "100755" ? "100755" : "100644"} ${shas[i]}`,
      }));
      const info = entries.map((e) => `${e.entry}\t${e.path}\0`).join("");
      await this.git(["update-index", "-z", "--index-info"], { env, input: info });
      const tree = (await this.git(["write-tree"], { env })).stdout.trim();
      const changed = entries
        .filter((e) => {
          const before = existing.get(e.path);
          return !before || `${before.mode} ${before.oid}` !== e.entry;
        })
        .map((e) => e.path)
        .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      return { tree, changed };
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Mode and object id of each path in `commit` (`ls-tree` entries: `<mode> <type> <oid>\t<path>`). */
  private async existingEntries(
    commit: string,
    paths: string[],
  ): Promise<Map<string, { mode: string; oid: string }>> {
    const out = (await this.git(["ls-tree", "-z", "--full-tree", commit, "--", ...paths])).stdout;
    const entries = new Map<string, { mode: string; oid: string }>();
    for (const entry of out.split("\0").filter(Boolean)) {
      const tab = entry.indexOf("\t");
      const [mode = "", , oid = ""] = entry.slice(0, tab).split(" ");
      entries.set(entry.slice(tab + 1), { mode, oid });
    }
    return entries;
  }

  private async updateRef(
    ref: string,
    commit: string,
    expectedOld: string | undefined,
    message: string,
  ): Promise<void> {
    const r = await this.git(
      ["update-ref", "-m", `pourover: ${message.split("\n")[0]}`, ref, commit, expectedOld ?? "0".repeat(40)],
      { allowFail: true },
    );
    if (r.code !== 0) throw new ManifestConflictError(`Branch ${ref} moved meanwhile: ${r.stderr.trim()}`);
  }

  private async fetchRemoteBranch(branch: string): Promise<string | undefined> {
    const remote = this.remoteName as string;
    const listed = await this.git(["ls-remote", "--exit-code", remote, `refs/heads/${branch}`], {
      allowFail: true,
    });
    if (listed.code === 2) return undefined; // no such branch on the remote
    if (listed.code !== 0) throw new ManifestInvalidError(`Cannot list ${remote}: ${listed.stderr.trim()}`);
    const trackingRef = `refs/remotes/${remote}/${branch}`;
    const fetched = await this.git(
      ["fetch", "--quiet", "--no-tags", remote, `+refs/heads/${branch}:${trackingRef}`],
      {
        allowFail: true,
      },
    );
    if (fetched.code !== 0)
      throw new ManifestConflictError(`Cannot fetch ${branch}: ${fetched.stderr.trim()}`);
    return this.revParse(`${trackingRef}^{commit}`);
  }

  private async push(branch: string, commit: string, expectedRemote: string | undefined): Promise<void> {
    const remote = this.remoteName as string;
    const r = await this.git(
      [
        "push",
        "--quiet",
        "--porcelain",
        `--force-with-lease=refs/heads/${branch}:${expectedRemote ?? ""}`,
        remote,
        `${commit}:refs/heads/${branch}`,
      ],
      { allowFail: true },
    );
    if (r.code !== 0)
      throw new ManifestConflictError(
        `Push of ${branch} to ${remote} rejected: ${(r.stderr || r.stdout).trim()}`,
      );
  }

  private git(
    args: string[],
    options: { input?: string; env?: Record<string, string>; allowFail?: boolean } = {},
  ): Promise<GitResult> {
    return runGit(this.repoDir, args, options);
  }
}
