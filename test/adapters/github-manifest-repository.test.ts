import { createHash, generateKeyPairSync, verify } from "node:crypto";
import {
  buildSchema,
  type FieldNode,
  type ObjectValueNode,
  type OperationDefinitionNode,
  parse,
  type VariableNode,
  validate,
} from "graphql";
import { HttpResponse, http } from "msw";
import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createGithubClient, type GithubAuth } from "../../shared/adapters/github/github-client.js";
import {
  GithubManifestRepository,
  trackRequests,
} from "../../shared/adapters/github/github-manifest-repository.js";
import {
  InvalidInputError,
  ManifestConflictError,
  ManifestInvalidError,
} from "../../shared/domain/errors.js";
import { compareReleaseTags } from "../../shared/domain/image-editor.js";
import type { PublishInput } from "../../shared/ports/index.js";

/*
 * A small in-memory GitHub behind msw: refs, trees, commits and pulls, answering the REST Git
 * Data API and the two GraphQL queries the adapter sends, with response shapes following
 * GitHub's REST reference (create a tree / commit / reference, pulls) and GraphQL schema.
 */

const API = "https://api.github.com";
const OWNER = "acme";
const REPO = "gitops";
const BASE = "main";

/**
 * The part of GitHub's public GraphQL schema the adapter uses (names, arguments and types as in
 * GitHub's GraphQL reference), so that every query the adapter sends is validated, not just matched.
 */
const GITHUB_SCHEMA = buildSchema(`
  scalar GitObjectID
  scalar URI
  type Query { repository(owner: String!, name: String!, followRenames: Boolean = true): Repository }
  type Mutation {
    addComment(input: AddCommentInput!): AddCommentPayload
    closePullRequest(input: ClosePullRequestInput!): ClosePullRequestPayload
  }
  input AddCommentInput { body: String! clientMutationId: String subjectId: ID! }
  type AddCommentPayload { clientMutationId: String }
  input ClosePullRequestInput { clientMutationId: String pullRequestId: ID! }
  type ClosePullRequestPayload { clientMutationId: String pullRequest: PullRequest }
  enum IssueOrderField { COMMENTS CREATED_AT UPDATED_AT }
  enum OrderDirection { ASC DESC }
  input IssueOrder { direction: OrderDirection! field: IssueOrderField! }
  type Repository {
    id: ID!
    nameWithOwner: String!
    ref(qualifiedName: String!): Ref
    object(oid: GitObjectID, expression: String): GitObject
    pullRequests(after: String, baseRefName: String, before: String, first: Int, headRefName: String, labels: [String!], last: Int, orderBy: IssueOrder, states: [PullRequestState!]): PullRequestConnection!
  }
  interface GitObject { oid: GitObjectID! abbreviatedOid: String! }
  enum PullRequestState { OPEN CLOSED MERGED }
  type Ref {
    id: ID!
    name: String!
    prefix: String!
    target: GitObject
    associatedPullRequests(after: String, before: String, first: Int, last: Int, states: [PullRequestState!], baseRefName: String, headRefName: String, labels: [String!]): PullRequestConnection!
  }
  type PullRequestConnection { nodes: [PullRequest] totalCount: Int! }
  type PullRequest {
    id: ID!
    number: Int!
    url: URI!
    title: String!
    body: String!
    state: PullRequestState!
    baseRefName: String!
    headRefName: String!
    isCrossRepository: Boolean!
  }
  type CommitConnection { nodes: [Commit] totalCount: Int! }
  type Commit implements GitObject {
    oid: GitObjectID!
    abbreviatedOid: String!
    message: String!
    tree: Tree!
    parents(after: String, before: String, first: Int, last: Int): CommitConnection!
    file(path: String!): TreeEntry
  }
  type Tree implements GitObject { oid: GitObjectID! abbreviatedOid: String! entries: [TreeEntry!] }
  type TreeEntry { mode: Int! name: String! path: String oid: GitObjectID! type: String! object: GitObject }
  type Blob implements GitObject {
    oid: GitObjectID!
    abbreviatedOid: String!
    byteSize: Int!
    isBinary: Boolean
    isTruncated: Boolean!
    text: String
  }
`);

function graphqlProblems(query: string): string[] {
  try {
    return validate(GITHUB_SCHEMA, parse(query)).map((e) => e.message);
  } catch (error) {
    return [(error as Error).message];
  }
}

type Tree = Map<string, { content: string; mode: string }>;

interface Pull {
  number: number;
  title: string;
  body: string | null;
  head: string;
  base: string;
  state: "open" | "closed";
  /** Opened from a fork (GraphQL isCrossRepository). */
  fork?: boolean;
  comments?: string[];
}

function sha(...parts: string[]): string {
  return createHash("sha1").update(parts.join("\0")).digest("hex");
}

function treeSha(tree: Tree): string {
  return sha(
    "tree",
    ...[...tree.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([p, e]) => `${e.mode} ${p} ${e.content}`),
  );
}

class FakeGithub {
  trees = new Map<string, Tree>();
  commits = new Map<string, { tree: string; parents: string[]; message: string }>();
  refs = new Map<string, string>();
  pulls: Pull[] = [];
  calls: string[] = [];
  /** Request handlers that answer once before the normal behaviour (error injection). */
  overrides: { match: string; respond: () => Response; times: number }[] = [];
  /** Runs just before the state of a GraphQL publish query is read (to simulate races). */
  onPublishQuery: (() => void) | null = null;
  authHeaders: string[] = [];
  /** GraphQL Blob.text is truncated (isTruncated: true, partial text) above this many bytes. */
  truncateOver = Number.POSITIVE_INFINITY;

