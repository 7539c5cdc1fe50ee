/**
 * A tiny GitHub for the bench and the msw contract tests: one repository (refs, trees, commits,
 * pulls, statuses, comments) answering the GraphQL queries and the REST calls the adapters make,
 * plus any repository's compare; every request is counted.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

type Tree = Map<string, { content: string; mode: string }>;

const sha1 = (...parts: string[]) => createHash("sha1").update(parts.join("\0")).digest("hex");
const treeSha = (tree: Tree) =>
  sha1(
    "tree",
    ...[...tree.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([p, e]) => `${e.mode} ${p} ${e.content}`),
  );

/** A tiny GitHub: one repository, refs, trees, commits and pulls; plus any repo's compare. */
export class FakeGithub {
  readonly trees = new Map<string, Tree>();
  readonly commits = new Map<string, { tree: string; parents: string[] }>();
  readonly refs = new Map<string, string>();
  readonly pulls: { number: number; title: string; body: string; head: string; base: string }[] = [];
  readonly requests: string[] = [];
  readonly statuses: {
    sha: string;
    state: string;
    description: string;
    target_url: string;
    context: string;
  }[] = [];
  readonly comments: { issue: number; body: string }[] = [];
  /** Commits any compare answers with (the source repository's history between two tags). */
  sourceCommits = 3;

  constructor(
    readonly owner: string,
    readonly repo: string,
    seed: Record<string, string>,
  ) {
    const tree: Tree = new Map(Object.entries(seed).map(([p, c]) => [p, { content: c, mode: "100644" }]));
    const t = treeSha(tree);
    this.trees.set(t, tree);
    const c = sha1("commit", t, "seed");
    this.commits.set(c, { tree: t, parents: [] });
    this.refs.set("refs/heads/main", c);
  }

  get commitsMade(): number {
    return this.commits.size - 1;
  }

  private fileFields(commitOid: string, vars: Record<string, string>, want: "text" | "mode") {
    const commit = this.commits.get(commitOid);
    if (!commit) return null;
    const tree = this.trees.get(commit.tree) as Tree;
    const node: Record<string, unknown> = {
      oid: commitOid,
      tree: { oid: commit.tree },
      parents: { nodes: commit.parents.map((oid) => ({ oid })) },
    };
    for (const [k, path] of Object.entries(vars)) {
      const m = /^p(\d+)$/.exec(k);
      if (!m) continue;
      const e = tree.get(path);
      node[`f${m[1]}`] = !e
        ? null
        : want === "mode"
          ? { mode: Number.parseInt(e.mode, 8) }
          : {
              object: { oid: sha1("blob", e.content), text: e.content, isBinary: false, isTruncated: false },
            };
    }
    return node;
  }

  handle(
    method: string,
    path: string,
    body: Record<string, unknown>,
    query: URLSearchParams = new URLSearchParams(),
  ): [number, unknown] {
    this.requests.push(`${method} ${path}`);
    const repoBase = `/repos/${this.owner}/${this.repo}`;
    if (method === "POST" && path === "/graphql") return this.graphql(body);
    if (method === "POST" && path === `${repoBase}/git/trees`) return this.createTree(repoBase, body);
    if (method === "POST" && path === `${repoBase}/git/commits`) return this.createCommit(body);
    if (method === "POST" && path === `${repoBase}/git/refs`) return this.createRef(body);
    if (method === "PATCH" && path.startsWith(`${repoBase}/git/refs/heads/`))
      return this.updateRef(repoBase, path, body);
    if (method === "POST" && path === `${repoBase}/pulls`) return this.createPull(body);
    if (method === "PATCH" && /\/pulls\/\d+$/.test(path)) return this.updatePull(path, body);
    // "Compare two commits": commits oldest first, paginated by per_page (the first page here).
    const compare = /^\/repos\/([^/]+)\/([^/]+)\/compare\/(.+)\.\.\.(.+)$/.exec(path);
    if (method === "GET" && compare) return this.compare(compare, query);
    const status = new RegExp(`^${repoBase}/statuses/([0-9a-f]{40})$`).exec(path);
    if (method === "POST" && status) return this.createStatus(repoBase, status, body);
    const comment = new RegExp(`^${repoBase}/issues/(\\d+)/comments$`).exec(path);
    if (method === "POST" && comment) return this.createComment(comment, body);
    return [404, { message: `Not Found (bench fake GitHub): ${method} ${path}` }];
  }

  private graphql(body: Record<string, unknown>): [number, unknown] {
    const query = String(body.query);
    const vars = (body.variables ?? {}) as Record<string, string>;
    const op = /query (\w+)/.exec(query)?.[1];
    if (op === "PouroverReadFiles") {
      const oid = this.refs.get(vars.ref as string);
      return [
        200,
        { data: { repository: { ref: oid ? { target: this.fileFields(oid, vars, "text") } : null } } },
      ];
    }
    if (op === "PouroverPublishState") {
      const base = this.refs.get(vars.baseRef as string);
      const head = this.refs.get(vars.headRef as string);
      const branch = String(vars.headRef).replace("refs/heads/", "");
      return [
        200,
        {
          data: {
            repository: {
              base: base ? { target: { oid: base } } : null,
              baseCommit: this.fileFields(vars.baseCommit as string, vars, "mode"),
              head: head
                ? {
                    target: this.fileFields(head, {}, "mode"),
                    associatedPullRequests: {
                      nodes: this.pulls
                        .filter((p) => p.head === branch)
                        .map((p) => ({
                          number: p.number,
                          url: `https://github.com/${this.owner}/${this.repo}/pull/${p.number}`,
                          title: p.title,
                          body: p.body,
                          baseRefName: p.base,
                        })),
                    },
                  }
                : null,
            },
          },
        },
      ];
    }
    return [200, { errors: [{ message: `unknown operation ${op}` }] }];
  }

