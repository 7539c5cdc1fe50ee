import { DescribeImagesCommand, ECRClient } from "@aws-sdk/client-ecr";
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import {
  type ReconcileConfig,
  type ReconcileOptions,
  reconcileExecutionName,
  reconcileReleases,
  reconcilerMetrics,
} from "../../functions/reconcile-releases/reconcile-releases.js";
import { EcrImageLister } from "../../shared/adapters/aws/ecr-image-lister.js";
import { SfnReleaseStarter } from "../../shared/adapters/aws/sfn-release-starter.js";
import type { ReleaseRequest } from "../../shared/contracts/release.js";
import type { ImageLister, LedgerRecord, ReleaseStarter, TaggedImage } from "../../shared/ports/index.js";

const NOW = new Date("2026-03-01T12:00:00Z");
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000);
const digest = (c: string) => `sha256:${c.repeat(64)}`;

const config: ReconcileConfig = {
  app: "coffeeshop",
  tagPolicy: { allowPrerelease: false },
  services: ["proxy", "web"].map((name) => ({
    name,
    repository: `go-coffeeshop/${name}`,
    dockerfile: "Dockerfile",
    context: ".",
  })) as ReconcileConfig["services"],
};
const options: ReconcileOptions = { lookbackHours: 24, settleMinutes: 10, maxStarts: 10 };

/** ECR as a list of images per repository; honours `since` as the adapter does. */
class MemoryImages implements ImageLister {
  readonly calls: { repository: string; since: Date }[] = [];
  constructor(
    readonly byRepo: Record<string, TaggedImage[]>,
    readonly broken = new Set<string>(),
  ) {}
  async recentImages(repository: string, since: Date): Promise<TaggedImage[]> {
    this.calls.push({ repository, since });
    if (this.broken.has(repository)) throw new Error("AccessDenied\nstack trace here");
    return (this.byRepo[repository] ?? []).filter((i) => i.pushedAt >= since);
  }
}

class MemoryLedger {
  constructor(readonly tags: Set<string> = new Set()) {}
  async get(app: string, tag: string): Promise<LedgerRecord | null> {
    if (!this.tags.has(`${app}#${tag}`)) return null;
    return {
      app,
      tag,
      executionId: "x",
      claimedAt: NOW.toISOString(),
      trigger: { source: "cli", pusher: "t" },
      status: "SUCCEEDED",
    };
  }
}

/** Step Functions as far as names go: a name starts at most one execution. */
class MemoryStarter implements ReleaseStarter {
  readonly executions = new Map<string, ReleaseRequest>();
  async start(name: string, request: ReleaseRequest) {
    if (this.executions.has(name)) return { started: false, executionId: null };
    this.executions.set(name, request);
    return { started: true, executionId: `arn:aws:states:eu-west-1:1:execution:release:${name}` };
  }
}

const image = (repo: string, tags: string[], c: string, pushedMinutesAgo: number): TaggedImage => ({
  repository: `go-coffeeshop/${repo}`,
  tags,
  digest: digest(c),
  pushedAt: minutesAgo(pushedMinutesAgo),
});

function setup(byRepo: Record<string, TaggedImage[]>, claimed: string[] = []) {
  const images = new MemoryImages(
    Object.fromEntries(Object.entries(byRepo).map(([r, list]) => [`go-coffeeshop/${r}`, list])),
  );
  const ledger = new MemoryLedger(new Set(claimed.map((t) => `coffeeshop#${t}`)));
  const starter = new MemoryStarter();
  const deps = { images, ledger, starter, clock: { now: () => NOW } };
  return { images, ledger, starter, deps };
}

