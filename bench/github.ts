/**
 * GitHub API calls per release: functions/update-manifests/update-manifests.ts with the real
 * GithubManifestRepository + createGithubClient, against a minimal in-process GitHub (node:http on
 * 127.0.0.1) that answers the GraphQL queries and the Git Data / pulls REST calls the adapter makes
 * (shapes as in test/adapters/github-manifest-repository.test.ts), counting every request. Then the
 * dev result (functions/report-dev-result) and a rollback's write-back, counted the same way. The
 * same fake answers the msw contract tests (test/adapters/github-review.test.ts).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { reportDevResult } from "../functions/report-dev-result/report-dev-result.js";
import { updateManifests } from "../functions/update-manifests/update-manifests.js";
import { createGithubClient } from "../shared/adapters/github/github-client.js";
import { GithubManifestRepository } from "../shared/adapters/github/github-manifest-repository.js";
import { GithubPullRequestReporter, GithubSourceHistory } from "../shared/adapters/github/github-review.js";
import { type AppConfig, imageRepository } from "../shared/contracts/app-config.js";

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
    if (method === "POST" && path === "/graphql") {
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
    if (method === "POST" && path === `${repoBase}/git/trees`) {
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
    if (method === "POST" && path === `${repoBase}/git/commits`) {
      const parents = body.parents as string[];
      const tree = String(body.tree);
      if (!this.trees.has(tree)) return [422, { message: "Tree SHA does not exist" }];
      const c = sha1("commit", tree, ...parents, String(body.message), String(this.commits.size));
      this.commits.set(c, { tree, parents });
      return [201, { sha: c, tree: { sha: tree }, parents: parents.map((p) => ({ sha: p })) }];
    }
    if (method === "POST" && path === `${repoBase}/git/refs`) {
      const ref = String(body.ref);
      if (this.refs.has(ref)) return [422, { message: "Reference already exists" }];
      this.refs.set(ref, String(body.sha));
      return [201, { ref, object: { sha: body.sha, type: "commit" } }];
    }
    if (method === "PATCH" && path.startsWith(`${repoBase}/git/refs/heads/`)) {
      const ref = decodeURIComponent(path.replace(`${repoBase}/git/refs/`, "refs/"));
      if (!this.refs.has(ref)) return [422, { message: "Reference does not exist" }];
      this.refs.set(ref, String(body.sha));
      return [200, { ref, object: { sha: body.sha, type: "commit" } }];
    }
    if (method === "POST" && path === `${repoBase}/pulls`) {
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
    if (method === "PATCH" && /\/pulls\/\d+$/.test(path)) {
      const pull = this.pulls.find((p) => p.number === Number(path.split("/").pop()));
      if (!pull) return [404, { message: "Not Found" }];
      Object.assign(pull, body);
      return [200, { number: pull.number, html_url: "", title: pull.title, body: pull.body }];
    }
    // "Compare two commits": commits oldest first, paginated by per_page (the first page here).
    const compare = /^\/repos\/([^/]+)\/([^/]+)\/compare\/(.+)\.\.\.(.+)$/.exec(path);
    if (method === "GET" && compare) {
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
    const status = new RegExp(`^${repoBase}/statuses/([0-9a-f]{40})$`).exec(path);
    if (method === "POST" && status) {
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
    const comment = new RegExp(`^${repoBase}/issues/(\\d+)/comments$`).exec(path);
    if (method === "POST" && comment) {
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
    return [404, { message: `Not Found (bench fake GitHub): ${method} ${path}` }];
  }
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

export interface GithubCallsResult {
  services: number;
  files: number;
  changedFiles: number;
  /** HTTP requests the fake GitHub received for the release write-back (readFiles + compare + publish). */
  requests: number;
  /** Requests the client says it sent (createGithubClient's onRequest), as a cross-check. */
  clientRequests: number;
  commits: number;
  pulls: number;
  calls: string[];
  /** The naive pipeline: GET + PUT contents per changed file, plus one PR. */
  naiveCalls: number;
  /** The dev result after it (ReportDevResult): the PR body and the pourover/dev status. */
  devResult: { requests: number; calls: string[] };
  /** A rollback to the release after a newer one: its write-back (no compare), then its dev result. */
  rollback: { requests: number; calls: string[]; commits: number; devResult: number };
}

