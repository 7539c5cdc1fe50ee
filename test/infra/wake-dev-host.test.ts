import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type Json, resourcesOf, SYNTH_TIMEOUT_MS, synthPipeline } from "./synth-helper.js";

/**
 * WakeDevHost in the synthesized stack: its function may describe instances and agents (no
 * resource-level support: '*'), and start only instances carrying every configured dev tag; the state
 * machine invokes it from the WakeDevHost state, between the dev lock and DeployDev.
 */
describe("WakeDevHost in the pipeline stack", () => {
  let template: ReturnType<typeof synthPipeline>["template"];
  let outdir: string;
  beforeAll(() => {
    // nag: an unacknowledged cdk-nag finding (e.g. on the new role's wildcards) makes synth throw.
    ({ template, outdir } = synthPipeline({ nag: true, bundle: false }));
  }, SYNTH_TIMEOUT_MS);

  const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);
  const only = (entries: [string, Json][], prefix: string): [string, Json] => {
    const found = entries.filter(([id]) => id.startsWith(prefix));
    expect(found, prefix).toHaveLength(1);
    return found[0] as [string, Json];
  };
  const statementsOf = (roleId: string): Json[] =>
    resourcesOf(template, "AWS::IAM::Policy")
      .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[]);

  it("the function's role: Describe* on '*', StartInstances on instances with every dev tag, nothing else", () => {
    const [roleId] = only(resourcesOf(template, "AWS::IAM::Role"), "WakeDevHostRole");
    // Besides the construct's own log and X-Ray statements.
    const statements = statementsOf(roleId).filter(
      (s) =>
        !asArray(s.Action as string | string[]).every((a) => a.startsWith("xray:") || a.startsWith("logs:")),
    );
    expect(statements).toHaveLength(2);
    const describe = statements.find((s) => asArray(s.Action).includes("ec2:DescribeInstances"));
    expect(asArray(describe.Action).sort()).toEqual([
      "ec2:DescribeInstances",
      "ssm:DescribeInstanceInformation",
    ]);
    expect(describe.Resource).toBe("*");
    expect(describe.Effect).toBe("Allow");
    const start = statements.find((s) => s.Action === "ec2:StartInstances");
    expect(JSON.stringify(start.Resource)).toMatch(
      /:ec2:",\{"Ref":"AWS::Region"\},":",\{"Ref":"AWS::AccountId"\},":instance\/\*"/,
    );
    expect(start.Condition).toEqual({
      StringEquals: { "aws:ResourceTag/pourover:env": "dev", "aws:ResourceTag/app": "coffeeshop" },
    });
  });

  it("the state machine invokes it from WakeDevHost, between DevLockAcquired? and DeployDev", () => {
    const [, machine] = only(
      resourcesOf(template, "AWS::StepFunctions::StateMachine"),
      "ReleaseStateMachine",
    );
    // The definition ships as a file asset; the placeholders are filled by DefinitionSubstitutions.
    const key = String(machine.Properties.DefinitionS3Location.Key);
    const asset = join(outdir, `asset.${key}`);
    expect(existsSync(asset), `${asset} in ${readdirSync(outdir).join(", ")}`).toBe(true);
    const definition = JSON.parse(readFileSync(asset, "utf8")) as { States: Record<string, Json> };
    const wake = definition.States.WakeDevHost;
    expect(definition.States["DevLockAcquired?"].Default).toBe("WakeDevHost");
    expect(wake.Next).toBe("DeployDev");
    expect(wake.Parameters).toEqual({
      "app.$": "$.app",
      "tag.$": "$.tag",
      "targets.$": "$.plan.dev.targets",
    });
    expect(wake.ResultPath).toBe("$.wake");
    expect(wake.Resource).toBe(`\${WakeDevHostFunctionArn}`);
    const token = machine.Properties.DefinitionSubstitutions.WakeDevHostFunctionArn as Json;
    expect(token["Fn::GetAtt"][0]).toMatch(/^WakeDevHost/);
    expect(wake.Retry).toContainEqual({
      ErrorEquals: ["DevHostStartingError"],
      IntervalSeconds: 15,
      MaxAttempts: 24,
      BackoffRate: 1,
      MaxDelaySeconds: 15,
      JitterStrategy: "NONE",
    });
    expect(wake.Catch).toEqual([
      { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "NotifyFailure" },
    ]);

    const [roleId] = only(resourcesOf(template, "AWS::IAM::Role"), "ReleaseStateMachineRole");
    const invoke = statementsOf(roleId).find((s) => asArray(s.Action).includes("lambda:InvokeFunction"));
    expect(JSON.stringify(invoke.Resource)).toContain(`"Fn::GetAtt":["${token["Fn::GetAtt"][0]}","Arn"]`);
  });
});