describe("reconcileReleases (core, in-memory ports)", () => {
  it("starts one ECR-shaped release per unclaimed settled tag and skips claimed ones", async () => {
    const { starter, deps, images } = setup(
      {
        proxy: [image("proxy", ["v1.0.0"], "a", 120), image("proxy", ["v1.1.0"], "b", 60)],
        web: [image("web", ["v1.0.0", "latest"], "c", 119), image("web", ["v1.1.0"], "d", 59)],
      },
      ["v1.0.0"],
    );
    const out = await reconcileReleases(config, options, deps);
    expect(images.calls.map((c) => c.repository)).toEqual(["go-coffeeshop/proxy", "go-coffeeshop/web"]);
    expect(images.calls[0]?.since).toEqual(new Date("2026-02-28T12:00:00Z"));
    expect(out.tagsSeen).toBe(2);
    expect(out.alreadyClaimed).toBe(1);
    expect(out.lostEventsFound).toBe(1);
    expect(out.failures).toEqual([]);
    expect([...starter.executions.entries()]).toEqual([
      [
        reconcileExecutionName("coffeeshop", "v1.1.0"),
        {
          app: "coffeeshop",
          tag: "v1.1.0",
          // The first configured service that has the tag names the image.
          trigger: { source: "ecr", repository: "go-coffeeshop/proxy", digest: digest("b") },
          force: false,
        },
      ],
    ]);
    expect(out.started).toEqual([
      {
        tag: "v1.1.0",
        executionName: reconcileExecutionName("coffeeshop", "v1.1.0"),
        executionId: `arn:aws:states:eu-west-1:1:execution:release:${reconcileExecutionName("coffeeshop", "v1.1.0")}`,
        repository: "go-coffeeshop/proxy",
        digest: digest("b"),
      },
    ]);
  });

  it("leaves a tag whose first image is younger than the settle time to its own event", async () => {
    const { starter, deps } = setup({ proxy: [image("proxy", ["v2.0.0"], "a", 9)] });
    const out = await reconcileReleases(config, options, deps);
    expect(out.tagsSeen).toBe(1);
    expect(out.lostEventsFound).toBe(0);
    expect(starter.executions.size).toBe(0);
  });

  it("judges settling by the tag's earliest image, in any repository", async () => {
    const { starter, deps } = setup({
      proxy: [image("proxy", ["v2.0.0"], "a", 1)],
      web: [image("web", ["v2.0.0"], "b", 30)],
    });
    const out = await reconcileReleases(config, options, deps);
    expect(out.lostEventsFound).toBe(1);
    // proxy comes first in the config, so its image names the release even though web was earlier.
    expect([...starter.executions.values()][0]?.trigger).toEqual({
      source: "ecr",
      repository: "go-coffeeshop/proxy",
      digest: digest("a"),
    });
  });

  it("ignores tags outside the tag policy and images outside the window", async () => {
    const { starter, deps } = setup({
      proxy: [
        image("proxy", ["latest", "v1", "v1.2", "vfoo", "v1.2.3-rc.1", "1.2.3"], "a", 30),
        image("proxy", ["v0.9.0"], "b", 25 * 60),
      ],
    });
    const out = await reconcileReleases(config, options, deps);
    expect(out.tagsSeen).toBe(0);
    expect(starter.executions.size).toBe(0);

    const pre = await reconcileReleases({ ...config, tagPolicy: { allowPrerelease: true } }, options, deps);
    expect(pre.started.map((s) => s.tag)).toEqual(["v1.2.3-rc.1"]);
  });

  it("is idempotent: a second run (or an overlapping one) starts nothing new", async () => {
    const { starter, deps } = setup({ web: [image("web", ["v3.0.0"], "a", 30)] });
    const first = await reconcileReleases(config, options, deps);
    const [second, third] = await Promise.all([
      reconcileReleases(config, options, deps),
      reconcileReleases(config, options, deps),
    ]);
    expect(first.started).toHaveLength(1);
    expect(second.started).toEqual([]);
    expect(third.started).toEqual([]);
    expect(second.alreadyStarted).toEqual(["v3.0.0"]);
    // Still unclaimed, so still lost: the metric keeps saying so until a release claims it.
    expect(second.lostEventsFound).toBe(1);
    expect(starter.executions.size).toBe(1);
  });

  it("starts at most maxStarts, oldest first, and defers the rest", async () => {
    const { starter, deps } = setup({
      web: [
        image("web", ["v1.0.2"], "a", 40),
        image("web", ["v1.0.0"], "b", 60),
        image("web", ["v1.0.1"], "c", 50),
      ],
    });
    const out = await reconcileReleases(config, { ...options, maxStarts: 2 }, deps);
    expect(out.started.map((s) => s.tag)).toEqual(["v1.0.0", "v1.0.1"]);
    expect(out.deferred).toEqual(["v1.0.2"]);
    expect(out.lostEventsFound).toBe(3);
    expect([...starter.executions.values()].map((r) => r.tag)).toEqual(["v1.0.0", "v1.0.1"]);
  });

  it("goes on past a broken repository, a broken ledger read and a failed start, reporting each in one line", async () => {
    const { deps, images } = setup({
      web: [
        image("web", ["v1.0.0"], "a", 60),
        image("web", ["v1.0.1"], "b", 50),
        image("web", ["v1.0.2"], "c", 40),
      ],
    });
    images.broken.add("go-coffeeshop/proxy");
    const ledger = {
      get: async (_app: string, tag: string) => {
        if (tag === "v1.0.0") throw new Error("ProvisionedThroughputExceeded");
        return null;
      },
    };
    const starter: ReleaseStarter = {
      start: async (name, request) => {
        if (request.tag === "v1.0.1")
          throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
        return { started: true, executionId: name };
      },
    };
    const out = await reconcileReleases(config, options, { ...deps, ledger, starter });
    expect(out.failures).toEqual([
      { repository: "go-coffeeshop/proxy", error: "Error: AccessDenied" },
      { tag: "v1.0.0", error: "Error: ProvisionedThroughputExceeded" },
      { tag: "v1.0.1", error: "ThrottlingException: Rate exceeded" },
    ]);
    expect(out.started.map((s) => s.tag)).toEqual(["v1.0.2"]);
  });

  it("finds nothing and starts nothing in an empty registry", async () => {
    const { starter, deps } = setup({});
    const out = await reconcileReleases(config, options, deps);
    expect(out).toMatchObject({
      repositories: 2,
      tagsSeen: 0,
      lostEventsFound: 0,
      started: [],
      failures: [],
    });
    expect(starter.executions.size).toBe(0);
  });
});

