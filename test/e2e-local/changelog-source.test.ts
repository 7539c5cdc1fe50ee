import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startRuntime, tempDir } from "../helpers/local.js";

/**
 * The release PR's changelog locally: from `--source <checkout>` (git log between the tag the
 * manifests held and this one), else said to be unavailable.
 */
describe("the local PR's changelog", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });
  const pullBody = (stateDir: string, tag: string) =>
    (
      JSON.parse(
        readFileSync(
          join(
            stateDir,
            "pulls",
            readdirSync(join(stateDir, "pulls")).find((f) => f.includes(tag)) as string,
          ),
          "utf8",
        ),
      ) as { body: string }
    ).body;

  it("lists the checkout's commits from the tag the manifests held to this one; without --source it says why not", async () => {
    const source = tempDir("pourover-source-");
    cleanups.push(source.cleanup);
    const git = (...args: string[]) =>
      execFileSync("git", ["-C", source.path, ...args], {
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: "bob",
          GIT_AUTHOR_EMAIL: "bob@example.org",
          GIT_COMMITTER_NAME: "bob",
          GIT_COMMITTER_EMAIL: "bob@example.org",
        },
      });
    git("init", "-q", "-b", "main");
    const commit = (title: string) => {
      writeFileSync(join(source.path, "main.go"), title);
      git("add", "main.go");
      git("commit", "-q", "-m", title);
    };
    commit("initial");
    git("tag", "v0.0.1"); // what the example manifests hold
    commit("counter: retry order placement");
    commit("web: show the queue length");
    git("tag", "v1.1.0");

    const { runtime, dir, stop } = await startRuntime();
    cleanups.push(stop);
    const stateDir = join(dir, "state");
    const withSource = await runtime.release({ tag: "v1.1.0", source: source.path });
    expect(withSource.status).toBe("SUCCEEDED");
    const body = pullBody(stateDir, "v1.1.0");
    expect(body).toContain("2 commits from v0.0.1 to v1.1.0");
    expect(body).toMatch(/- `[0-9a-f]{7}` counter: retry order placement \(bob\)/);
    expect(body).toMatch(/- `[0-9a-f]{7}` web: show the queue length \(bob\)/);

    const without = await runtime.release({ tag: "v1.2.0" });
    expect(without.status).toBe("SUCCEEDED");
    expect(pullBody(stateDir, "v1.2.0")).toContain(
      "Changelog unavailable: no source history here (locally: pass --source <checkout>).",
    );
  });
});
