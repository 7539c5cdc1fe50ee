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
import { join } from "node:path";
import { reportDevResult } from "../functions/report-dev-result/report-dev-result.js";
import { updateManifests } from "../functions/update-manifests/update-manifests.js";
import { createGithubClient } from "../shared/adapters/github/github-client.js";
import { GithubManifestRepository } from "../shared/adapters/github/github-manifest-repository.js";
import { GithubPullRequestReporter, GithubSourceHistory } from "../shared/adapters/github/github-review.js";
import { type AppConfig, imageRepository } from "../shared/contracts/app-config.js";
import { FakeGithub, listen } from "./fake-github.js";

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
  const server = await listen(fake);
  try {
    let clientRequests = 0;
    const octokit = createGithubClient(
      { kind: "token", token: "ghp_bench" },
      { baseUrl: server.baseUrl, writeSpacingMs: 0, onRequest: () => clientRequests++ },
    );
    const repo = new GithubManifestRepository(octokit, { owner, repo: repoName });
    const deps = {
      config,
      repo,
      history: new GithubSourceHistory(octokit, config.source.repo),
      artifacts: { put: async (key: string) => `s3://bench-artifacts/${key}` },
      executionUrl: (id: string) => `https://console.aws.amazon.com/states/home#/v2/executions/details/${id}`,
    };
    const { executionId, images, healthy } = releaseFixtures(config);
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
    const mark = since();
    await reportDevResult(healthy(tag, out), {
      reporter: new GithubPullRequestReporter(octokit, config.manifests.repo),
      executionUrl: deps.executionUrl,
    });
    const devCalls = fake.requests.slice(mark);

    const rollback = await rollbackAfterNewer(fake, deps, octokit, tag);

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
      rollback,
    };
  } finally {
    await server.close();
  }
}

/** Execution ids, images and a healthy dev result for one tag of `config`. */
function releaseFixtures(config: AppConfig) {
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
  return { executionId, images, healthy };
}

/** A newer release (not counted), then the rollback to `tag` and its dev result, counted. */
async function rollbackAfterNewer(
  fake: FakeGithub,
  deps: Parameters<typeof updateManifests>[1] & { executionUrl: (id: string) => string },
  octokit: ReturnType<typeof createGithubClient>,
  tag: string,
): Promise<GithubCallsResult["rollback"]> {
  const { config } = deps;
  const { executionId, images, healthy } = releaseFixtures(config);
  // A newer release (not counted), then the rollback to v1.0.0 and its dev result.
  const newer = "v1.1.0";
  await updateManifests(
    { app: config.app, tag: newer, executionId: executionId(newer), images: images(newer) },
    deps,
  );
  // What the newer release pinned is what the manifests' base holds once its PR is merged.
  fake.refs.set("refs/heads/main", fake.refs.get(`refs/heads/release/${config.app}/${newer}`) as string);
  let mark = fake.requests.length;
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
  mark = fake.requests.length;
  await reportDevResult(healthy(tag, rolled), {
    reporter: new GithubPullRequestReporter(octokit, config.manifests.repo),
    executionUrl: deps.executionUrl,
  });
  const rollbackDev = fake.requests.length - mark;
  return {
    requests: rollbackCalls.length,
    calls: rollbackCalls,
    commits: rollbackCommits,
    devResult: rollbackDev,
  };
}