  private createTree(repoBase: string, body: Record<string, unknown>): [number, unknown] {
    const base = this.trees.get(String(body.base_tree));
    if (!base) return [422, { message: "Invalid tree info" }];
    const tree: Tree = new Map(base);
    for (const e of body.tree as { path: string; mode: string; content: string }[]) {
      tree.set(e.path, { content: e.content, mode: e.mode });
    }
    const t = treeSha(tree);
    this.trees.set(t, tree);
    return [201, { sha: t, url: `${repoBase}/git/trees/${t}`, tree: [], truncated: false }];
  }

  private createCommit(body: Record<string, unknown>): [number, unknown] {
    const parents = body.parents as string[];
    const tree = String(body.tree);
    if (!this.trees.has(tree)) return [422, { message: "Tree SHA does not exist" }];
    const c = sha1("commit", tree, ...parents, String(body.message), String(this.commits.size));
    this.commits.set(c, { tree, parents });
    return [201, { sha: c, tree: { sha: tree }, parents: parents.map((p) => ({ sha: p })) }];
  }

  private createRef(body: Record<string, unknown>): [number, unknown] {
    const ref = String(body.ref);
    if (this.refs.has(ref)) return [422, { message: "Reference already exists" }];
    this.refs.set(ref, String(body.sha));
    return [201, { ref, object: { sha: body.sha, type: "commit" } }];
  }

  private updateRef(repoBase: string, path: string, body: Record<string, unknown>): [number, unknown] {
    const ref = decodeURIComponent(path.replace(`${repoBase}/git/refs/`, "refs/"));
    if (!this.refs.has(ref)) return [422, { message: "Reference does not exist" }];
    this.refs.set(ref, String(body.sha));
    return [200, { ref, object: { sha: body.sha, type: "commit" } }];
  }

  private createPull(body: Record<string, unknown>): [number, unknown] {
    const pull = {
      number: this.pulls.length + 1,
      title: String(body.title),
      body: String(body.body),
      head: String(body.head),
      base: String(body.base),
    };
    this.pulls.push(pull);
    return [
      201,
      {
        number: pull.number,
        html_url: `https://github.com/${this.owner}/${this.repo}/pull/${pull.number}`,
        title: pull.title,
        body: pull.body,
        state: "open",
      },
    ];
  }

  private updatePull(path: string, body: Record<string, unknown>): [number, unknown] {
    const pull = this.pulls.find((p) => p.number === Number(path.split("/").pop()));
    if (!pull) return [404, { message: "Not Found" }];
    Object.assign(pull, body);
    return [200, { number: pull.number, html_url: "", title: pull.title, body: pull.body }];
  }

  private compare(compare: RegExpExecArray, query: URLSearchParams): [number, unknown] {
    const [, o, r, base, head] = compare;
    const commits = Array.from({ length: this.sourceCommits }, (_, i) => {
      const sha = sha1("source", String(base), String(head), String(i));
      return {
        sha,
        node_id: `C_${sha.slice(0, 10)}`,
        html_url: `https://github.com/${o}/${r}/commit/${sha}`,
        commit: {
          message: `change ${i + 1} between ${base} and ${head}\n\nbody`,
          author: { name: "Mona Octocat", email: "octocat@github.com", date: "2026-11-30T10:00:00Z" },
        },
        author: { login: "octocat", id: 1 },
        parents: [],
      };
    });
    return [
      200,
      {
        url: `https://api.github.com/repos/${o}/${r}/compare/${base}...${head}`,
        html_url: `https://github.com/${o}/${r}/compare/${base}...${head}`,
        status: "ahead",
        ahead_by: commits.length,
        behind_by: 0,
        total_commits: commits.length,
        commits: commits.slice(0, Number(query.get("per_page") ?? 250)),
        files: [],
      },
    ];
  }

  private createStatus(
    repoBase: string,
    status: RegExpExecArray,
    body: Record<string, unknown>,
  ): [number, unknown] {
    const created = {
      sha: String(status[1]),
      state: String(body.state),
      description: String(body.description ?? ""),
      target_url: String(body.target_url ?? ""),
      context: String(body.context ?? "default"),
    };
    this.statuses.push(created);
    return [
      201,
      {
        url: `https://api.github.com${repoBase}/statuses/${created.sha}`,
        id: this.statuses.length,
        node_id: `SC_${this.statuses.length}`,
        state: created.state,
        description: created.description,
        target_url: created.target_url,
        context: created.context,
        created_at: "2026-12-01T12:00:00Z",
        updated_at: "2026-12-01T12:00:00Z",
      },
    ];
  }

  private createComment(comment: RegExpExecArray, body: Record<string, unknown>): [number, unknown] {
    this.comments.push({ issue: Number(comment[1]), body: String(body.body) });
    return [
      201,
      {
        id: this.comments.length,
        body: body.body,
        html_url: `https://github.com/${this.owner}/${this.repo}/pull/${comment[1]}#issuecomment-${this.comments.length}`,
      },
    ];
  }
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** Serves `fake` on a free port of 127.0.0.1. */
export async function listen(fake: FakeGithub): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const [status, payload] = fake.handle(
        req.method ?? "GET",
        url.pathname,
        await readBody(req),
        url.searchParams,
      );
      res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify(payload));
    })().catch((error: unknown) => {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: String(error) }));
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