describe("reconcileExecutionName", () => {
  it("is deterministic, valid for Step Functions and distinct per tag", () => {
    const tags = ["v1.2.3", "v1.2.3-rc.1", "v1.2.3-rc-1", "v1.2.3+build.7", `v1.0.0-${"x".repeat(90)}`];
    const names = tags.map((t) => reconcileExecutionName("coffeeshop", t));
    expect(new Set(names).size).toBe(tags.length);
    for (const [i, name] of names.entries()) {
      expect(name).toBe(reconcileExecutionName("coffeeshop", tags[i] as string));
      expect(name.length).toBeLessThanOrEqual(80);
      expect(name).toMatch(/^[A-Za-z0-9._+-]+$/);
    }
    // The name every trigger gives the first attempt of the release: readable in the console.
    expect(names[0]).toBe("coffeeshop-v1.2.3-1");
    expect(reconcileExecutionName("other", "v1.2.3")).not.toBe(names[0]);
  });
});

describe("reconcilerMetrics", () => {
  it("counts lost events, starts and failures per app, with only the App dimension the alarm matches on", async () => {
    const { deps } = setup({ web: [image("web", ["v4.0.0"], "a", 30)] });
    const points = reconcilerMetrics(await reconcileReleases(config, options, deps));
    expect(points).toEqual([
      { name: "LostEventsRecovered", unit: "Count", value: 1, dimensions: { App: "coffeeshop" } },
      { name: "ReconcilerReleasesStarted", unit: "Count", value: 1, dimensions: { App: "coffeeshop" } },
      { name: "ReconcilerFailures", unit: "Count", value: 0, dimensions: { App: "coffeeshop" } },
    ]);
  });
});

