import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReleaseOutcome } from "../../local/runtime.js";
import { stateDirLayout } from "../../shared/adapters/local/file-stores.js";
import type { Trigger } from "../../shared/contracts/release.js";
import { exampleConfig, startRuntime } from "../helpers/local.js";

/**
 * At-least-once delivery in the worst case: webhook redeliveries (new delivery ids, so the webhook's
 * own dedupe lets them through) and the ECR pushes of every image of the tag, all at once, through
 * one local engine (real ASL, SQLite ledger, real git, SES emulator).
 */
const TAG = "v6.0.0";
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const config = exampleConfig();
const digestFor = (i: number) => `sha256:${i.toString(16).padStart(2, "0").repeat(32)}`;

describe("20 concurrent duplicate triggers of one tag", () => {
  let env: Awaited<ReturnType<typeof startRuntime>>;
  let outcomes: ReleaseOutcome[];
  let triggers: Trigger[];

  beforeAll(async () => {
    env = await startRuntime();
    // Every image of the tag is in "ECR" (as after a tag build), so an ECR-triggered winner need not wait.
    config.services.forEach((s, i) => {
      env.runtime.images.record(s.repository, TAG, digestFor(i + 1));
    });
    triggers = Array.from({ length: 20 }, (_, i): Trigger => {
      if (i % 2 === 0) {
        return {
          source: "github",
          repository: config.source.repo,
          commit: COMMIT,
          pusher: "octocat",
          deliveryId: `redelivery-${i}`,
        };
      }
      const s = (i - 1) / 2;
      const index = s % config.services.length;
      const service = config.services[index];
      if (!service) throw new Error("no service");
      return { source: "ecr", repository: service.repository, digest: digestFor(index + 1) };
    });
    outcomes = await Promise.all(triggers.map((trigger) => env.runtime.release({ tag: TAG, trigger })));
  }, 120_000);
  afterAll(async () => {
    await env?.stop();
  });

  it("mixes webhook redeliveries and ECR pushes", () => {
    expect(triggers.filter((t) => t.source === "github")).toHaveLength(10);
    expect(triggers.filter((t) => t.source === "ecr")).toHaveLength(10);
    expect(new Set(triggers.flatMap((t) => (t.source === "github" ? [t.deliveryId] : []))).size).toBe(10);
  });

  it("ends with exactly one SUCCEEDED release and 19 DUPLICATE executions", () => {
    const statuses = outcomes.map((o) => o.status);
    expect(statuses.filter((s) => s === "SUCCEEDED")).toHaveLength(1);
    expect(statuses.filter((s) => s === "DUPLICATE")).toHaveLength(19);
    expect(new Set(outcomes.map((o) => o.executionId)).size).toBe(20);
  });

  it("the one release made the pull request and sent one email; the duplicates did nothing", async () => {
    const winner = outcomes.find((o) => o.status === "SUCCEEDED");
    expect(winner?.pullRequest?.branch).toBe(`release/coffeeshop/${TAG}`);
    expect(winner?.pullRequest?.commit).toMatch(/^[a-f0-9]{40}$/);
    expect(winner?.emails).toHaveLength(1);
    for (const duplicate of outcomes.filter((o) => o.status === "DUPLICATE")) {
      expect([...new Set(duplicate.states.map((s) => s.name))]).toEqual(["ClaimRelease", "Duplicate"]);
      expect(duplicate.pullRequest).toBeUndefined();
      expect(duplicate.emails).toEqual([]);
    }
    const layout = stateDirLayout(join(env.dir, "state"));
    expect(readdirSync(layout.outbox).filter((f) => f.endsWith(".eml"))).toHaveLength(1);
    const record = await env.runtime.ledger.get("coffeeshop", TAG);
    expect(record?.status).toBe("SUCCEEDED");
    expect(record?.executionId).toBe(winner?.executionId);
  });

  it("the manifests repository holds exactly one release commit on the release branch", () => {
    const repo = join(stateDirLayout(join(env.dir, "state")).repos, "coffeeshop-manifests");
    const count = execFileSync(
      "git",
      ["rev-list", "--count", `${config.manifests.baseBranch}..release/coffeeshop/${TAG}`],
      { cwd: repo, encoding: "utf8" },
    ).trim();
    expect(count).toBe("1");
  });
});