  constructor(seed: Record<string, string>) {
    const tree: Tree = new Map(Object.entries(seed).map(([p, c]) => [p, { content: c, mode: "100644" }]));
    const t = treeSha(tree);
    this.trees.set(t, tree);
    const c = sha("commit", t, "seed");
    this.commits.set(c, { tree: t, parents: [], message: "seed" });
    this.refs.set(`refs/heads/${BASE}`, c);
  }

  get baseHead(): string {
    return this.refs.get(`refs/heads/${BASE}`) as string;
  }

  commitsMade(): number {
    return this.commits.size - 1;
  }

  /** Pushes a commit on main changing one file (someone else merged something). */
  moveBase(path: string, content: string): string {
    const parent = this.baseHead;
    const tree: Tree = new Map(this.trees.get(this.commits.get(parent)?.tree as string));
    tree.set(path, { content, mode: "100644" });
    const t = treeSha(tree);
    this.trees.set(t, tree);
    const c = sha("commit", t, parent, "moved");
    this.commits.set(c, { tree: t, parents: [parent], message: "moved" });
    this.refs.set(`refs/heads/${BASE}`, c);
    return c;
  }

  filesAt(commit: string): Tree {
    return this.trees.get(this.commits.get(commit)?.tree as string) as Tree;
  }

  handlers() {
    const record = (label: string, request: Request) => {
      this.calls.push(label);
      this.authHeaders.push(request.headers.get("authorization") ?? "");
      const o = this.overrides.find((x) => x.match === label && x.times > 0);
      if (o) {
        o.times--;
        return o.respond();
      }
      return null;
    };
    const repoBase = `${API}/repos/${OWNER}/${REPO}`;
    return [
      http.post(`${API}/app/installations/:id/access_tokens`, ({ request, params }) => {
        const hit = record("POST /app/installations/:id/access_tokens", request);
        if (hit) return hit;
        return HttpResponse.json(
          {
            token: `ghs_installation_${params.id}`,
            expires_at: new Date(Date.now() + 60 * 60 * 1000).toISOString(),
            permissions: { contents: "write", pull_requests: "write", metadata: "read" },
            repository_selection: "selected",
          },
          { status: 201 },
        );
      }),
      http.post(`${API}/graphql`, async ({ request }) => {
        const body = (await request.clone().json()) as { query: string; variables: Record<string, string> };
        const op = /(?:query|mutation) (\w+)/.exec(body.query)?.[1] ?? "anonymous";
        const hit = record(`POST /graphql ${op}`, request);
        if (hit) return hit;
        const problems = graphqlProblems(body.query);
        if (problems.length > 0) {
          this.calls.push(`INVALID GRAPHQL ${problems.join("; ")}`);
          return HttpResponse.json({ errors: problems.map((message) => ({ message })) });
        }
        if (op === "PouroverReadFiles")
          return HttpResponse.json({ data: this.readFilesData(body.variables) });
        if (op === "PouroverPublishState") {
          this.onPublishQuery?.();
          return HttpResponse.json({ data: this.publishStateData(body.variables) });
        }
        if (op === "PouroverSupersede") return HttpResponse.json(this.mutate(body.query, body.variables));
        return HttpResponse.json({ errors: [{ message: `unknown operation ${op}` }] });
      }),
      http.post(`${repoBase}/git/trees`, async ({ request }) => {
        const hit = record("POST /git/trees", request);
        if (hit) return hit;
        const body = (await request.json()) as {
          base_tree: string;
          tree: { path: string; mode: string; type: string; content: string }[];
        };
        const base = this.trees.get(body.base_tree);
        if (!base) return gh422("Invalid tree info");
        const tree: Tree = new Map(base);
        for (const e of body.tree) tree.set(e.path, { content: e.content, mode: e.mode });
        const t = treeSha(tree);
        this.trees.set(t, tree);
        return HttpResponse.json(
          {
            sha: t,
            url: `${repoBase}/git/trees/${t}`,
            tree: [...tree.entries()].map(([path, e]) => ({
              path,
              mode: e.mode,
              type: "blob",
              size: e.content.length,
              sha: sha("blob", e.content),
              url: `${repoBase}/git/blobs/${sha("blob", e.content)}`,
            })),
            truncated: false,
          },
          { status: 201 },
        );
      }),
      http.post(`${repoBase}/git/commits`, async ({ request }) => {
        const hit = record("POST /git/commits", request);
        if (hit) return hit;
        const body = (await request.json()) as { message: string; tree: string; parents: string[] };
        if (!this.trees.has(body.tree)) return gh422("Tree SHA does not exist");
        const c = sha("commit", body.tree, ...body.parents, body.message, String(this.commits.size));
        this.commits.set(c, { tree: body.tree, parents: body.parents, message: body.message });
        const person = {
          name: "pourover[bot]",
          email: "1+pourover[bot]@users.noreply.github.com",
          date: "2025-01-01T00:00:00Z",
        };
        return HttpResponse.json(
          {
            sha: c,
            node_id: `C_${c.slice(0, 10)}`,
            url: `${repoBase}/git/commits/${c}`,
            html_url: `https://github.com/${OWNER}/${REPO}/commit/${c}`,
            author: person,
            committer: person,
            message: body.message,
            tree: { url: `${repoBase}/git/trees/${body.tree}`, sha: body.tree },
            parents: body.parents.map((p) => ({ url: `${repoBase}/git/commits/${p}`, sha: p, html_url: "" })),
            verification: {
              verified: false,
              reason: "unsigned",
              signature: null,
              payload: null,
              verified_at: null,
            },
          },
          { status: 201 },
        );
      }),
      http.post(`${repoBase}/git/refs`, async ({ request }) => {
        const hit = record("POST /git/refs", request);
        if (hit) return hit;
        const body = (await request.json()) as { ref: string; sha: string };
        if (this.refs.has(body.ref)) return gh422("Reference already exists", "git/refs#create-a-reference");
        this.refs.set(body.ref, body.sha);
        return HttpResponse.json(refShape(body.ref, body.sha), { status: 201 });
      }),
      http.patch(`${repoBase}/git/refs/heads/*`, async ({ request }) => {
        const hit = record("PATCH /git/refs/heads/:branch", request);
        if (hit) return hit;
        const ref = decodeURIComponent(
          new URL(request.url).pathname.replace(`/repos/${OWNER}/${REPO}/git/refs/`, "refs/"),
        );
        const body = (await request.json()) as { sha: string; force?: boolean };
        if (!this.refs.has(ref)) return gh422("Reference does not exist", "git/refs#update-a-reference");
        this.refs.set(ref, body.sha);
        return HttpResponse.json(refShape(ref, body.sha));
      }),
      http.get(`${repoBase}/git/blobs/:sha`, ({ request, params }) => {
        const hit = record("GET /git/blobs/:sha", request);
        if (hit) return hit;
        for (const tree of this.trees.values()) {
          for (const e of tree.values()) {
            if (sha("blob", e.content) !== params.sha) continue;
            const b64 = Buffer.from(e.content).toString("base64").replace(/.{60}/g, "$&\n");
            return HttpResponse.json({
              sha: params.sha,
              node_id: `B_${params.sha}`,
              size: Buffer.byteLength(e.content),
              url: `${repoBase}/git/blobs/${params.sha}`,
              content: b64,
              encoding: "base64",
            });
          }
        }
        return HttpResponse.json({ message: "Not Found" }, { status: 404 });
      }),
      http.get(`${repoBase}/pulls`, ({ request }) => {
        const hit = record("GET /pulls", request);
        if (hit) return hit;
        const q = new URL(request.url).searchParams;
        const head = q.get("head")?.replace(`${OWNER}:`, "");
        const found = this.pulls.filter(
          (p) => p.state === (q.get("state") ?? "open") && (!head || p.head === head),
        );
        return HttpResponse.json(found.map((p) => this.pullShape(p)));
      }),
      http.post(`${repoBase}/pulls`, async ({ request }) => {
        const hit = record("POST /pulls", request);
        if (hit) return hit;
        const body = (await request.json()) as { title: string; body: string; head: string; base: string };
        if (this.pulls.some((p) => p.state === "open" && p.head === body.head && p.base === body.base)) {
          return gh422("Validation Failed", "pulls/pulls#create-a-pull-request", [
            {
              resource: "PullRequest",
              code: "custom",
              message: `A pull request already exists for ${OWNER}:${body.head}.`,
            },
          ]);
        }
        const pull: Pull = { number: this.pulls.length + 1, ...body, state: "open" };
        this.pulls.push(pull);
        return HttpResponse.json(this.pullShape(pull), { status: 201 });
      }),
      http.patch(`${repoBase}/pulls/:number`, async ({ request, params }) => {
        const hit = record("PATCH /pulls/:number", request);
        if (hit) return hit;
        const pull = this.pulls.find((p) => p.number === Number(params.number));
        if (!pull) return HttpResponse.json({ message: "Not Found" }, { status: 404 });
        const body = (await request.json()) as { title?: string; body?: string };
        Object.assign(pull, body);
        return HttpResponse.json(this.pullShape(pull));
      }),
      http.all(`${API}/*`, ({ request }) => {
        this.calls.push(`UNEXPECTED ${request.method} ${new URL(request.url).pathname}`);
        return HttpResponse.json({ message: "Not Found" }, { status: 404 });
      }),
    ];
  }

