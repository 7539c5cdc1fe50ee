/**
 * Step 1 of GithubManifestRepository.publish: everything the write needs, in ONE GraphQL query (the
 * base ref's head for the moved-base check, the base commit's tree and the modes of the files to
 * write, the release branch's tip and its open pull requests, and with `supersede` the open PRs
 * into the base), checked before anything is written.
 */
import { ManifestConflictError, ManifestInvalidError } from "../../domain/errors.js";
import type { PublishInput } from "../../ports/index.js";

export interface PullNode {
  number: number;
  url: string;
  title: string;
  body: string | null;
  baseRefName: string;
}

export interface OpenPullNode {
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

export interface PublishState {
  /** The base commit: its tree, and `f<i>` = `{ mode }` of the i-th path (null when absent). */
  base: NonNullable<NonNullable<PublishStateData["repository"]>["baseCommit"]>;
  /** The release branch's tip, null when the branch does not exist yet. */
  head: NonNullable<NonNullable<NonNullable<PublishStateData["repository"]>["head"]>["target"]> | null;
  /** The branch's open PR into the base, if any. */
  openPull: PullNode | null;
  /** Open PRs into the base (newest 100), asked for only with `supersede`. */
  openPulls: (OpenPullNode | null)[];
}

type Graphql = (query: string, variables: Record<string, string>) => Promise<unknown>;

export async function readPublishState(
  graphql: Graphql,
  q: { owner: string; repo: string; input: PublishInput; paths: string[] },
): Promise<PublishState> {
  const { input } = q;
  const variables: Record<string, string> = {
    owner: q.owner,
    name: q.repo,
    baseRef: qualifiedBranch(input.baseBranch),
    headRef: qualifiedBranch(input.branch),
    baseCommit: input.baseCommit,
  };
  const modeFields = q.paths.map((path, i) => {
    variables[`p${i}`] = path;
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
  }${q.paths.map((_, i) => `, $p${i}: String!`).join("")}) {
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
  const state = (await graphql(query, variables)) as PublishStateData;
  return checked(state, q);
}

function checked(
  state: PublishStateData,
  q: { owner: string; repo: string; input: PublishInput },
): PublishState {
  const { input } = q;
  const repository = state.repository;
  if (!repository) throw new ManifestInvalidError(`Repository ${q.owner}/${q.repo} not found`);
  if (!repository.base?.target) {
    throw new ManifestInvalidError(`Base branch ${input.baseBranch} not found in ${q.owner}/${q.repo}`);
  }
  if (repository.base.target.oid !== input.baseCommit) {
    throw new ManifestConflictError(
      `Base branch ${input.baseBranch} moved from ${input.baseCommit} to ${repository.base.target.oid}`,
    );
  }
  const base = repository.baseCommit;
  if (!base?.tree) throw new ManifestInvalidError(`Base commit ${input.baseCommit} not found`);
  return {
    base,
    head: repository.head?.target?.oid ? repository.head.target : null,
    openPull:
      repository.head?.associatedPullRequests?.nodes?.find(
        (pr) => pr && pr.baseRefName === input.baseBranch,
      ) ?? null,
    openPulls: repository.openPulls?.nodes ?? [],
  };
}

export function qualifiedBranch(branch: string): string {
  return `refs/heads/${branch.replace(/^refs\/heads\//, "")}`;
}