describe("EcrImageLister (DescribeImages at the SDK boundary)", () => {
  const ecr = mockClient(ECRClient);
  beforeEach(() => ecr.reset());

  it("pages through TAGGED images and keeps those pushed since the cut-off", async () => {
    ecr
      .on(DescribeImagesCommand)
      .resolvesOnce({
        imageDetails: [
          { imageDigest: digest("a"), imageTags: ["v1.0.0"], imagePushedAt: minutesAgo(10) },
          { imageDigest: digest("b"), imageTags: ["v0.1.0"], imagePushedAt: minutesAgo(3000) },
        ],
        nextToken: "page-2",
      })
      .resolvesOnce({
        imageDetails: [
          { imageDigest: digest("c"), imageTags: ["v1.1.0", "latest"], imagePushedAt: minutesAgo(5) },
          { imageDigest: digest("d"), imageTags: [], imagePushedAt: minutesAgo(5) },
          { imageDigest: digest("e"), imageTags: ["v9.9.9"] },
        ],
      });
    const out = await new EcrImageLister(new ECRClient({ region: "eu-west-1" })).recentImages(
      "go-coffeeshop/web",
      minutesAgo(60),
    );
    expect(out).toEqual([
      { repository: "go-coffeeshop/web", digest: digest("a"), tags: ["v1.0.0"], pushedAt: minutesAgo(10) },
      {
        repository: "go-coffeeshop/web",
        digest: digest("c"),
        tags: ["v1.1.0", "latest"],
        pushedAt: minutesAgo(5),
      },
    ]);
    const calls = ecr.commandCalls(DescribeImagesCommand).map((c) => c.args[0].input);
    // The SDK paginator reuses one input object across pages, so only the last state is observable.
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual({
      repositoryName: "go-coffeeshop/web",
      filter: { tagStatus: "TAGGED" },
      maxResults: 1000,
      nextToken: "page-2",
    });
  });

  it("lets a registry error through", async () => {
    ecr
      .on(DescribeImagesCommand)
      .rejects(Object.assign(new Error("no such repository"), { name: "RepositoryNotFoundException" }));
    await expect(
      new EcrImageLister(new ECRClient({ region: "eu-west-1" })).recentImages("nope", minutesAgo(60)),
    ).rejects.toThrow("no such repository");
  });
});

describe("SfnReleaseStarter (StartExecution at the SDK boundary)", () => {
  const sfn = mockClient(SFNClient);
  beforeEach(() => sfn.reset());
  const arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:release";
  const request: ReleaseRequest = {
    app: "coffeeshop",
    tag: "v1.0.0",
    trigger: { source: "ecr", repository: "go-coffeeshop/web", digest: digest("a") },
    force: false,
  };

  it("starts a named execution with the release request as input", async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${arn}:x`, startDate: NOW });
    const out = await new SfnReleaseStarter(new SFNClient({ region: "eu-west-1" }), arn).start(
      "n-1",
      request,
    );
    expect(out).toEqual({ started: true, executionId: `${arn}:x` });
    const input = sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input;
    expect(input).toEqual({ stateMachineArn: arn, name: "n-1", input: JSON.stringify(request) });
  });

  it("reports an existing execution name as not started", async () => {
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: "Execution Already Exists", $metadata: {} }));
    const out = await new SfnReleaseStarter(new SFNClient({ region: "eu-west-1" }), arn).start(
      "n-1",
      request,
    );
    expect(out).toEqual({ started: false, executionId: null });
  });

  it("lets other errors through", async () => {
    sfn
      .on(StartExecutionCommand)
      .rejects(Object.assign(new Error("denied"), { name: "AccessDeniedException" }));
    await expect(
      new SfnReleaseStarter(new SFNClient({ region: "eu-west-1" }), arn).start("n-1", request),
    ).rejects.toThrow("denied");
  });
});