  pullShape(p: Pull) {
    const headSha = this.refs.get(`refs/heads/${p.head}`) ?? "";
    return {
      url: `${API}/repos/${OWNER}/${REPO}/pulls/${p.number}`,
      id: 1000 + p.number,
      node_id: `PR_${p.number}`,
      html_url: `https://github.com/${OWNER}/${REPO}/pull/${p.number}`,
      number: p.number,
      state: p.state,
      locked: false,
      title: p.title,
      body: p.body,
      draft: false,
      head: { label: `${OWNER}:${p.head}`, ref: p.head, sha: headSha },
      base: { label: `${OWNER}:${p.base}`, ref: p.base, sha: this.baseHead },
      merged: false,
    };
  }

  private commitNode(oid: string, vars: Record<string, string>, want: "text" | "mode") {
    const commit = this.commits.get(oid);
    if (!commit) return null;
    const tree = this.trees.get(commit.tree) as Tree;
    const node: Record<string, unknown> = {
      oid,
      tree: { oid: commit.tree },
      parents: { nodes: commit.parents.map((p) => ({ oid: p })) },
    };
    for (const [k, path] of Object.entries(vars)) {
      const m = /^p(\d+)$/.exec(k);
      if (!m) continue;
      const entry = tree.get(path);
      node[`f${m[1]}`] = !entry
        ? null
        : want === "mode"
          ? { mode: Number.parseInt(entry.mode, 8) }
          : {
              object: {
                oid: sha("blob", entry.content),
                text:
                  entry.content.length > this.truncateOver
                    ? entry.content.slice(0, this.truncateOver)
                    : entry.content,
                isBinary: false,
                isTruncated: entry.content.length > this.truncateOver,
              },
            };
    }
    return node;
  }

  readFilesData(vars: Record<string, string>) {
    const oid = this.refs.get(vars.ref as string);
    return { repository: { ref: oid ? { target: this.commitNode(oid, vars, "text") } : null } };
  }

