import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tagToDevModel, verifyDetectionSeconds } from "../../bench/time-model.js";
import { PROJECT_ROOT } from "../../local/paths.js";

const asl = JSON.parse(readFileSync(join(PROJECT_ROOT, "state-machines", "release.asl.json"), "utf8"));
const verifyRetry = asl.States.VerifyDev.Retry.find((r: { ErrorEquals: string[] }) =>
  r.ErrorEquals.includes("DevDeployInProgressError"),
);

describe("tag → dev time model (bench)", () => {
  it("VerifyDev sees a deploy at the first poll after it ends: 0 s, then each retry interval, capped", () => {
    const retry = { IntervalSeconds: 10, BackoffRate: 1.5, MaxDelaySeconds: 30 };
    expect(verifyDetectionSeconds(0, retry)).toBe(0);
    expect(verifyDetectionSeconds(10, retry)).toBe(10);
    expect(verifyDetectionSeconds(11, retry)).toBe(25);
    expect(verifyDetectionSeconds(40, retry)).toBe(47.5);
    // 10 + 15 + 22.5 + 30 (capped) + 30
    expect(verifyDetectionSeconds(100, retry)).toBe(107.5);
  });

  it("reads VerifyDev's in-progress retry from the real ASL and sums measured and stated parts", () => {
    expect(verifyRetry).toMatchObject({
      IntervalSeconds: expect.any(Number),
      BackoffRate: expect.any(Number),
    });
    const model = tagToDevModel({
      coldImportMs: { a: 100, b: 50 },
      localExecutionMs: 900,
      transitions: 30,
      githubCalls: 9,
      verifyRetry,
    });
    const byPart = Object.fromEntries(model.parts.map((p) => [p.part, p]));
    expect(byPart["Lambda cold starts"]).toMatchObject({ seconds: 0.15, source: "measured" });
    expect(byPart["workflow work"]).toMatchObject({ seconds: 0.9, source: "measured" });
    expect(byPart["dev deploy, as VerifyDev sees it"]?.seconds).toBeGreaterThanOrEqual(40);
    expect(model.totalSeconds).toBeCloseTo(
      model.parts.reduce((a, p) => a + p.seconds, 0),
      6,
    );
  });
});
