import { RequestError } from "@octokit/request-error";
import { InvalidInputError, ManifestInvalidError } from "../../domain/errors.js";
import { validatePublishInput } from "../../domain/publish-input.js";
import type { ManifestRepository, PublishInput, PublishResult } from "../../ports/index.js";
import type { GithubClient } from "./github-client.js";
import { githubMessage, mapError } from "./github-errors.js";
import {
  type OpenPullNode,
  type PublishState,
  type PullNode,
  qualifiedBranch,
  readPublishState,
} from "./github-publish-state.js";

/**
 * The GitOps manifests repository on GitHub.
 *
 * readFiles: ONE GraphQL query; every blob is read through the commit the base ref points at
 * (`ref { target { ... on Commit { fN: file(path) } } }`), so the texts and the commit agree.
 *
 * publish (Git Data API, at most 5 calls, exactly one commit whatever the number of files):
 *   1. GraphQL: base ref head (moved base check), base commit tree + file modes, release branch
 *      tip (tree, parents) and its open pull requests
 *   2. POST git/trees (base_tree + inline contents)        → the tree we would commit
 *      — branch tip has that tree and parent baseCommit → unchanged, no commit
 *   3. POST git/commits (parent baseCommit)
 *   4. POST git/refs (new branch) | PATCH git/refs/heads/<branch> force (re-release)
 *   5. POST pulls (none open) | PATCH pulls/{n} (title/body differ) | nothing
 *   6. only when older release PRs are open (`supersede`): ONE GraphQL mutation, `addComment` then
 *      `closePullRequest` per PR, aliased; so a release costs at most 7 calls with readFiles.
 *
 * The open PRs into the base come with query 1 (`pullRequests(baseRefName:, states: OPEN)`, the
 * newest 100); GraphQL cannot filter head branches by prefix, so that is done here. PRs from forks
 * never count as ours. Closing them is best effort: the commit and the PR stand, the release goes on,
 * and `supersedeError` says what failed.
 */
export class GithubManifestRepository implements ManifestRepository {
  private readonly owner: string;
  private readonly repo: string;

  constructor(
    private readonly octokit: GithubClient,
    target: { owner: string; repo: string },
  ) {
    if (!target.owner || !target.repo)
      throw new InvalidInputError("GitHub manifests repository needs owner and repo");
    this.owner = target.owner;
    this.repo = target.repo;
  }

  async readFiles(input: { baseBranch: string; paths: string[] }): Promise<{
    baseCommit: string;
    files: Record<string, string | null>;
  }> {
    const paths = input.paths.map(normalisePath);
    const variables: Record<string, string> = {
      owner: this.owner,
      name: this.repo,
      ref: qualifiedBranch(input.baseBranch),
    };
    const fields = paths.map((path, i) => {
      variables[`p${i}`] = path;
      return `f${i}: file(path: $p${i}) { object { ... on Blob { oid text isBinary isTruncated } } }`;
    });
    const query = `query PouroverReadFiles($owner: String!, $name: String!, $ref: String!${paths
      .map((_, i) => `, $p${i}: String!`)
      .join("")}) {
  repository(owner: $owner, name: $name) {
    ref(qualifiedName: $ref) {
      target {
        oid
        ... on Commit { oid ${fields.join("\n        ")} }
      }
    }
  }
}`;
    const data = await this.graphql<ReadFilesData>(query, variables);
    if (!data.repository) throw new ManifestInvalidError(`Repository ${this.owner}/${this.repo} not found`);
    const target = data.repository.ref?.target;
    if (!target)
      throw new ManifestInvalidError(`Branch ${input.baseBranch} not found in ${this.owner}/${this.repo}`);
    const files: Record<string, string | null> = {};
    for (const [i, path] of paths.entries()) {
      const entry = target[`f${i}`] as BlobEntry | null | undefined;
      const blob = entry?.object;
      if (!blob || blob.oid === undefined) {
        files[path] = null; // missing, or a directory / submodule rather than a file
        continue;
      }
      if (blob.isBinary) throw new ManifestInvalidError(`${path} is a binary file, not a manifest`);
      files[path] = blob.isTruncated || blob.text == null ? await this.readBlob(blob.oid) : blob.text;
    }
    return { baseCommit: target.oid, files };
  }

