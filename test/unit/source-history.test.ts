import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GitSourceHistory } from "../../local/source-history.js";
import { renderPullRequestBody } from "../../shared/domain/pull-request-body.js";
import { tempDir } from "../helpers/local.js";

/** The local changelog (`--source <checkout>`): a real git repository with tagged commits. */
describe("the changelog from a local checkout", () => {
  const dir = tempDir("pourover-source-");
  const git = (...args: string[]) =>
    execFileSync("git", ["-C", dir.path, ...args], {
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "alice",
        GIT_AUTHOR_EMAIL: "alice@example.org",
        GIT_COMMITTER_NAME: "alice",
        GIT_COMMITTER_EMAIL: "alice@example.org",
      },
    })
      .toString()
      .trim();
  const commit = (title: string) => {
    writeFileSync(join(dir.path, "file.txt"), title);
    git("add", "file.txt");
    git("commit", "-q", "-m", title);
  };
  beforeAll(() => {
    git("init", "-q", "-b", "main");
    commit("first");
    git("tag", "v1.0.0");
    for (const t of ["counter: retry order placement", "web: show the queue length", "kitchen: faster"])
      commit(t);
    git("tag", "v1.1.0");
  });
  afterAll(() => dir.cleanup());

  it("lists the commits between the two tags, oldest first, capped, with the total", async () => {
    const history = new GitSourceHistory(dir.path);
    const all = await history.changelog("v1.0.0", "v1.1.0", 10);
    expect(all).toMatchObject({ available: true, base: "v1.0.0", head: "v1.1.0", total: 3, url: null });
    expect(all.available && all.commits.map((c) => [c.title, c.author])).toEqual([
      ["counter: retry order placement", "alice"],
      ["web: show the queue length", "alice"],
      ["kitchen: faster", "alice"],
    ]);
    expect(all.available && all.commits[0]?.sha).toMatch(/^[0-9a-f]{40}$/);
    const capped = await history.changelog("v1.0.0", "v1.1.0", 2);
    expect(capped.available && [capped.total, capped.commits.length]).toEqual([3, 2]);
    const body = renderPullRequestBody({
      app: "coffeeshop",
      tag: "v1.1.0",
      changes: [],
      scans: [],
      allowList: [],
      changelog: capped,
      executionUrl: "pourover show coffeeshop-v1.1.0-1",
    });
    expect(body).toContain("3 commits from v1.0.0 to v1.1.0");
    expect(body).toContain("… and 1 more");
  });

  it("a tag the checkout does not have: unavailable, saying why (the release goes on)", async () => {
    const out = await new GitSourceHistory(dir.path).changelog("v0.9.0", "v1.1.0", 10);
    expect(out.available).toBe(false);
    expect(!out.available && out.reason).toMatch(
      new RegExp(
        `^git log v0\\.9\\.0\\.\\.v1\\.1\\.0 in ${dir.path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} failed: fatal: `,
      ),
    );
  });
});
