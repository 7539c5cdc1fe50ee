import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { reconcileReleases } from "../../functions/reconcile-releases/reconcile-releases.js";
import { releasesCommand } from "../../local/releases.js";
import { SqliteLedger } from "../../shared/adapters/local/sqlite-ledger.js";
import type { ReleaseRequest } from "../../shared/contracts/release.js";
import type { ImageLister, ReleaseStarter, TaggedImage } from "../../shared/ports/index.js";
import { exampleConfig, startRuntime } from "../helpers/local.js";

/**
 * A rollback sticks (the complaint about other tools: a manual rollback is overwritten by the next
 * automated pass). After v1 → v2 → rollback to v1, the reconciler, which lists what is in ECR and
 * starts what the ledger never saw, runs over the same ledger: the v2 images it finds start nothing,
 * and a lost older tag it recovers is released but never deployed over the rollback.
 */
describe("a rollback sticks against the reconciler", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it("the reconciler finds v1 and v2 in ECR and starts neither, nor a lost tag pushed before the rollback", async () => {
    const { runtime, dir, stop } = await startRuntime();
    cleanups.push(stop);
    const config = exampleConfig();
    const stateDir = join(dir, "state");
    const v1 = await runtime.release({ tag: "v1.0.0" });
    const v2 = await runtime.release({ tag: "v2.0.0" });
    const rolled = await runtime.release({
      tag: "v1.0.0",
      rollback: { requestedAt: new Date().toISOString(), requestedBy: "alice", from: "v2.0.0" },
    });
    expect([v1.status, v2.status, rolled.status]).toEqual(["SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]);

    // ECR as the reconciler sees it: every service's v1.0.0 and v2.0.0 images (pushed before the
    // rollback), and a v0.5.0 whose push event was lost.
    const now = Date.now();
    const recorded = (o: typeof v1) =>
      (o.output as { gate: { images: { service: string; digest?: string }[] } }).gate.images;
    const byRepo: Record<string, TaggedImage[]> = {};
    for (const [i, service] of config.services.entries()) {
      const image = (tag: string, digest: string, minutesAgo: number): TaggedImage => ({
        repository: service.repository,
        digest,
        tags: [tag],
        pushedAt: new Date(now - minutesAgo * 60_000),
      });
      const lost = `sha256:${createHash("sha256").update(`${service.name}-v0.5.0`).digest("hex")}`;
      byRepo[service.repository] = [
        image("v1.0.0", recorded(v1)[i]?.digest as string, 40),
        image("v2.0.0", recorded(v2)[i]?.digest as string, 30),
        image("v0.5.0", lost, 20),
      ];
    }
    const images: ImageLister = {
      recentImages: async (repository, since) =>
        (byRepo[repository] ?? []).filter((i) => i.pushedAt >= since),
    };
    // What StartExecution would run: the same workflow, locally, with the reconciler's request.
    const started: { name: string; request: ReleaseRequest; executionId: string }[] = [];
    const outcomes: Awaited<ReturnType<typeof runtime.release>>[] = [];
    const starter: ReleaseStarter = {
      async start(name, request) {
        if (request.trigger.source === "ecr")
          runtime.images.record(request.trigger.repository, request.tag, request.trigger.digest);
        const o = await runtime.release({ tag: request.tag, trigger: request.trigger });
        outcomes.push(o);
        started.push({ name, request, executionId: o.executionId });
        return { started: true, executionId: o.executionId };
      },
    };
    const ledger = new SqliteLedger(join(stateDir, "ledger.sqlite"));
    cleanups.push(() => ledger.close());
    const result = await reconcileReleases(
      config,
      { lookbackHours: 24, settleMinutes: 10, maxStarts: 10 },
      { images, ledger, starter, clock: { now: () => new Date(now) } },
    );

    expect(result.tagsSeen).toBe(3);
    expect(result.alreadyClaimed).toBe(2);
    expect(result.lostEventsFound).toBe(1);
    expect(result.heldByRollback).toEqual(["v0.5.0"]);
    expect(started).toEqual([]);
    expect(outcomes).toEqual([]);
    expect(await ledger.get("coffeeshop", "v0.5.0")).toBeNull();

    let out = "";
    await releasesCommand({ stateDir, json: false }, (t) => {
      out += t;
    });
    expect(out).toMatch(/^coffeeshop on dev now: v1\.0\.0 \(rolled back from v2\.0\.0, /);

    // A second pass (the next schedule) starts nothing at all.
    const again = await reconcileReleases(
      config,
      { lookbackHours: 24, settleMinutes: 10, maxStarts: 10 },
      { images, ledger, starter, clock: { now: () => new Date(now) } },
    );
    expect(again.started).toEqual([]);
    expect(again.alreadyClaimed).toBe(2);
    expect(again.heldByRollback).toEqual(["v0.5.0"]);
    expect(started).toHaveLength(0);
  });

  it("a lost tag pushed before the rollback is never started, however new; after it, an older tag is superseded and a newer one moves dev on", async () => {
    const { runtime, dir, stop } = await startRuntime();
    cleanups.push(stop);
    const config = exampleConfig();
    const stateDir = join(dir, "state");
    const v1 = await runtime.release({ tag: "v1.0.0" });
    await runtime.release({ tag: "v2.0.0" });
    const requestedAt = new Date();
    const rolled = await runtime.release({
      tag: "v1.0.0",
      rollback: { requestedAt: requestedAt.toISOString(), requestedBy: "alice", from: "v2.0.0" },
    });
    expect(rolled.status).toBe("SUCCEEDED");

    // The reconciler runs an hour later. v1.5.0 was pushed before the rollback was asked for (its
    // event was lost: a late trigger); v0.9.0 and then v3.0.0 were pushed after it.
    const at = (minutesFromRollback: number) =>
      new Date(requestedAt.getTime() + minutesFromRollback * 60_000);
    const reconcilerNow = at(60);
    const v1Digests = (v1.output as { gate: { images: { digest?: string }[] } }).gate.images.map(
      (i) => i.digest,
    );
    const digest = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;
    const byRepo: Record<string, TaggedImage[]> = {};
    for (const [i, service] of config.services.entries()) {
      byRepo[service.repository] = [
        {
          repository: service.repository,
          digest: v1Digests[i] as string,
          tags: ["v1.0.0"],
          pushedAt: at(-40),
        },
        {
          repository: service.repository,
          digest: digest(`${service.name}-v1.5.0`),
          tags: ["v1.5.0"],
          pushedAt: at(-5),
        },
        {
          repository: service.repository,
          digest: digest(`${service.name}-v0.9.0`),
          tags: ["v0.9.0"],
          pushedAt: at(20),
        },
        {
          repository: service.repository,
          digest: digest(`${service.name}-v3.0.0`),
          tags: ["v3.0.0"],
          pushedAt: at(30),
        },
      ];
    }
    const images: ImageLister = {
      recentImages: async (repository, since) =>
        (byRepo[repository] ?? []).filter((i) => i.pushedAt >= since),
    };
    const outcomes: Awaited<ReturnType<typeof runtime.release>>[] = [];
    const starter: ReleaseStarter = {
      async start(name, request) {
        if (request.trigger.source === "ecr")
          runtime.images.record(request.trigger.repository, request.tag, request.trigger.digest);
        const o = await runtime.release({ tag: request.tag, trigger: request.trigger });
        outcomes.push(o);
        // Named as any trigger of that release would name it.
        expect(o.executionId.split(":").pop()).toBe(name);
        return { started: true, executionId: o.executionId };
      },
    };
    const ledger = new SqliteLedger(join(stateDir, "ledger.sqlite"));
    cleanups.push(() => ledger.close());
    const result = await reconcileReleases(
      config,
      { lookbackHours: 24, settleMinutes: 10, maxStarts: 10 },
      { images, ledger, starter, clock: { now: () => reconcilerNow } },
    );

    expect(result.started.map((s) => [s.tag, s.executionName])).toEqual([
      ["v0.9.0", "coffeeshop-v0.9.0-1"],
      ["v3.0.0", "coffeeshop-v3.0.0-1"],
    ]);
    expect(result.heldByRollback).toEqual(["v1.5.0"]);
    expect(await ledger.get("coffeeshop", "v1.5.0")).toBeNull();
    expect(outcomes.map((o) => [o.tag, o.status])).toEqual([
      ["v0.9.0", "SUCCEEDED"],
      ["v3.0.0", "SUCCEEDED"],
    ]);
    expect(outcomes[0]?.notes).toContain("superseded by the rollback to v1.0.0, not deployed");
    expect(outcomes[1]?.notes.join(" ")).not.toContain("superseded");
    let out = "";
    await releasesCommand({ stateDir, json: false }, (t) => {
      out += t;
    });
    expect(out).toMatch(/^coffeeshop on dev now: v3\.0\.0 \(finished /);
  });
});

describe("the reconciler fails closed on what dev runs", () => {
  it("when the ledger cannot say what dev runs, no lost tag is started; they wait for the next run", async () => {
    const config = exampleConfig();
    const now = new Date("2026-12-01T12:00:00Z");
    const starts: string[] = [];
    const result = await reconcileReleases(
      config,
      { lookbackHours: 24, settleMinutes: 10, maxStarts: 10 },
      {
        images: {
          recentImages: async (repository) => [
            {
              repository,
              digest: `sha256:${"c".repeat(64)}`,
              tags: ["v4.0.0"],
              pushedAt: new Date(now.getTime() - 3_600_000),
            },
          ],
        },
        ledger: {
          get: async () => null,
          latestSucceeded: async () => {
            throw Object.assign(new Error("Rate of requests exceeds the allowed throughput."), {
              name: "ProvisionedThroughputExceededException",
            });
          },
        },
        starter: {
          start: async (name) => {
            starts.push(name);
            return { started: true, executionId: name };
          },
        },
        clock: { now: () => now },
      },
    );
    expect(starts).toEqual([]);
    expect(result.lostEventsFound).toBe(1);
    expect(result.deferred).toEqual(["v4.0.0"]);
    expect(result.failures).toEqual([
      { error: "ProvisionedThroughputExceededException: Rate of requests exceeds the allowed throughput." },
    ]);
  });
});