  async publish(input: PublishInput): Promise<PublishResult> {
    validatePublishInput(input);
    const files = input.files.map((f) => ({ path: normalisePath(f.path), content: f.content }));

    // 1. Everything we need to know, in one query.
    const state = await this.graphqlState(input, files);
    const { base, head } = state;

    // 2. The tree we would commit: content-addressed, so equal trees mean equal contents.
    const tree = await this.call(() =>
      this.octokit.request("POST /repos/{owner}/{repo}/git/trees", {
        owner: this.owner,
        repo: this.repo,
        base_tree: base.tree.oid,
        tree: files.map((f, i) => ({
          path: f.path,
          mode: fileMode((base[`f${i}`] as { mode?: number } | null | undefined)?.mode),
          type: "blob" as const,
          content: f.content,
        })),
      }),
    );

    const headParents = head?.parents?.nodes?.map((p) => p.oid) ?? [];
    const unchanged =
      !!head?.oid &&
      head.tree?.oid === tree.data.sha &&
      headParents.length === 1 &&
      headParents[0] === input.baseCommit;
    const commit = unchanged ? (head?.oid as string) : await this.commitAndPoint(input, tree.data.sha, head);

    // 5. The one pull request.
    const pull = await this.upsertPull(input, state.openPull);
    const result: PublishResult = { commit, url: pull.url, number: pull.number, unchanged };
    if (!input.supersede) return result;

    // 6. The older releases' PRs, closed with a comment pointing here.
    await this.supersedeOlder(input.supersede, input.branch, state.openPulls, pull, result);
    return result;
  }

  /** 3 and 4: exactly one commit (parent baseCommit) and the branch pointed at it. */
  private async commitAndPoint(
    input: PublishInput,
    tree: string,
    head: PublishState["head"],
  ): Promise<string> {
    const created = await this.call(() =>
      this.octokit.request("POST /repos/{owner}/{repo}/git/commits", {
        owner: this.owner,
        repo: this.repo,
        message: input.message,
        tree,
        parents: [input.baseCommit],
      }),
    );
    const sha = created.data.sha;
    await this.call(() =>
      head?.oid
        ? this.octokit.request(`PATCH /repos/{owner}/{repo}/git/refs/heads/${encodeBranch(input.branch)}`, {
            owner: this.owner,
            repo: this.repo,
            sha,
            force: true,
          })
        : this.octokit.request("POST /repos/{owner}/{repo}/git/refs", {
            owner: this.owner,
            repo: this.repo,
            ref: qualifiedBranch(input.branch),
            sha,
          }),
    );
    return sha;
  }