  /** Runs the top-level mutation fields in order, as GitHub does, answering by alias. */
  mutate(query: string, vars: Record<string, string>) {
    const data: Record<string, unknown> = {};
    const errors: { type: string; path: string[]; message: string }[] = [];
    const operation = parse(query).definitions[0] as OperationDefinitionNode;
    for (const selection of operation.selectionSet.selections as FieldNode[]) {
      const alias = selection.alias?.value ?? selection.name.value;
      const input = selection.arguments?.[0]?.value as ObjectValueNode;
      const arg = (name: string) => {
        const v = input.fields.find((f) => f.name.value === name)?.value as VariableNode | undefined;
        return v ? vars[v.name.value] : undefined;
      };
      const id = arg(selection.name.value === "addComment" ? "subjectId" : "pullRequestId");
      const pull = this.pulls.find((p) => `PR_${p.number}` === id);
      if (!pull) {
        data[alias] = null;
        errors.push({
          type: "NOT_FOUND",
          path: [alias],
          message: `Could not resolve to a node with the global id of '${id}'.`,
        });
        continue;
      }
      if (selection.name.value === "addComment") {
        pull.comments = [...(pull.comments ?? []), arg("body") ?? ""];
        data[alias] = { clientMutationId: null };
      } else {
        pull.state = "closed";
        data[alias] = { pullRequest: { number: pull.number, state: "CLOSED" } };
      }
    }
    return errors.length > 0 ? { data, errors } : { data };
  }

  publishStateData(vars: Record<string, string>) {
    const base = this.refs.get(vars.baseRef as string);
    const headRef = vars.headRef as string;
    const head = this.refs.get(headRef);
    const branch = headRef.replace("refs/heads/", "");
    return {
      repository: {
        base: base ? { target: { oid: base } } : null,
        baseCommit: this.commitNode(vars.baseCommit as string, vars, "mode"),
        head: head
          ? {
              target: this.commitNode(head, {}, "mode"),
              associatedPullRequests: {
                nodes: this.pulls
                  .filter((p) => p.state === "open" && p.head === branch)
                  .map((p) => ({
                    number: p.number,
                    url: `https://github.com/${OWNER}/${REPO}/pull/${p.number}`,
                    title: p.title,
                    body: p.body,
                    baseRefName: p.base,
                  })),
              },
            }
          : null,
        openPulls: {
          nodes: this.pulls
            .filter((p) => p.state === "open" && (vars.baseName === undefined || p.base === vars.baseName))
            .reverse()
            .slice(0, 100)
            .map((p) => ({
              id: `PR_${p.number}`,
              number: p.number,
              url: `https://github.com/${OWNER}/${REPO}/pull/${p.number}`,
              headRefName: p.head,
              isCrossRepository: p.fork === true,
            })),
        },
      },
    };
  }
}

function gh422(message: string, doc = "git", errors?: unknown[]) {
  return HttpResponse.json(
    {
      message,
      ...(errors ? { errors } : {}),
      documentation_url: `https://docs.github.com/rest/${doc}`,
      status: "422",
    },
    { status: 422 },
  );
}

function refShape(ref: string, commit: string) {
  return {
    ref,
    node_id: `REF_${ref}`,
    url: `${API}/repos/${OWNER}/${REPO}/git/${ref}`,
    object: { type: "commit", sha: commit, url: `${API}/repos/${OWNER}/${REPO}/git/commits/${commit}` },
  };
}

// ---------------------------------------------------------------------------------------------

const SERVICES = ["proxy", "product", "counter", "barista", "kitchen", "web"];
const seed: Record<string, string> = {};
for (const s of SERVICES) {
  seed[`k8s/${s}.yaml`] =
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${s}\nspec:\n  template:\n    spec:\n      containers:\n        - name: ${s}\n          image: ghcr.io/acme/${s}:v1.0.0 # pinned\n`;
}
seed["docker-compose.yaml"] = "services: {}\n";

let fake: FakeGithub;
const server = setupServer();

beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());
beforeEach(() => {
  fake = new FakeGithub(seed);
  server.use(...fake.handlers());
});

function client(auth: GithubAuth = { kind: "token", token: "ghp_test" }) {
  return createGithubClient(auth, { writeSpacingMs: 0, retryAfterBaseMs: 5 });
}

function repository(auth?: GithubAuth) {
  return new GithubManifestRepository(client(auth), { owner: OWNER, repo: REPO });
}

function bump(files: Record<string, string | null>, tag: string): { path: string; content: string }[] {
  return Object.entries(files)
    .filter(([p]) => p.startsWith("k8s/"))
    .map(([path, text]) => ({ path, content: (text ?? "").replace(/:v[\d.]+/, `:${tag}`) }));
}

function release(
  baseCommit: string,
  files: { path: string; content: string }[],
  tag = "v1.1.0",
): PublishInput {
  return {
    baseBranch: BASE,
    baseCommit,
    branch: `release/coffeeshop/${tag}`,
    message: `release coffeeshop ${tag}`,
    files,
    pullRequest: { title: `Release coffeeshop ${tag}`, body: `Pins coffeeshop ${tag}.` },
  };
}

const PATHS = [...SERVICES.map((s) => `k8s/${s}.yaml`), "k8s/missing.yaml"];

const NEW_RELEASE = [
  "POST /graphql PouroverReadFiles",
  "POST /graphql PouroverPublishState",
  "POST /git/trees",
  "POST /git/commits",
  "POST /git/refs",
  "POST /pulls",
];

