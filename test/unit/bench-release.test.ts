import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { countLambdaInvocations, lambdaStatesOf } from "../../bench/release.js";
import { ASL_PATH } from "../../local/runtime.js";

/** The bench counts Lambda invocations from the ASL it runs: a service integration is not a Lambda. */
describe("bench: Lambda invocations per release", () => {
  const lambdas = lambdaStatesOf(readFileSync(ASL_PATH, "utf8"));

  it("counts the Task states whose Resource is a function ARN, inside the Map too, and no integration", () => {
    for (const name of ["ClaimRelease", "PlanRelease", "EvaluateScan", "AcquireDevLock", "RecordOutcome"])
      expect(lambdas.has(name), name).toBe(true);
    // CodeBuild, SSM and DynamoDB integrations (ReleaseDevLock is a conditional UpdateItem).
    for (const name of [
      "BuildScanPush",
      "ScanImage",
      "DeployDev",
      "ReleaseDevLock",
      "ReleaseDevLockAfterFailure",
    ])
      expect(lambdas.has(name), name).toBe(false);
    // Pass, Choice, Map, Succeed and Fail states invoke nothing.
    for (const name of ["BuildOrScan", "ScanImages", "Superseded", "Released", "ReleaseFailed"])
      expect(lambdas.has(name), name).toBe(false);
  });

  it("counts one invocation per run of such a state in a timeline (Map iterations included)", () => {
    const timeline = [
      { name: "ClaimRelease" },
      { name: "EvaluateScan" },
      { name: "EvaluateScan" },
      { name: "BuildScanPush" },
      { name: "ReleaseDevLock" },
      { name: "RecordOutcome" },
    ];
    expect(countLambdaInvocations(timeline, lambdas)).toBe(4);
  });
});