  /** Closes the open release PRs older than this one; best effort, a failure goes in `result`. */
  private async supersedeOlder(
    supersede: NonNullable<PublishInput["supersede"]>,
    releaseBranch: string,
    openPulls: PublishState["openPulls"],
    pull: { number: number; url: string },
    result: PublishResult,
  ): Promise<void> {
    const branch = releaseBranch.replace(/^refs\/heads\//, "");
    const older = openPulls.filter(
      (pr): pr is OpenPullNode =>
        !!pr &&
        !pr.isCrossRepository &&
        pr.headRefName !== branch &&
        pr.headRefName.startsWith(supersede.branchPrefix) &&
        supersede.isOlder(pr.headRefName),
    );
    result.superseded = [];
    if (older.length === 0) return;
    const closing = await this.closeWithComment(older, supersede.comment(pull));
    result.superseded = closing.closed;
    if (closing.error) {
      result.supersedeError = closing.error;
      this.octokit.log.warn(`Pourover: ${closing.error}`);
    }
  }

  /** One GraphQL request: per PR, `addComment` then `closePullRequest` (mutations run in order). */
  private async closeWithComment(
    pulls: OpenPullNode[],
    body: string,
  ): Promise<{ closed: { number: number; url: string; branch: string }[]; error?: string }> {
    const variables: Record<string, string> = { body };
    const fields = pulls.map((pr, i) => {
      variables[`id${i}`] = pr.id;
      return `c${i}: addComment(input: {subjectId: $id${i}, body: $body}) { clientMutationId }
  x${i}: closePullRequest(input: {pullRequestId: $id${i}}) { pullRequest { number state } }`;
    });
    const mutation = `mutation PouroverSupersede($body: String!${pulls.map((_, i) => `, $id${i}: ID!`).join("")}) {
  ${fields.join("\n  ")}
}`;
    type Data = Record<string, { pullRequest?: { state?: string } } | null>;
    const closedIn = (data: Data | undefined) =>
      pulls
        .filter((_, i) => data?.[`x${i}`]?.pullRequest?.state === "CLOSED")
        .map((pr) => ({ number: pr.number, url: pr.url, branch: pr.headRefName }));
    try {
      return { closed: closedIn(await this.octokit.graphql<Data>(mutation, variables)) };
    } catch (error) {
      // A GraphQL error may come with partial data: what did close stays reported.
      const closed = closedIn((error as { data?: Data }).data);
      const left = pulls.filter((pr) => !closed.some((c) => c.number === pr.number));
      const gqlErrors = (error as { errors?: { message?: string }[] }).errors;
      const mapped = mapError(error);
      const why = Array.isArray(gqlErrors)
        ? gqlErrors.map((e) => e.message).join("; ")
        : mapped instanceof Error
          ? mapped.message
          : githubMessage(error);
      const list = left.map((pr) => `#${pr.number}`).join(", ");
      return { closed, error: `closing ${list} failed: ${why.replace(/\s+/g, " ").trim()}` };
    }
  }

  private async upsertPull(
    input: PublishInput,
    open: PullNode | null,
  ): Promise<{ number: number; url: string }> {
    const { title, body } = input.pullRequest;
    if (open) {
      if (open.title !== title || (open.body ?? "") !== body) {
        await this.call(() =>
          this.octokit.request("PATCH /repos/{owner}/{repo}/pulls/{pull_number}", {
            owner: this.owner,
            repo: this.repo,
            pull_number: open.number,
            title,
            body,
          }),
        );
      }
      return { number: open.number, url: open.url };
    }
    try {
      const created = await this.octokit.request("POST /repos/{owner}/{repo}/pulls", {
        owner: this.owner,
        repo: this.repo,
        title,
        body,
        head: input.branch,
        base: input.baseBranch,
      });
      return { number: created.data.number, url: created.data.html_url };
    } catch (error) {
      // Someone (a concurrent run) opened it between our query and now: update that one.
      if (
        error instanceof RequestError &&
        error.status === 422 &&
        /pull request already exists/i.test(githubMessage(error))
      ) {
        const found = await this.call(() =>
          this.octokit.request("GET /repos/{owner}/{repo}/pulls", {
            owner: this.owner,
            repo: this.repo,
            head: `${this.owner}:${input.branch}`,
            base: input.baseBranch,
            state: "open",
            per_page: 1,
          }),
        );
        const existing = found.data[0];
        if (existing) {
          return this.upsertPull(input, {
            number: existing.number,
            url: existing.html_url,
            title: existing.title,
            body: existing.body ?? null,
            baseRefName: input.baseBranch,
          });
        }
      }
      throw mapError(error);
    }
  }

  private async readBlob(oid: string): Promise<string> {
    const blob = await this.call(() =>
      this.octokit.request("GET /repos/{owner}/{repo}/git/blobs/{file_sha}", {
        owner: this.owner,
        repo: this.repo,
        file_sha: oid,
      }),
    );
    return Buffer.from(blob.data.content, (blob.data.encoding as BufferEncoding) ?? "base64").toString(
      "utf8",
    );
  }

  private graphqlState(input: PublishInput, files: { path: string }[]): Promise<PublishState> {
    return this.call(() =>
      readPublishState((query, variables) => this.octokit.graphql(query, variables), {
        owner: this.owner,
        repo: this.repo,
        input,
        paths: files.map((f) => f.path),
      }),
    );
  }

  private async graphql<T>(query: string, variables: Record<string, string>): Promise<T> {
    return this.call(() => this.octokit.graphql<T>(query, variables));
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw mapError(error);
    }
  }
}

/**
 * Counts the calls an Octokit makes (one per logical call; retries happen inside). For tests and
 * the bench: `const calls = trackRequests(octokit); ...; calls.list`.
 */
export function trackRequests(octokit: GithubClient): {
  list: { method: string; url: string }[];
  reset(): void;
} {
  const list: { method: string; url: string }[] = [];
  octokit.hook.before("request", (options) => {
    list.push({ method: options.method, url: options.url });
  });
  return {
    list,
    reset: () => {
      list.length = 0;
    },
  };
}

// ---------------------------------------------------------------------------------------------

interface BlobEntry {
  object: { oid?: string; text?: string | null; isBinary?: boolean; isTruncated?: boolean } | null;
}

interface ReadFilesData {
  repository: {
    ref: { target: { oid: string; [alias: string]: unknown } | null } | null;
  } | null;
}

/** Each segment percent-encoded, slashes kept: `release/app/v1.2.0` stays a path. */
function encodeBranch(branch: string): string {
  return branch
    .replace(/^refs\/heads\//, "")
    .split("/")
    .map(encodeURIComponent)
    .join("/");
}

function normalisePath(path: string): string {
  const p = path.replace(/^\.\//, "").replace(/^\/+/, "");
  if (!p || p.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new InvalidInputError(`Invalid manifest path: ${JSON.stringify(path)}`);
  }
  return p;
}

/** Keeps an executable bit; anything else is written as a regular file. */
function fileMode(mode: number | undefined): "100644" | "100755" {
  return mode === 0o100755 ? "100755" : "100644";
}