describe("GithubManifestRepository", () => {
  it("readFiles: one GraphQL call, texts from the head commit, null for a missing file", async () => {
    const repo = repository();
    const read = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    expect(fake.calls).toEqual(["POST /graphql PouroverReadFiles"]);
    expect(read.baseCommit).toBe(fake.baseHead);
    expect(read.files["k8s/web.yaml"]).toBe(seed["k8s/web.yaml"]);
    expect(read.files["k8s/missing.yaml"]).toBeNull();
  });

  it("readFiles: a blob GraphQL truncates is fetched whole from git/blobs", async () => {
    fake.truncateOver = 100;
    const big = `${"# padding line\n".repeat(500)}image: ghcr.io/acme/web:v1.0.0\n`;
    fake.moveBase("k8s/big.yaml", big);
    fake.calls = [];
    const read = await repository().readFiles({
      baseBranch: BASE,
      paths: ["k8s/big.yaml", "docker-compose.yaml"],
    });
    expect(read.files["k8s/big.yaml"]).toBe(big);
    expect(read.files["docker-compose.yaml"]).toBe(seed["docker-compose.yaml"]);
    expect(fake.calls).toEqual(["POST /graphql PouroverReadFiles", "GET /git/blobs/:sha"]);
  });

  it("readFiles with no paths still returns the head", async () => {
    const read = await repository().readFiles({ baseBranch: BASE, paths: [] });
    expect(read).toEqual({ baseCommit: fake.baseHead, files: {} });
  });

  it("token auth sends the token on every call", async () => {
    await repository().readFiles({ baseBranch: BASE, paths: PATHS });
    expect(fake.authHeaders).toEqual(["token ghp_test"]);
  });

  it("(a) new release: 6 calls, one commit with parent baseCommit, branch and PR created", async () => {
    const repo = repository();
    const read = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    const files = bump(read.files, "v1.1.0");
    const result = await repo.publish(release(read.baseCommit, files));

    expect(fake.calls).toEqual(NEW_RELEASE);
    expect(fake.commitsMade()).toBe(1);
    expect(result).toEqual({
      commit: fake.refs.get("refs/heads/release/coffeeshop/v1.1.0"),
      url: `https://github.com/${OWNER}/${REPO}/pull/1`,
      number: 1,
      unchanged: false,
    });
    const commit = fake.commits.get(result.commit);
    expect(commit?.parents).toEqual([read.baseCommit]);
    const tree = fake.filesAt(result.commit);
    expect(tree.get("k8s/web.yaml")?.content).toContain("ghcr.io/acme/web:v1.1.0 # pinned");
    expect(tree.get("docker-compose.yaml")?.content).toBe(seed["docker-compose.yaml"]);
    expect(fake.pulls).toHaveLength(1);
    expect(fake.pulls[0]).toMatchObject({
      head: "release/coffeeshop/v1.1.0",
      base: BASE,
      title: "Release coffeeshop v1.1.0",
    });
  });

  it("(b) existing branch and PR: branch force-updated, PR updated, never duplicated", async () => {
    const repo = repository();
    const read = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0")));

    // The base moved (another merge); the release is rebuilt from the new head with a new body.
    fake.moveBase("README.md", "hello\n");
    fake.calls = [];
    const again = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    const input = release(again.baseCommit, bump(again.files, "v1.1.0"));
    input.pullRequest.body = "Pins coffeeshop v1.1.0 (rebuilt on the new base).";
    const result = await repo.publish(input);

    expect(fake.calls).toEqual([
      "POST /graphql PouroverReadFiles",
      "POST /graphql PouroverPublishState",
      "POST /git/trees",
      "POST /git/commits",
      "PATCH /git/refs/heads/:branch",
      "PATCH /pulls/:number",
    ]);
    expect(result.number).toBe(1);
    expect(result.unchanged).toBe(false);
    expect(fake.pulls).toHaveLength(1);
    expect(fake.pulls[0]?.body).toBe(input.pullRequest.body);
    expect(fake.commits.get(result.commit)?.parents).toEqual([again.baseCommit]);
    expect(fake.commitsMade()).toBe(3); // first release, the foreign base move, the rebuilt release
  });

  it("(c) re-run with identical contents: no commit, no new PR, 3 calls", async () => {
    const repo = repository();
    const read = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    const first = await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0")));
    const commitsBefore = fake.commits.size;
    fake.calls = [];

    const again = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    const result = await repo.publish(release(again.baseCommit, bump(again.files, "v1.1.0")));

    expect(fake.calls).toEqual([
      "POST /graphql PouroverReadFiles",
      "POST /graphql PouroverPublishState",
      "POST /git/trees",
    ]);
    expect(result).toEqual({ ...first, unchanged: true });
    expect(fake.commits.size).toBe(commitsBefore);
    expect(fake.pulls).toHaveLength(1);
  });

  it("(d) the base moved after readFiles: ManifestConflictError before any write", async () => {
    const repo = repository();
    const read = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    fake.moveBase("k8s/web.yaml", "changed by someone else\n");
    fake.calls = [];
    const error = await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0"))).catch((e) => e);
    expect(error).toBeInstanceOf(ManifestConflictError);
    expect(error.retryable).toBe(true);
    expect(fake.calls).toEqual(["POST /graphql PouroverPublishState"]);
    expect(fake.refs.has("refs/heads/release/coffeeshop/v1.1.0")).toBe(false);
  });

  it("(d') a concurrent run created the branch first: 422 Reference already exists → ManifestConflictError", async () => {
    const repo = repository();
    const read = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    fake.onPublishQuery = () => {
      fake.onPublishQuery = null;
      queueMicrotask(() => fake.refs.set("refs/heads/release/coffeeshop/v1.1.0", read.baseCommit));
    };
    fake.calls = [];
    const error = await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0"))).catch((e) => e);
    expect(error).toBeInstanceOf(ManifestConflictError);
    expect(error.message).toContain("Reference already exists");
    expect(fake.calls).toEqual([
      "POST /graphql PouroverPublishState",
      "POST /git/trees",
      "POST /git/commits",
      "POST /git/refs",
    ]);
    expect(fake.pulls).toHaveLength(0);
  });

  it("(d'') a ref update refused as not a fast forward → ManifestConflictError", async () => {
    const repo = repository();
    const read = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0")));
    fake.overrides.push({
      match: "PATCH /git/refs/heads/:branch",
      times: 1,
      respond: () => gh422("Update is not a fast forward", "git/refs#update-a-reference"),
    });
    const error = await repo
      .publish(
        release(
          read.baseCommit,
          bump(read.files, "v1.1.0").map((f) => ({ ...f, content: `${f.content}#\n` })),
        ),
      )
      .catch((e) => e);
    expect(error).toBeInstanceOf(ManifestConflictError);
    expect(error.message).toContain("Update is not a fast forward");
  });

  it("(e) a 403 secondary rate limit with retry-after is retried and succeeds", async () => {
    const repo = repository();
    const read = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    fake.calls = [];
    fake.overrides.push({
      match: "POST /git/commits",
      times: 1,
      respond: () =>
        HttpResponse.json(
          {
            message:
              "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 1234:5678.",
            documentation_url:
              "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
            status: "403",
          },
          { status: 403, headers: { "retry-after": "1", "x-ratelimit-remaining": "4990" } },
        ),
    });
    const result = await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0")));
    expect(fake.calls).toEqual([
      "POST /graphql PouroverPublishState",
      "POST /git/trees",
      "POST /git/commits",
      "POST /git/commits",
      "POST /git/refs",
      "POST /pulls",
    ]);
    expect(result.number).toBe(1);
    expect(fake.commitsMade()).toBe(1);
  });

  it("(e') a secondary rate limit that never clears gives up after a bounded number of retries", async () => {
    const repo = repository();
    const read = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    fake.calls = [];
    fake.overrides.push({
      match: "POST /git/trees",
      times: 100,
      respond: () =>
        HttpResponse.json(
          {
            message: "You have exceeded a secondary rate limit.",
            documentation_url: "https://docs.github.com",
          },
          { status: 429, headers: { "retry-after": "1" } },
        ),
    });
    const error = await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0"))).catch((e) => e);
    expect(error.status).toBe(429);
    expect(fake.calls.filter((c) => c === "POST /git/trees")).toHaveLength(3); // 1 + 2 retries
    expect(fake.commitsMade()).toBe(0);
  });

  it("(f) a 422 for another reason → ManifestInvalidError with GitHub's message", async () => {
    const repo = repository();
    const read = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    fake.overrides.push({
      match: "POST /git/trees",
      times: 1,
      respond: () =>
        gh422("Invalid tree info", "git/trees#create-a-tree", [
          {
            resource: "Tree",
            field: "path",
            code: "invalid",
            message: "tree.path contains a malformed path component",
          },
        ]),
    });
    const error = await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0"))).catch((e) => e);
    expect(error).toBeInstanceOf(ManifestInvalidError);
    expect(error.message).toContain("Invalid tree info");
    expect(error.message).toContain("malformed path component");
    expect(error.retryable).toBe(false);
  });

  it("(f') a PR the base branch refuses (422) → ManifestInvalidError", async () => {
    const repo = repository();
    const read = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    fake.overrides.push({
      match: "POST /pulls",
      times: 1,
      respond: () =>
        gh422("Validation Failed", "pulls/pulls#create-a-pull-request", [
          {
            resource: "PullRequest",
            code: "custom",
            message: "No commits between main and release/coffeeshop/v1.1.0",
          },
        ]),
    });
    const error = await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0"))).catch((e) => e);
    expect(error).toBeInstanceOf(ManifestInvalidError);
    expect(error.message).toContain("No commits between");
  });

  it("a PR opened concurrently (422 already exists) is found and updated, not duplicated", async () => {
    const repo = repository();
    const read = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    fake.onPublishQuery = () => {
      fake.onPublishQuery = null;
      queueMicrotask(() =>
        fake.pulls.push({
          number: 7,
          title: "old",
          body: null,
          head: "release/coffeeshop/v1.1.0",
          base: BASE,
          state: "open",
        }),
      );
    };
    fake.calls = [];
    const result = await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0")));
    expect(fake.calls).toEqual([
      "POST /graphql PouroverPublishState",
      "POST /git/trees",
      "POST /git/commits",
      "POST /git/refs",
      "POST /pulls",
      "GET /pulls",
      "PATCH /pulls/:number",
    ]);
    expect(result.number).toBe(7);
    expect(fake.pulls).toHaveLength(1);
  });

  it("(g) 6 and 60 files: the same calls, exactly one commit", async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 60; i++) many[`k8s/svc-${i}.yaml`] = `image: ghcr.io/acme/svc-${i}:v1.0.0\n`;
    for (const count of [6, 60]) {
      fake = new FakeGithub(many);
      server.resetHandlers(...fake.handlers());
      const repo = repository();
      const paths = Object.keys(many).slice(0, count);
      const read = await repo.readFiles({ baseBranch: BASE, paths });
      const files = bump(read.files, "v2.0.0");
      expect(files).toHaveLength(count);
      await repo.publish(release(read.baseCommit, files, "v2.0.0"));
      expect(fake.calls).toEqual(NEW_RELEASE);
      expect(fake.commitsMade()).toBe(1);
      const tip = fake.refs.get("refs/heads/release/coffeeshop/v2.0.0") as string;
      const changed = [...fake.filesAt(tip).entries()].filter(([p, e]) => many[p] !== e.content);
      expect(changed).toHaveLength(count);
    }
  });

  it("(h) app auth: the JWT is exchanged once and the installation token is reused", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
    const octokit = client({ kind: "app", appId: "424242", privateKey: pem, installationId: 99 });
    const counted = trackRequests(octokit);
    const repo = new GithubManifestRepository(octokit, { owner: OWNER, repo: REPO });

    const read = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    await repo.publish(release(read.baseCommit, bump(read.files, "v1.1.0")));
    const read2 = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    await repo.publish(release(read2.baseCommit, bump(read2.files, "v1.2.0"), "v1.2.0"));

    expect(fake.calls.filter((c) => c.includes("access_tokens"))).toHaveLength(1);
    expect(fake.calls[0]).toBe("POST /app/installations/:id/access_tokens");
    expect(fake.calls).toEqual([
      "POST /app/installations/:id/access_tokens",
      ...NEW_RELEASE,
      ...NEW_RELEASE.map((c) => c),
    ]);
    expect(counted.list).toHaveLength(13);

    // The exchange carried a valid RS256 JWT for the app; everything else the installation token.
    const [jwtHeader, ...rest] = fake.authHeaders;
    const jwt = (jwtHeader as string).replace(/^bearer /i, "");
    const [h, p, s] = jwt.split(".") as [string, string, string];
    expect(JSON.parse(Buffer.from(h, "base64url").toString())).toEqual({ alg: "RS256", typ: "JWT" });
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    expect(claims.iss).toBe("424242");
    expect(claims.exp - claims.iat).toBe(600);
    expect(claims.iat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) - 59);
    expect(verify("sha256", Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, "base64url"))).toBe(true);
    expect(new Set(rest)).toEqual(new Set(["token ghs_installation_99"]));
  });

  it("app auth refreshes the token when it is within 5 minutes of expiry", async () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    let n = 0;
    server.use(
      http.post(`${API}/app/installations/:id/access_tokens`, ({ request }) => {
        fake.calls.push("POST /app/installations/:id/access_tokens");
        fake.authHeaders.push(request.headers.get("authorization") ?? "");
        n++;
        return HttpResponse.json(
          { token: `ghs_short_${n}`, expires_at: new Date(Date.now() + 4 * 60 * 1000).toISOString() },
          { status: 201 },
        );
      }),
    );
    // A key stored as one JSON line with literal "\n" works too.
    const repo = repository({
      kind: "app",
      appId: "1",
      privateKey: pem.replace(/\n/g, "\\n"),
      installationId: 5,
    });
    await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    expect(n).toBe(2);
    expect(fake.authHeaders.filter((a) => a.startsWith("token "))).toEqual([
      "token ghs_short_1",
      "token ghs_short_2",
    ]);
  });

  it("app auth: a token revoked early (401) is refreshed once", async () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const repo = repository({ kind: "app", appId: "1", privateKey: pem, installationId: 7 });
    fake.overrides.push({
      match: "POST /graphql PouroverReadFiles",
      times: 1,
      respond: () =>
        HttpResponse.json(
          { message: "Bad credentials", documentation_url: "https://docs.github.com/graphql" },
          { status: 401 },
        ),
    });
    const read = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    expect(read.baseCommit).toBe(fake.baseHead);
    expect(fake.calls).toEqual([
      "POST /app/installations/:id/access_tokens",
      "POST /graphql PouroverReadFiles",
      "POST /app/installations/:id/access_tokens",
      "POST /graphql PouroverReadFiles",
    ]);
  });

  it("rejects bad input without calling GitHub", async () => {
    const repo = repository();
    await expect(repo.publish(release("abc", []))).rejects.toBeInstanceOf(InvalidInputError);
    expect(fake.calls).toEqual([]);
  });

  it("a missing base branch is a ManifestInvalidError", async () => {
    const repo = repository();
    await expect(repo.readFiles({ baseBranch: "nope", paths: PATHS })).rejects.toBeInstanceOf(
      ManifestInvalidError,
    );
  });
});

