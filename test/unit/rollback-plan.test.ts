import { join } from "node:path";
import { DescribeImagesCommand, ECRClient, ImageNotFoundException } from "@aws-sdk/client-ecr";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { planRelease } from "../../functions/plan-release/plan-release.js";
import {
  devReportOf,
  devStatusOf,
  reportDevResult,
} from "../../functions/report-dev-result/report-dev-result.js";
import { EcrImageRegistry } from "../../shared/adapters/aws/ecr-registry.js";
import { SqliteLedger } from "../../shared/adapters/local/sqlite-ledger.js";
import { imageRepository } from "../../shared/contracts/app-config.js";
import { RollbackRefusedError } from "../../shared/domain/errors.js";
import { exampleConfig, tempDir } from "../helpers/local.js";

const config = exampleConfig();
const digestOf = (i: number) => `sha256:${String(i).repeat(64)}`;
const rollbackRequest = {
  app: "coffeeshop",
  tag: "v1.0.0",
  trigger: { source: "cli", pusher: "alice" },
  force: true,
  rollback: { requestedAt: "2026-12-01T12:00:00.000Z", requestedBy: "alice", from: "v2.0.0" },
};

describe("a rollback's plan: the digests recorded for the earlier release, checked in ECR", () => {
  const cleanups: (() => void)[] = [];
  const ecr = mockClient(ECRClient);
  afterEach(() => {
    ecr.reset();
    for (const c of cleanups.splice(0)) c();
  });

  async function ledgerWith(status: "SUCCEEDED" | "FAILED") {
    const dir = tempDir();
    const ledger = new SqliteLedger(join(dir.path, "ledger.sqlite"));
    cleanups.push(() => {
      ledger.close();
      dir.cleanup();
    });
    const executionId =
      "arn:aws:states:us-east-1:123456789012:execution:pourover-coffeeshop-release:coffeeshop-v1.0.0-1";
    await ledger.claim({
      app: "coffeeshop",
      tag: "v1.0.0",
      executionId,
      claimedAt: "2026-11-01T10:00:00.000Z",
      trigger: { source: "cli", pusher: "a" },
    });
    await ledger.record({
      app: "coffeeshop",
      tag: "v1.0.0",
      executionId,
      status,
      finishedAt: "2026-11-01T10:05:00.000Z",
      summary: {
        images: config.services.map((s, i) => ({
          service: s.name,
          repository: imageRepository(config, s),
          tag: "v1.0.0",
          digest: digestOf(i),
        })),
        scans: config.services.map((s, i) => ({
          service: s.name,
          verdict: "PASSED",
          counts: { LOW: i },
          digest: digestOf(i),
          report: `s3://r/${s.name}.json`,
          scannedBy: "trivy",
        })),
      },
    });
    return ledger;
  }

  it("pins every service to its recorded digest with the recorded scan, when ECR still holds them", async () => {
    ecr.on(DescribeImagesCommand).callsFake((input) => ({
      imageDetails: [
        {
          registryId: "123456789012",
          repositoryName: input.repositoryName,
          imageDigest: input.imageIds[0].imageDigest,
          imageTags: ["v1.0.0"],
        },
      ],
    }));
    const registry = new EcrImageRegistry(new ECRClient({ region: "us-east-1" }));
    const plan = await planRelease(rollbackRequest, config, {
      registry,
      rollback: { ledger: await ledgerWith("SUCCEEDED"), images: registry },
    });
    expect(plan.rollback).toEqual({ from: "v2.0.0", requestedAt: "2026-12-01T12:00:00.000Z" });
    expect(plan.services.map((s) => s.digest)).toEqual(config.services.map((_, i) => digestOf(i)));
    expect(
      plan.services.every(
        (s) => s.recordedScan?.verdict === "PASSED" && s.recordedScan.image.digest === s.digest,
      ),
    ).toBe(true);
    expect(ecr.commandCalls(DescribeImagesCommand).map((c) => c.args[0].input.imageIds)).toEqual(
      config.services.map((_, i) => [{ imageDigest: digestOf(i) }]),
    );
  });

  it("refuses in one line when an image is gone from ECR (DescribeImages: ImageNotFoundException)", async () => {
    ecr.on(DescribeImagesCommand).callsFake((input) => {
      if (input.repositoryName === config.services[1]?.repository)
        throw new ImageNotFoundException({
          message: `The image with imageId {imageDigest:'${digestOf(1)}', imageTag:'null'} does not exist within the repository with name '${input.repositoryName}' in the registry with id '123456789012'`,
          $metadata: { httpStatusCode: 400 },
        });
      return { imageDetails: [{ imageDigest: input.imageIds[0].imageDigest }] };
    });
    const registry = new EcrImageRegistry(new ECRClient({ region: "us-east-1" }));
    const refused = planRelease(rollbackRequest, config, {
      registry,
      rollback: { ledger: await ledgerWith("SUCCEEDED"), images: registry },
    });
    await expect(refused).rejects.toBeInstanceOf(RollbackRefusedError);
    await expect(refused).rejects.toThrow(
      `cannot roll back coffeeshop to v1.0.0: its images are gone from the registry: ${config.services[1]?.repository}@${digestOf(1).slice(0, 19)}…`,
    );
  });

  it("refuses a target that never succeeded, before asking ECR anything", async () => {
    const registry = new EcrImageRegistry(new ECRClient({ region: "us-east-1" }));
    await expect(
      planRelease(rollbackRequest, config, {
        registry,
        rollback: { ledger: await ledgerWith("FAILED"), images: registry },
      }),
    ).rejects.toThrow(
      "cannot roll back coffeeshop to v1.0.0: its release ended FAILED, it was never released successfully",
    );
    expect(ecr.commandCalls(DescribeImagesCommand)).toHaveLength(0);
  });
});