/** One release's update-manifests against the fake GitHub; `seedDir` holds the manifest files. */
export async function githubCallsPerRelease(config: AppConfig, seedDir: string): Promise<GithubCallsResult> {
  const [owner = "", repoName = ""] = config.manifests.repo.split("/");
  const seed = Object.fromEntries(
    config.manifests.files.map((f) => [f.path, readFileSync(join(seedDir, f.path), "utf8")]),
  );
  const fake = new FakeGithub(owner, repoName, seed);
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
  try {
    const { port } = server.address() as AddressInfo;
    let clientRequests = 0;
    const octokit = createGithubClient(
      { kind: "token", token: "ghp_bench" },
      { baseUrl: `http://127.0.0.1:${port}`, writeSpacingMs: 0, onRequest: () => clientRequests++ },
    );
    const repo = new GithubManifestRepository(octokit, { owner, repo: repoName });
    const deps = {
      config,
      repo,
      history: new GithubSourceHistory(octokit, config.source.repo),
      artifacts: { put: async (key: string) => `s3://bench-artifacts/${key}` },
      executionUrl: (id: string) => `https://console.aws.amazon.com/states/home#/v2/executions/details/${id}`,
    };
    const executionId = (tag: string) =>
      `arn:aws:states:us-east-1:123456789012:execution:pourover-${config.app}-release:${config.app}-${tag}-1`;
    const images = (tag: string) =>
      config.services.map((s, i) => ({
        service: s.name,
        repository: imageRepository(config, s),
        tag,
        digest: `sha256:${createHash("sha256").update(`${s.name}${i}${tag}`).digest("hex")}`,
      }));
    const healthy = (tag: string, pullRequest: Awaited<ReturnType<typeof updateManifests>>) => ({
      release: {
        app: config.app,
        tag,
        trigger: { source: "cli" as const, pusher: "bench" },
        force: false,
        pullRequest,
        deploy: {
          commandId: "c-1",
          result: {
            instances: [{ instanceId: "i-1", status: "Success", summary: "healthy" }],
            dryRun: false,
          },
        },
      },
      executionId: executionId(tag),
    });
    const since = () => fake.requests.length;

    // The release: readFiles, compare (changelog), publish.
    const tag = "v1.0.0";
    const out = await updateManifests(
      { app: config.app, tag, executionId: executionId(tag), images: images(tag) },
      deps,
    );
    const releaseCalls = [...fake.requests];
    const commits = fake.commitsMade;
    const pulls = fake.pulls.length;
    const releaseClientRequests = clientRequests;

    // Its dev result.
    let mark = since();
    await reportDevResult(healthy(tag, out), {
      reporter: new GithubPullRequestReporter(octokit, config.manifests.repo),
      executionUrl: deps.executionUrl,
    });
    const devCalls = fake.requests.slice(mark);

    // A newer release (not counted), then the rollback to v1.0.0 and its dev result.
    const newer = "v1.1.0";
    await updateManifests(
      { app: config.app, tag: newer, executionId: executionId(newer), images: images(newer) },
      deps,
    );
    // What the newer release pinned is what the manifests' base holds once its PR is merged.
    fake.refs.set("refs/heads/main", fake.refs.get(`refs/heads/release/${config.app}/${newer}`) as string);
    mark = since();
    const commitsBefore = fake.commitsMade;
    const rolled = await updateManifests(
      {
        app: config.app,
        tag,
        executionId: executionId(`rollback-${tag}`),
        images: images(tag),
        rollback: { from: newer, requestedAt: "2026-12-01T12:00:00.000Z" },
      },
      deps,
    );
    const rollbackCalls = fake.requests.slice(mark);
    const rollbackCommits = fake.commitsMade - commitsBefore;
    mark = since();
    await reportDevResult(healthy(tag, rolled), {
      reporter: new GithubPullRequestReporter(octokit, config.manifests.repo),
      executionUrl: deps.executionUrl,
    });
    const rollbackDev = fake.requests.length - mark;

    return {
      services: config.services.length,
      files: config.manifests.files.length,
      changedFiles: out.changedFiles.length,
      requests: releaseCalls.length,
      clientRequests: releaseClientRequests,
      commits,
      pulls,
      calls: releaseCalls,
      naiveCalls: 2 * out.changedFiles.length + 1,
      devResult: { requests: devCalls.length, calls: devCalls },
      rollback: {
        requests: rollbackCalls.length,
        calls: rollbackCalls,
        commits: rollbackCommits,
        devResult: rollbackDev,
      },
    };
  } finally {
    await new Promise<void>((ok) => server.close(() => ok()));
  }
}
