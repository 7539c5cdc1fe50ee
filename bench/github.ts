/**
 * GitHub API calls per release: functions/update-manifests/update-manifests.ts with the real
 * GithubManifestRepository + createGithubClient, against a minimal in-process GitHub (node:http on
 * 127.0.0.1) that answers the GraphQL queries and the Git Data / pulls REST calls the adapter makes
 * (shapes as in test/adapters/github-manifest-repository.test.ts), counting every request.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { updateManifests } from "../functions/update-manifests/update-manifests.js";
import { createGithubClient } from "../shared/adapters/github/github-client.js";
import { GithubManifestRepository } from "../shared/adapters/github/github-manifest-repository.js";
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

/** A tiny GitHub: one repository, refs, trees, commits and pulls. */
class FakeGithub {
  readonly trees = new Map<string, Tree>();
  readonly commits = new Map<string, { tree: string; parents: string[] }>();
  readonly refs = new Map<string, string>();
  readonly pulls: { number: number; title: string; body: string; head: string; base: string }[] = [];
  readonly requests: string[] = [];

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

  handle(method: string, path: string, body: Record<string, unknown>): [number, unknown] {
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
  /** HTTP requests the fake GitHub received (readFiles + publish). */
  requests: number;
  /** Requests the client says it sent (createGithubClient's onRequest), as a cross-check. */
  clientRequests: number;
  commits: number;
  pulls: number;
  calls: string[];
  /** The naive pipeline: GET + PUT contents per changed file, plus one PR. */
  naiveCalls: number;
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
      const [status, payload] = fake.handle(req.method ?? "GET", url.pathname, await readBody(req));
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
    const tag = "v1.0.0";
    const out = await updateManifests(
      {
        app: config.app,
        tag,
        executionId: `arn:aws:states:us-east-1:123456789012:execution:pourover-${config.app}-release:bench`,
        images: config.services.map((s, i) => ({
          service: s.name,
          repository: imageRepository(config, s),
          tag,
          digest: `sha256:${createHash("sha256").update(`${s.name}${i}`).digest("hex")}`,
        })),
      },
      {
        config,
        repo,
        artifacts: { put: async (key) => `s3://bench-artifacts/${key}` },
        executionUrl: (id) => `https://console.aws.amazon.com/states/home#/v2/executions/details/${id}`,
      },
    );
    return {
      services: config.services.length,
      files: config.manifests.files.length,
      changedFiles: out.changedFiles.length,
      requests: fake.requests.length,
      clientRequests,
      commits: fake.commitsMade,
      pulls: fake.pulls.length,
      calls: fake.requests,
      naiveCalls: 2 * out.changedFiles.length + 1,
    };
  } finally {
    await new Promise<void>((ok) => server.close(() => ok()));
  }
}
