import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HttpResponse, http } from "msw";
import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FakeGithub } from "../../bench/fake-github.js";
import { reportDevResult } from "../../functions/report-dev-result/report-dev-result.js";
import { updateManifests } from "../../functions/update-manifests/update-manifests.js";
import { createGithubClient } from "../../shared/adapters/github/github-client.js";
import { GithubManifestRepository } from "../../shared/adapters/github/github-manifest-repository.js";
import {
  GithubPullRequestReporter,
  GithubSourceHistory,
} from "../../shared/adapters/github/github-review.js";
import { imageRepository } from "../../shared/contracts/app-config.js";
import { EXAMPLE_DIR, exampleConfig } from "../helpers/local.js";

/*
 * The GitHub call sequences of a release's write-back, its dev result and a rollback, through the
 * real adapters and Octokit, intercepted by msw and answered by an in-memory GitHub whose responses
 * follow GitHub's REST reference ("Compare two commits", "Create a commit status", pulls, Git Data).
 */

const config = exampleConfig();
const [OWNER = "", REPO = ""] = config.manifests.repo.split("/");
const seed = Object.fromEntries(
  config.manifests.files.map((f) => [f.path, readFileSync(join(EXAMPLE_DIR, "manifests", f.path), "utf8")]),
);
let fake: FakeGithub;
/** Requests as msw saw them: method and path. */
let seen: string[] = [];
let failCompare = false;

const server = setupServer(
  http.all("https://api.github.com/*", async ({ request }) => {
    const url = new URL(request.url);
    seen.push(`${request.method} ${url.pathname}`);
    if (failCompare && url.pathname.includes("/compare/"))
      return HttpResponse.json(
        {
          message: "Not Found",
          documentation_url: "https://docs.github.com/rest/commits/commits#compare-two-commits",
          status: "404",
        },
        { status: 404 },
      );
    const text = request.method === "GET" ? "" : await request.text();
    const [status, payload] = fake.handle(
      request.method,
      url.pathname,
      text ? JSON.parse(text) : {},
      url.searchParams,
    );
    return HttpResponse.json(payload as Record<string, unknown>, { status });
  }),
);
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterAll(() => server.close());
beforeEach(() => {
  fake = new FakeGithub(OWNER, REPO, seed);
  seen = [];
  failCompare = false;
});
afterEach(() => server.resetHandlers());

const octokit = () => createGithubClient({ kind: "token", token: "ghp_test" }, { writeSpacingMs: 0 });
const executionUrl = (id: string) =>
  `https://console.aws.amazon.com/states/home#/v2/executions/details/${id}`;
const images = (tag: string) =>
  config.services.map((s, i) => ({
    service: s.name,
    repository: imageRepository(config, s),
    tag,
    digest: `sha256:${String(i).repeat(64)}`,
  }));
const deps = () => {
  const client = octokit();
  return {
    config,
    repo: new GithubManifestRepository(client, { owner: OWNER, repo: REPO }),
    history: new GithubSourceHistory(client, config.source.repo),
    artifacts: { put: async (key: string) => `s3://artifacts/${key}` },
    executionUrl,
    reporter: new GithubPullRequestReporter(client, config.manifests.repo),
  };
};
const exec = (name: string) =>
  `arn:aws:states:us-east-1:123456789012:execution:pourover-coffeeshop-release:${name}`;
const repoPath = `/repos/${OWNER}/${REPO}`;