describe("the dev result of each outcome", () => {
  const url = "https://console/x";
  it("maps the state to the PR's dev line and the pourover/dev status", () => {
    const base = {
      app: "coffeeshop",
      tag: "v1.0.0",
      trigger: { source: "cli" as const, pusher: "a" },
      force: false,
    };
    const superseded = devReportOf({
      ...base,
      deploy: { commandId: "", result: { instances: [], dryRun: false, superseded: true, by: "v1.1.0" } },
    });
    expect(superseded).toEqual({ kind: "superseded", by: "v1.1.0" });
    expect(devStatusOf(superseded as never, url)).toEqual({
      state: "error",
      description: "superseded by v1.1.0, not deployed",
      targetUrl: url,
    });
    const dry = devReportOf({
      ...base,
      deploy: {
        commandId: "c",
        result: { instances: [{ instanceId: "localhost", status: "Success", summary: "" }], dryRun: true },
      },
    });
    expect(devStatusOf(dry as never, url).state).toBe("pending");
    expect(devReportOf({ ...base, error: { Error: "DevAgentOfflineError", Cause: "i-1 offline" } })).toEqual({
      kind: "failed",
      error: "DevAgentOfflineError",
      reason: "i-1 offline",
    });
    expect(devReportOf(base)).toBeNull();
  });

  it("reports nothing (no call) when the release opened no PR", async () => {
    const calls: unknown[] = [];
    const out = await reportDevResult(
      {
        release: {
          app: "coffeeshop",
          tag: "v1.0.0",
          trigger: { source: "cli", pusher: "a" },
          force: false,
          error: { Error: "ScanPolicyRejectedError" },
        },
        executionId: "e",
      },
      {
        reporter: { reportDev: async (i) => void calls.push(i), comment: async () => {} },
        executionUrl: () => url,
      },
    );
    expect(out).toEqual({ reported: false, reason: "no release pull request was opened" });
    expect(calls).toEqual([]);
  });
});
