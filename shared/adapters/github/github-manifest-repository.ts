import { GraphqlResponseError } from "@octokit/graphql";
import { RequestError } from "@octokit/request-error";
import { InvalidInputError, ManifestConflictError, ManifestInvalidError } from "../../domain/errors.js";
import { validatePublishInput } from "../../domain/publish-input.js";
import type { ManifestRepository, PublishInput, PublishResult } from "../../ports/index.js";
import type { GithubClient } from "./github-client.js";

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
    const variables: Record<string, string> = {
      owner: this.owner,
      name: this.repo,
      baseRef: qualifiedBranch(input.baseBranch),
      headRef: qualifiedBranch(input.branch),
      baseCommit: input.baseCommit,
    };
    const modeFields = files.map((f, i) => {
      variables[`p${i}`] = f.path;
      return `f${i}: file(path: $p${i}) { mode }`;
    });
    const openPullsField = input.supersede
      ? `openPulls: pullRequests(states: [OPEN], baseRefName: $baseName, first: 100, orderBy: {field: CREATED_AT, direction: DESC}) {
      nodes { id number url headRefName isCrossRepository }
    }`
      : "";
    if (input.supersede) variables.baseName = input.baseBranch.replace(/^refs\/heads\//, "");
    const query = `query PouroverPublishState($owner: String!, $name: String!, $baseRef: String!, $headRef: String!, $baseCommit: GitObjectID!${
      input.supersede ? ", $baseName: String!" : ""
    }${files.map((_, i) => `, $p${i}: String!`).join("")}) {
  repository(owner: $owner, name: $name) {
    base: ref(qualifiedName: $baseRef) { target { oid } }
    baseCommit: object(oid: $baseCommit) {
      ... on Commit { oid tree { oid } ${modeFields.join(" ")} }
    }
    head: ref(qualifiedName: $headRef) {
      target { ... on Commit { oid tree { oid } parents(first: 2) { nodes { oid } } } }
      associatedPullRequests(first: 20, states: [OPEN]) { nodes { number url title body baseRefName } }
    }
    ${openPullsField}
  }
}`;
    const state = await this.graphql<PublishStateData>(query, variables);
    const repository = state.repository;
    if (!repository) throw new ManifestInvalidError(`Repository ${this.owner}/${this.repo} not found`);
    if (!repository.base?.target) {
      throw new ManifestInvalidError(
        `Base branch ${input.baseBranch} not found in ${this.owner}/${this.repo}`,
      );
    }
    if (repository.base.target.oid !== input.baseCommit) {
      throw new ManifestConflictError(
        `Base branch ${input.baseBranch} moved from ${input.baseCommit} to ${repository.base.target.oid}`,
      );
    }
    const base = repository.baseCommit;
    if (!base?.tree) throw new ManifestInvalidError(`Base commit ${input.baseCommit} not found`);
    const head = repository.head?.target?.oid ? repository.head.target : null;
    const openPull = repository.head?.associatedPullRequests?.nodes?.find(
      (pr) => pr && pr.baseRefName === input.baseBranch,
    );

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

    let commit: string;
    let unchanged = false;
    const headParents = head?.parents?.nodes?.map((p) => p.oid) ?? [];
    if (
      head?.oid &&
      head.tree?.oid === tree.data.sha &&
      headParents.length === 1 &&
      headParents[0] === input.baseCommit
    ) {
      commit = head.oid;
      unchanged = true;
    } else {
      // 3. Exactly one commit, parent = baseCommit.
      const created = await this.call(() =>
        this.octokit.request("POST /repos/{owner}/{repo}/git/commits", {
          owner: this.owner,
          repo: this.repo,
          message: input.message,
          tree: tree.data.sha,
          parents: [input.baseCommit],
        }),
      );
      commit = created.data.sha;
      // 4. Point the branch at it.
      if (head?.oid) {
        await this.call(() =>
          this.octokit.request(`PATCH /repos/{owner}/{repo}/git/refs/heads/${encodeBranch(input.branch)}`, {
            owner: this.owner,
            repo: this.repo,
            sha: commit,
            force: true,
          }),
        );
      } else {
        await this.call(() =>
          this.octokit.request("POST /repos/{owner}/{repo}/git/refs", {
            owner: this.owner,
            repo: this.repo,
            ref: qualifiedBranch(input.branch),
            sha: commit,
          }),
        );
      }
    }

    // 5. The one pull request.
    const pull = await this.upsertPull(input, openPull ?? null);
    const result: PublishResult = { commit, url: pull.url, number: pull.number, unchanged };
    if (!input.supersede) return result;

    // 6. The older releases' PRs, closed with a comment pointing here.
    const branch = input.branch.replace(/^refs\/heads\//, "");
    const { branchPrefix, isOlder } = input.supersede;
    const older = (repository.openPulls?.nodes ?? []).filter(
      (pr): pr is OpenPullNode =>
        !!pr &&
        !pr.isCrossRepository &&
        pr.headRefName !== branch &&
        pr.headRefName.startsWith(branchPrefix) &&
        isOlder(pr.headRefName),
    );
    result.superseded = [];
    if (older.length === 0) return result;
    const closing = await this.closeWithComment(older, input.supersede.comment(pull));
    result.superseded = closing.closed;
    if (closing.error) {
      result.supersedeError = closing.error;
      this.octokit.log.warn(`Pourover: ${closing.error}`);
    }
    return result;
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

interface PullNode {
  number: number;
  url: string;
  title: string;
  body: string | null;
  baseRefName: string;
}

interface OpenPullNode {
  id: string;
  number: number;
  url: string;
  headRefName: string;
  isCrossRepository: boolean;
}

interface PublishStateData {
  repository: {
    /** Present only when the query asked for it (supersede). */
    openPulls?: { nodes: (OpenPullNode | null)[] | null } | null;
    base: { target: { oid: string } | null } | null;
    baseCommit: { oid?: string; tree: { oid: string }; [alias: string]: unknown } | null;
    head: {
      target: { oid?: string; tree?: { oid: string }; parents?: { nodes: { oid: string }[] } } | null;
      associatedPullRequests?: { nodes: (PullNode | null)[] | null } | null;
    } | null;
  } | null;
}

const CONFLICT_422 =
  /reference already exists|not a fast.?forward|reference does not exist|object does not exist/i;

/** GitHub's own message (and its `errors` details), without Octokit's docs link. */
function githubMessage(error: unknown): string {
  const data = (error instanceof RequestError ? error.response?.data : undefined) as
    | { message?: string; errors?: ({ message?: string; code?: string; field?: string } | string)[] }
    | undefined;
  const parts: string[] = [];
  if (data?.message) parts.push(data.message);
  for (const e of data?.errors ?? []) {
    if (typeof e === "string") parts.push(e);
    else if (e?.message) parts.push(e.message);
    else if (e?.code) parts.push([e.code, e.field].filter(Boolean).join(" "));
  }
  if (parts.length > 0) return parts.join(": ");
  return error instanceof Error ? error.message : String(error);
}

function mapError(error: unknown): unknown {
  if (error instanceof ManifestConflictError || error instanceof ManifestInvalidError) return error;
  const status = error instanceof RequestError ? error.status : undefined;
  const message = githubMessage(error);
  if (status === 409) return new ManifestConflictError(`GitHub: ${message}`);
  if (status === 422) {
    return CONFLICT_422.test(message)
      ? new ManifestConflictError(`GitHub: ${message}`)
      : new ManifestInvalidError(`GitHub rejected the change (422): ${message}`);
  }
  if (status === 404) return new ManifestInvalidError(`GitHub: not found (404): ${message}`);
  // GraphQL errors (HTTP 200 with `errors`).
  if (error instanceof GraphqlResponseError && (error.errors?.length ?? 0) > 0) {
    const gqlErrors = (error.errors ?? []) as { type?: string; message: string }[];
    const text = gqlErrors.map((e) => e.message).join("; ");
    if (
      gqlErrors.some(
        (e) => e.type === "NOT_FOUND" || e.type === "INVALID_ARGUMENT" || e.type === "UNPROCESSABLE",
      )
    ) {
      return new ManifestInvalidError(`GitHub GraphQL: ${text}`);
    }
  }
  return error;
}

function qualifiedBranch(branch: string): string {
  return `refs/heads/${branch.replace(/^refs\/heads\//, "")}`;
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
