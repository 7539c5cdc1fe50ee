import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { type Json, REPO_ROOT, resourcesOf, SYNTH_TIMEOUT_MS, synthPipeline } from "./synth-helper.js";

/**
 * "Never stuck" in AWS: executions that end without reaching RecordOutcome are closed by
 * finish-abandoned-release, fed by Step Functions' own status-change events on the default bus.
 */
describe("abandoned releases (aborted, timed out, failed outside a Catch)", () => {
  let template: Template;
  let machineId: string;
  let fnId: string;
  beforeAll(() => {
    template = synthPipeline({ bundle: false }).template;
    machineId = resourcesOf(template, "AWS::StepFunctions::StateMachine")[0]?.[0] as string;
    fnId = resourcesOf(template, "AWS::Lambda::Function").find(([, r]) =>
      String(r.Properties?.Description ?? "").startsWith("Closes a release whose execution"),
    )?.[0] as string;
  }, SYNTH_TIMEOUT_MS);

  const ruleOf = () =>
    resourcesOf(template, "AWS::Events::Rule").find(
      ([, r]) => r.Properties.EventPattern?.source?.[0] === "aws.states",
    ) as [string, Json];

  it("a rule on the default bus matches this state machine's ABORTED, TIMED_OUT and FAILED status changes only", () => {
    expect(machineId).toBeDefined();
    expect(fnId).toBeDefined();
    const [, rule] = ruleOf();
    // Step Functions sends execution status changes to the default event bus only.
    expect(rule.Properties.EventBusName).toBeUndefined();
    expect(rule.Properties.EventPattern).toEqual({
      source: ["aws.states"],
      "detail-type": ["Step Functions Execution Status Change"],
      detail: {
        status: ["ABORTED", "TIMED_OUT", "FAILED"],
        stateMachineArn: [{ Ref: machineId }],
      },
    });
  });

  it("its target is finish-abandoned-release, with retries and a dead-letter queue", () => {
    const [ruleId, rule] = ruleOf();
    expect(rule.Properties.Targets).toHaveLength(1);
    const target = rule.Properties.Targets[0];
    expect(target.Arn).toEqual({ "Fn::GetAtt": [fnId, "Arn"] });
    expect(target.RetryPolicy).toEqual({ MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 21600 });
    const dlqId = target.DeadLetterConfig.Arn["Fn::GetAtt"][0];
    template.hasResource("AWS::SQS::Queue", Match.anyValue());
    expect(template.toJSON().Resources[dlqId].Type).toBe("AWS::SQS::Queue");
    // EventBridge may invoke the function for this rule only.
    template.hasResourceProperties("AWS::Lambda::Permission", {
      Action: "lambda:InvokeFunction",
      Principal: "events.amazonaws.com",
      FunctionName: { "Fn::GetAtt": [fnId, "Arn"] },
      SourceArn: { "Fn::GetAtt": [ruleId, "Arn"] },
    });
  });

  it("the function may touch only this app's release items and its dev lock, by conditional update", () => {
    const fn = template.toJSON().Resources[fnId];
    const roleId = fn.Properties.Role["Fn::GetAtt"][0];
    const statements = resourcesOf(template, "AWS::IAM::Policy")
      .filter(([, p]) => p.Properties.Roles.some((r: Json) => r.Ref === roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    const dynamo = statements.filter((s: Json) => JSON.stringify(s.Action).includes("dynamodb:"));
    expect(dynamo).toHaveLength(1);
    expect(dynamo[0].Action).toEqual(["dynamodb:GetItem", "dynamodb:UpdateItem"]);
    expect(dynamo[0].Resource).toEqual({ "Fn::GetAtt": [expect.stringMatching(/^ReleaseLedger/), "Arn"] });
    expect(dynamo[0].Condition).toEqual({
      "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["coffeeshop#v*", "devlock#coffeeshop"] },
    });
    const actions = statements.flatMap((s: Json) => [s.Action].flat());
    expect(actions).not.toContain("dynamodb:PutItem");
    expect(actions).not.toContain("dynamodb:DeleteItem");
    expect(fn.Properties.Environment.Variables.LEDGER_TABLE_NAME).toEqual({
      Ref: expect.stringMatching(/^ReleaseLedger/),
    });
  });

  it("the state machine has a TimeoutSeconds above the longest legitimate run, computed from its retries", () => {
    const asl = JSON.parse(readFileSync(join(REPO_ROOT, "state-machines", "release.asl.json"), "utf8"));
    const states = asl.States as Record<string, Json>;
    const inner = states.ScanImages.ItemProcessor.States as Record<string, Json>;
    /** The longest a Retrier can wait in total: every attempt at its capped backoff. */
    const waits = (state: Json, error: string): number => {
      const r = (state.Retry ?? []).find((x: Json) => x.ErrorEquals.includes(error));
      if (!r) return 0;
      let total = 0;
      for (let k = 0; k < r.MaxAttempts; k++)
        total += Math.min(r.IntervalSeconds * (r.BackoffRate ?? 2) ** k, r.MaxDelaySeconds ?? Infinity);
      return total;
    };
    const buildTimeout = 60 * 60; // the build project's CodeBuild timeout
    const devTimeoutMax = 3600; // dev.timeoutSeconds is at most 3600 (app config)
    const longest =
      waits(states.PlanRelease, "ImagesNotReadyError") +
      buildTimeout * 2 + // BuildScanPush and its one States.TaskFailed retry
      waits(inner.BuildScanPush, "States.TaskFailed") +
      waits(inner.BuildScanPush, "CodeBuild.ThrottlingException") +
      waits(states.AcquireDevLock, "DevLockBusyError") +
      // The wake loop: 24 polls of the dev hosts, a WaitForDevHosts pause before each.
      24 * states.WaitForDevHosts.Seconds +
      Math.max(devTimeoutMax, waits(states.VerifyDev, "DevDeployInProgressError"));
    expect(longest).toBeGreaterThan(4 * 3600);
    expect(asl.TimeoutSeconds).toBeGreaterThan(longest);
    expect(asl.TimeoutSeconds).toBeLessThanOrEqual(24 * 3600);
    const build = resourcesOf(template, "AWS::CodeBuild::Project").find(([, p]) =>
      String(p.Properties.Description ?? "").includes("build"),
    );
    expect(build?.[1].Properties.TimeoutInMinutes).toBe(60);
  });
});