describe("GitHub call sequences (msw)", () => {
  it("release: read the files, compare the source tags (changelog), one commit and one PR: 7 calls", async () => {
    const d = deps();
    const pr = await updateManifests(
      {
        app: "coffeeshop",
        tag: "v1.0.0",
        executionId: exec("coffeeshop-v1.0.0-1"),
        images: images("v1.0.0"),
      },
      d,
    );
    expect(seen).toEqual([
      "POST /graphql",
      `GET /repos/${config.source.repo}/compare/v0.0.1...v1.0.0`,
      "POST /graphql",
      `POST ${repoPath}/git/trees`,
      `POST ${repoPath}/git/commits`,
      `POST ${repoPath}/git/refs`,
      `POST ${repoPath}/pulls`,
    ]);
    expect(seen.length).toBeLessThanOrEqual(8);
    expect(fake.pulls[0]?.body).toContain(
      `3 commits from v0.0.1 to v1.0.0 ([full compare](https://github.com/${config.source.repo}/compare/v0.0.1...v1.0.0))`,
    );
    expect(pr.body).toBe(fake.pulls[0]?.body);
  });

  it("release: a failed compare leaves the changelog unavailable and the release goes on", async () => {
    failCompare = true;
    await updateManifests(
      {
        app: "coffeeshop",
        tag: "v1.0.0",
        executionId: exec("coffeeshop-v1.0.0-1"),
        images: images("v1.0.0"),
      },
      deps(),
    );
    expect(seen).toHaveLength(7);
    expect(fake.pulls[0]?.body).toContain(
      "Changelog unavailable: GitHub compare v0.0.1...v1.0.0 failed (404)",
    );
  });

  it("dev result: the PR body's dev section and the pourover/dev status on the release commit: 2 calls", async () => {
    const d = deps();
    const pr = await updateManifests(
      {
        app: "coffeeshop",
        tag: "v1.0.0",
        executionId: exec("coffeeshop-v1.0.0-1"),
        images: images("v1.0.0"),
      },
      d,
    );
    seen = [];
    const out = await reportDevResult(
      {
        release: {
          app: "coffeeshop",
          tag: "v1.0.0",
          trigger: { source: "cli", pusher: "t" },
          force: false,
          pullRequest: pr,
          deploy: {
            commandId: "c",
            result: { instances: [{ instanceId: "i-1", status: "Success", summary: "ok" }], dryRun: false },
          },
        },
        executionId: exec("coffeeshop-v1.0.0-1"),
      },
      { reporter: d.reporter, executionUrl },
    );
    expect(out).toEqual({ reported: true, dev: "deployed and healthy on 1 host", state: "success" });
    expect(seen).toEqual([`PATCH ${repoPath}/pulls/1`, `POST ${repoPath}/statuses/${pr.commit}`]);
    expect(fake.statuses).toEqual([
      {
        sha: pr.commit,
        state: "success",
        description: "deployed and healthy on 1 host",
        target_url: executionUrl(exec("coffeeshop-v1.0.0-1")),
        context: "pourover/dev",
      },
    ]);
    expect(fake.pulls[0]?.body).toContain("**Dev deploy:** deployed and healthy on 1 host");
    expect(fake.pulls[0]?.body).not.toContain("**Dev deploy:** pending");
  });

  it("dev result of a rolled-back deploy: failure status with the host's reason", async () => {
    const d = deps();
    const pr = await updateManifests(
      { app: "coffeeshop", tag: "v1.0.0", executionId: exec("x"), images: images("v1.0.0") },
      d,
    );
    await reportDevResult(
      {
        release: {
          app: "coffeeshop",
          tag: "v1.0.0",
          trigger: { source: "cli", pusher: "t" },
          force: false,
          pullRequest: pr,
          deploy: { commandId: "c" },
          error: {
            Error: "DevDeployRolledBackError",
            Cause: JSON.stringify({ errorMessage: "web unhealthy; rolled back to v0.0.1" }),
          },
        },
        executionId: exec("x"),
      },
      { reporter: d.reporter, executionUrl },
    );
    expect(fake.statuses[0]?.state).toBe("failure");
    expect(fake.pulls[0]?.body).toContain(
      "**Dev deploy:** rolled back: web unhealthy; rolled back to v0.0.1",
    );
  });

  it("rollback: no compare, one commit on rollback/<app>/<tag> and its own PR, no release PR closed: 6 calls", async () => {
    const d = deps();
    await updateManifests(
      { app: "coffeeshop", tag: "v1.1.0", executionId: exec("a"), images: images("v1.1.0") },
      d,
    );
    fake.refs.set("refs/heads/main", fake.refs.get("refs/heads/release/coffeeshop/v1.1.0") as string);
    seen = [];
    const pr = await updateManifests(
      {
        app: "coffeeshop",
        tag: "v1.0.0",
        executionId: exec("coffeeshop-rollback-v1.0.0-20261201T120000Z"),
        images: images("v1.0.0"),
        rollback: { from: "v1.1.0", requestedAt: "2026-12-01T12:00:00.000Z" },
      },
      d,
    );
    expect(seen).toEqual([
      "POST /graphql",
      "POST /graphql",
      `POST ${repoPath}/git/trees`,
      `POST ${repoPath}/git/commits`,
      `POST ${repoPath}/git/refs`,
      `POST ${repoPath}/pulls`,
    ]);
    expect(pr.branch).toBe("rollback/coffeeshop/v1.0.0");
    expect(fake.pulls.map((p) => [p.head, p.title])).toEqual([
      ["release/coffeeshop/v1.1.0", "Release coffeeshop v1.1.0"],
      ["rollback/coffeeshop/v1.0.0", "Roll back coffeeshop to v1.0.0"],
    ]);
    expect(fake.refs.get("refs/heads/rollback/coffeeshop/v1.0.0")).toBe(pr.commit);
  });

  it("prod feedback: one comment on the PR", async () => {
    const d = deps();
    await updateManifests(
      { app: "coffeeshop", tag: "v1.0.0", executionId: exec("y"), images: images("v1.0.0") },
      d,
    );
    seen = [];
    await d.reporter.comment({
      number: 1,
      branch: "release/coffeeshop/v1.0.0",
      body: "In prod: Argo CD coffeeshop Synced and Healthy",
    });
    expect(seen).toEqual([`POST ${repoPath}/issues/1/comments`]);
    expect(fake.comments).toEqual([{ issue: 1, body: "In prod: Argo CD coffeeshop Synced and Healthy" }]);
  });
});