describe("GithubManifestRepository: superseding older release PRs", () => {
  const PREFIX = "release/coffeeshop/";
  /** What the core passes: older = a release tag ordered before this one. */
  function superseding(tag: string): PublishInput {
    return {
      ...release(fake.baseHead, [], tag),
      supersede: {
        branchPrefix: PREFIX,
        isOlder: (head) => (compareReleaseTags(head.slice(PREFIX.length), tag) ?? 0) < 0,
        comment: (pull) => `Superseded by #${pull.number} (coffeeshop ${tag}): ${pull.url}`,
      },
    };
  }
  function openPull(head: string, extra: Partial<Pull> = {}): Pull {
    const pull: Pull = {
      number: fake.pulls.length + 1,
      title: `Release ${head}`,
      body: "",
      head,
      base: BASE,
      state: "open",
      ...extra,
    };
    fake.pulls.push(pull);
    fake.refs.set(`refs/heads/${head}`, fake.baseHead);
    return pull;
  }
  async function publishRelease(tag: string) {
    const repo = repository();
    const read = await repo.readFiles({ baseBranch: BASE, paths: PATHS });
    const input = { ...superseding(tag), baseCommit: read.baseCommit, files: bump(read.files, tag) };
    return { input, result: await repo.publish(input), repo };
  }
  const SUPERSEDE = "POST /graphql PouroverSupersede";

  it("0 older PRs open: the 6 calls of a new release, nothing closed", async () => {
    openPull("release/coffeeshop/v2.0.0"); // newer
    openPull("feature/x");
    const { result } = await publishRelease("v1.1.0");
    expect(fake.calls).toEqual(NEW_RELEASE);
    expect(result.superseded).toEqual([]);
    expect(result.supersedeError).toBeUndefined();
    expect(fake.pulls.filter((p) => p.state === "closed")).toEqual([]);
  });

  it("1 older PR open: 7 calls, the last ONE mutation commenting and closing it", async () => {
    const old = openPull("release/coffeeshop/v1.0.0");
    const { result } = await publishRelease("v1.1.0");
    expect(fake.calls).toEqual([...NEW_RELEASE, SUPERSEDE]);
    expect(fake.calls.length).toBeLessThanOrEqual(8);
    expect(fake.calls.some((c) => c.startsWith("INVALID"))).toBe(false);
    expect(result.number).toBe(2);
    expect(result.superseded).toEqual([
      { number: old.number, url: `https://github.com/${OWNER}/${REPO}/pull/1`, branch: old.head },
    ]);
    expect(old.state).toBe("closed");
    expect(old.comments).toEqual([
      `Superseded by #2 (coffeeshop v1.1.0): https://github.com/${OWNER}/${REPO}/pull/2`,
    ]);
    expect(fake.pulls[1]).toMatchObject({ head: "release/coffeeshop/v1.1.0", state: "open" });
    expect(fake.commitsMade()).toBe(1);
  });

  it("3 older PRs open: still ONE mutation; newer, unordered, other-app, fork and other-base PRs stay open", async () => {
    const older = [
      openPull("release/coffeeshop/v1.0.0"),
      openPull("release/coffeeshop/v1.1.0-rc.2"),
      openPull("release/coffeeshop/v0.9"),
    ];
    const kept = [
      openPull("release/coffeeshop/v1.2.0"),
      openPull("release/coffeeshop/nightly"),
      openPull("release/coffeeshop-legacy/v0.1.0"),
      openPull("release/other/v0.1.0"),
      openPull("release/coffeeshop/v0.5.0", { fork: true }),
      openPull("release/coffeeshop/v0.4.0", { base: "staging" }),
    ];
    const { result } = await publishRelease("v1.1.0");
    expect(fake.calls).toEqual([...NEW_RELEASE, SUPERSEDE]);
    expect(fake.calls.some((c) => c.startsWith("INVALID"))).toBe(false);
    const number = result.number as number;
    expect(number).toBe(10);
    expect(new Set(result.superseded?.map((p) => p.number))).toEqual(new Set(older.map((p) => p.number)));
    for (const pull of older) {
      expect(pull.state).toBe("closed");
      expect(pull.comments).toEqual([
        `Superseded by #10 (coffeeshop v1.1.0): https://github.com/${OWNER}/${REPO}/pull/10`,
      ]);
    }
    for (const pull of kept)
      expect([pull.head, pull.state, pull.comments]).toEqual([pull.head, "open", undefined]);

    // A re-run: nothing left to close, so no mutation: the 3 calls of a re-run.
    fake.calls = [];
    const again = await publishRelease("v1.1.0");
    expect(fake.calls).toEqual([
      "POST /graphql PouroverReadFiles",
      "POST /graphql PouroverPublishState",
      "POST /git/trees",
    ]);
    expect(again.result).toMatchObject({ unchanged: true, number, superseded: [] });
  });

  it("an existing PR of this release plus an older one: 7 calls, this PR is updated, never closed", async () => {
    const first = await publishRelease("v1.1.0");
    const old = openPull("release/coffeeshop/v1.0.0");
    fake.moveBase("README.md", "moved\n");
    fake.calls = [];
    const { result } = await publishRelease("v1.1.0");
    expect(fake.calls).toEqual([
      "POST /graphql PouroverReadFiles",
      "POST /graphql PouroverPublishState",
      "POST /git/trees",
      "POST /git/commits",
      "PATCH /git/refs/heads/:branch",
      SUPERSEDE,
    ]);
    expect(result.number).toBe(first.result.number);
    expect(fake.pulls.find((p) => p.number === result.number)?.state).toBe("open");
    expect(old.state).toBe("closed");
  });

  it("a failure closing them is reported, not thrown: the commit and the PR stand", async () => {
    const a = openPull("release/coffeeshop/v1.0.0");
    const b = openPull("release/coffeeshop/v1.0.1");
    // GitHub answers the mutation with partial data: the first PR closed, the second refused.
    fake.overrides.push({
      match: SUPERSEDE,
      times: 1,
      respond: () => {
        a.state = "closed";
        return HttpResponse.json({
          data: {
            c0: { clientMutationId: null },
            x0: { pullRequest: { number: 2, state: "CLOSED" } },
            c1: null,
            x1: null,
          },
          errors: [
            {
              type: "FORBIDDEN",
              path: ["c1"],
              message: "Resource not accessible by integration",
            },
          ],
        });
      },
    });
    const { result } = await publishRelease("v1.1.0");
    expect(fake.calls).toEqual([...NEW_RELEASE, SUPERSEDE]);
    expect(result.number).toBe(3);
    expect(fake.commitsMade()).toBe(1);
    // Newest first in the listing: v1.0.1 (#2) is c0/x0, v1.0.0 (#1) is c1/x1.
    expect(result.superseded?.map((p) => p.number)).toEqual([2]);
    expect(result.supersedeError).toMatch(/^closing #1 failed: .*Resource not accessible by integration/);
    expect(b.state).toBe("open");
  });

  it("60 files and no older PR: the 6 calls, exactly one commit", async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 60; i++) many[`k8s/svc-${i}.yaml`] = `image: ghcr.io/acme/svc-${i}:v1.0.0\n`;
    fake = new FakeGithub(many);
    server.resetHandlers(...fake.handlers());
    const repo = repository();
    const read = await repo.readFiles({ baseBranch: BASE, paths: Object.keys(many) });
    const files = bump(read.files, "v2.0.0");
    expect(files).toHaveLength(60);
    await repo.publish({ ...superseding("v2.0.0"), baseCommit: read.baseCommit, files });
    expect(fake.calls).toEqual(NEW_RELEASE);
    expect(fake.calls.length).toBeLessThanOrEqual(8);
    expect(fake.commitsMade()).toBe(1);
  });
});
