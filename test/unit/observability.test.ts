import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import {
  correlationKeys,
  failureStage,
  powertools,
  publishReleaseMetrics,
  releaseMetrics,
} from "../../shared/observability/powertools.js";

const EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:release:0f1e2d3c";
const SECRET = "ghp_notarealtokenbutlooksalittlelikeone";

const base: ReleaseState = {
  app: "coffeeshop",
  tag: "v1.2.3",
  trigger: { source: "cli", pusher: "me" },
  force: false,
  claim: { claimedAt: "2026-01-01T10:00:00.000Z" },
};
const lambdaContext = {
  functionName: "pourover-test",
  functionVersion: "$LATEST",
  invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:pourover-test",
  memoryLimitInMB: "256",
  awsRequestId: "req-1",
  getRemainingTimeInMillis: () => 10_000,
} as unknown as Context;

let lines: string[];
beforeEach(() => {
  vi.stubEnv("POWERTOOLS_METRICS_NAMESPACE", "Pourover");
  lines = [];
  // Powertools writes to process.stdout through its own Console, not the global console.
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});
const json = () => lines.flatMap((l) => l.split("\n").filter(Boolean)).map((l) => JSON.parse(l));

describe("correlationKeys", () => {
  it("takes the execution id, tag and app from the state input, request or release", () => {
    expect(
      correlationKeys({ executionId: EXECUTION, request: { app: "coffeeshop", tag: "v1.2.3" } }),
    ).toEqual({
      executionId: EXECUTION,
      app: "coffeeshop",
      tag: "v1.2.3",
    });
    expect(correlationKeys({ release: { ...base }, executionId: EXECUTION })).toMatchObject({
      tag: "v1.2.3",
    });
  });

  it("keeps nothing that does not have the exact shape, and nothing else", () => {
    expect(
      correlationKeys({ executionId: "x y", tag: "latest; rm -rf", app: "Bad App", body: SECRET }),
    ).toEqual({});
    expect(correlationKeys("v1.2.3")).toEqual({});
    expect(correlationKeys(null)).toEqual({});
  });
});

describe("release metrics", () => {
  it("a release that reached dev records its lead time from the claim", () => {
    const release = { ...base, deploy: { commandId: "c", result: { instances: [], dryRun: false } } };
    expect(releaseMetrics({ release, status: "SUCCEEDED", finishedAt: "2026-01-01T10:07:30.000Z" })).toEqual([
      { name: "LeadTimeSeconds", unit: "Seconds", value: 450, dimensions: { App: "coffeeshop" } },
    ]);
  });

  it("a dry-run deploy is no lead time to dev", () => {
    const release = { ...base, deploy: { commandId: "c", result: { instances: [], dryRun: true } } };
    expect(releaseMetrics({ release, status: "SUCCEEDED", finishedAt: "2026-01-01T10:07:30.000Z" })).toEqual(
      [],
    );
  });

  it("a failure is counted once, at the stage whose result is missing", () => {
    const error = { Error: "ManifestConflictError", Cause: "moved" };
    const release: ReleaseState = {
      ...base,
      plan: {} as never,
      scans: [],
      gate: { images: [], warnings: [] },
      error,
    };
    expect(failureStage(release)).toBe("UpdateManifests");
    expect(failureStage({ ...base, error })).toBe("PlanRelease");
    expect(failureStage({ ...release, pullRequest: {} as never, deploy: { commandId: "c" } })).toBe(
      "VerifyDev",
    );
    expect(releaseMetrics({ release, status: "FAILED", finishedAt: "2026-01-01T10:01:00.000Z" })).toEqual([
      {
        name: "ReleaseFailed",
        unit: "Count",
        value: 1,
        dimensions: { App: "coffeeshop", Stage: "UpdateManifests" },
      },
    ]);
  });

  it("a scan rejection fails at GateOnScan and counts as a scan rejection", () => {
    const release = { ...base, plan: {} as never, scans: [], error: { Error: "ScanPolicyRejectedError" } };
    expect(
      releaseMetrics({ release, status: "FAILED", finishedAt: "2026-01-01T10:01:00.000Z" }).map((m) => [
        m.name,
        m.dimensions,
      ]),
    ).toEqual([
      ["ReleaseFailed", { App: "coffeeshop", Stage: "GateOnScan" }],
      ["ScanRejections", { App: "coffeeshop" }],
    ]);
  });

  it("publishes one EMF line per metric with exactly the dimensions the alarms use (no service)", () => {
    const { metrics } = powertools("pourover-unit-metrics");
    const release = { ...base, plan: {} as never, scans: [], error: { Error: "ScanPolicyRejectedError" } };
    publishReleaseMetrics(metrics, { release, status: "FAILED", finishedAt: "2026-01-01T10:01:00.000Z" });
    const emf = json();
    expect(emf).toHaveLength(2);
    expect(emf.map((e) => e._aws.CloudWatchMetrics[0])).toEqual([
      {
        Namespace: "Pourover",
        Dimensions: [["App", "Stage"]],
        Metrics: [{ Name: "ReleaseFailed", Unit: "Count" }],
      },
      { Namespace: "Pourover", Dimensions: [["App"]], Metrics: [{ Name: "ScanRejections", Unit: "Count" }] },
    ]);
    expect(emf[0]).toMatchObject({ App: "coffeeshop", Stage: "GateOnScan", ReleaseFailed: 1 });
    expect(emf[0].service).toBeUndefined();
  });
});

describe("powertools middleware", () => {
  it("logs JSON with the correlation keys and the request id, never the event", async () => {
    const tools = powertools("pourover-unit-handler");
    expect(powertools("pourover-unit-handler")).toBe(tools);
    const handler = middy<Record<string, unknown>>()
      .use(tools.middleware)
      .handler(async () => {
        tools.logger.info("claimed");
        return { ok: true };
      });
    await handler(
      { executionId: EXECUTION, request: { app: "coffeeshop", tag: "v1.2.3" }, token: SECRET },
      lambdaContext,
    );
    const logged = json();
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({
      level: "INFO",
      message: "claimed",
      service: "pourover-unit-handler",
      executionId: EXECUTION,
      tag: "v1.2.3",
      app: "coffeeshop",
      function_request_id: "req-1",
    });
    expect(lines.join("")).not.toContain(SECRET);

    // Keys are reset after each invocation: the next one does not inherit the tag.
    lines.length = 0;
    await handler({}, lambdaContext);
    tools.logger.info("later");
    expect(json()[0].tag).toBeUndefined();
  });
});
