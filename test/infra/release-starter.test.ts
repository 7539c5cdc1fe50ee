import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { PipelineStack } from "../../infra/stacks/pipeline-stack.js";
import { loadConfigFile } from "../../shared/config/load-config-file.js";
import { FIXTURE_CONFIG, type Json, resourcesOf } from "./synth-helper.js";

/**
 * The trigger rules start releases through functions/start-release (EventBridge's Step Functions
 * target cannot name executions); the release PR's dev result is written by report-dev-result.
 */
const config = loadConfigFile(FIXTURE_CONFIG);
const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
const template = Template.fromStack(new PipelineStack(app, "Starter", { config }));

const getAtt = (id: string, attr = "Arn") => ({ "Fn::GetAtt": [id, attr] });
const idOf = (type: string, prefix: string) => {
  const found = resourcesOf(template, type).filter(([id]) => id.startsWith(prefix));
  expect(found, `${type} ${prefix}`).toHaveLength(1);
  return (found[0] as [string, Json])[0];
};
function statementsOf(roleId: string): Json[] {
  return resourcesOf(template, "AWS::IAM::Policy")
    .filter(([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[])
    .filter(
      (s) => !([s.Action].flat() as string[]).every((a) => a.startsWith("xray:") || a.startsWith("logs:")),
    );
}

describe("release starter: the trigger rules' target", () => {
  const starterFn = idOf("AWS::Lambda::Function", "TriggersReleaseStarterStartRelease");
  const machineId = resourcesOf(template, "AWS::StepFunctions::StateMachine")[0]?.[0] as string;

  it("both trigger rules target the starter function (with their DLQs), none targets the state machine", () => {
    const rules = resourcesOf(template, "AWS::Events::Rule").filter(([id]) =>
      /^Triggers(TagPushedRule|EcrPushRule)/.test(id),
    );
    expect(rules).toHaveLength(2);
    for (const [id, rule] of rules) {
      const targets = rule.Properties.Targets as Json[];
      expect(targets, id).toHaveLength(1);
      expect(targets[0].Arn, id).toEqual(getAtt(starterFn));
      expect(targets[0].DeadLetterConfig?.Arn, id).toBeDefined();
      expect(targets[0].RetryPolicy, id).toEqual({ MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 8 });
      // The normalised release request, as before: the starter names and starts the execution.
      expect(JSON.stringify(targets[0].InputTransformer.InputTemplate), id).toContain('\\"force\\":false');
    }
    const anyToMachine = resourcesOf(template, "AWS::Events::Rule")
      .filter(([id]) => /^(TagPushedRule|EcrPushRule)/.test(id))
      .flatMap(([, r]) => r.Properties.Targets as Json[])
      .some((t) => JSON.stringify(t.Arn).includes(machineId));
    expect(anyToMachine).toBe(false);
  });

  it("may read only the app's release items and start only the release state machine; failed starts go to a queue", () => {
    const fn = resourcesOf(template, "AWS::Lambda::Function").find(([id]) => id === starterFn)?.[1] as Json;
    const roleId = fn.Properties.Role["Fn::GetAtt"][0] as string;
    const statements = statementsOf(roleId);
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Action: "dynamodb:GetItem",
          Condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [`${config.app}#*`] } },
        }),
        expect.objectContaining({ Action: "states:StartExecution", Resource: { Ref: machineId } }),
      ]),
    );
    const invokeConfig = resourcesOf(template, "AWS::Lambda::EventInvokeConfig").find(
      ([, r]) => JSON.stringify(r.Properties.FunctionName) === JSON.stringify({ Ref: starterFn }),
    )?.[1] as Json;
    expect(invokeConfig.Properties.MaximumRetryAttempts).toBe(2);
    expect(invokeConfig.Properties.DestinationConfig.OnFailure.Destination).toEqual(
      getAtt(idOf("AWS::SQS::Queue", "ReleaseStarterFailures")),
    );
  });

  it("report-dev-result may read only the GitHub credentials secret and is the ASL's ReportDevResult", () => {
    const fnId = idOf("AWS::Lambda::Function", "DevDeployReportDevResult");
    const fn = resourcesOf(template, "AWS::Lambda::Function").find(([id]) => id === fnId)?.[1] as Json;
    const statements = statementsOf(fn.Properties.Role["Fn::GetAtt"][0] as string);
    expect(statements.map((s) => s.Action)).toEqual(["secretsmanager:GetSecretValue"]);
    const machine = resourcesOf(template, "AWS::StepFunctions::StateMachine")[0]?.[1] as Json;
    expect(
      JSON.stringify(machine.Properties.DefinitionSubstitutions ?? machine.Properties.DefinitionString),
    ).toContain(fnId);
  });
});
