import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type Json, resourcesOf, SYNTH_TIMEOUT_MS, synthPipeline } from "./synth-helper.js";

/**
 * The wake loop in the synthesized stack: no Lambda any more; the state machine calls EC2 and SSM
 * itself (aws-sdk integrations run with its role), so its role may describe instances and agents
 * ('*': no resource-level support) and start only instances carrying every configured dev tag.
 */
describe("the wake loop in the pipeline stack", () => {
  let template: ReturnType<typeof synthPipeline>["template"];
  let outdir: string;
  beforeAll(() => {
    // nag: an unacknowledged cdk-nag finding (e.g. on the role's wildcards) makes synth throw.
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

  it("no wake-dev-host function and no role of its own", () => {
    expect(resourcesOf(template, "AWS::Lambda::Function").filter(([id]) => /wake/i.test(id))).toEqual([]);
    expect(resourcesOf(template, "AWS::IAM::Role").filter(([id]) => /wake/i.test(id))).toEqual([]);
  });

  it("the state machine's role: Describe* on '*', StartInstances only on instances with every dev tag", () => {
    const [roleId] = only(resourcesOf(template, "AWS::IAM::Role"), "ReleaseStateMachine");
    const statements = statementsOf(roleId);
    const describe = statements.filter((s) => asArray(s.Action).includes("ec2:DescribeInstances"));
    expect(describe).toHaveLength(1);
    expect(asArray(describe[0].Action).sort()).toEqual([
      "ec2:DescribeInstances",
      "ssm:DescribeInstanceInformation",
    ]);
    expect(describe[0].Resource).toBe("*");
    const start = statements.filter((s) => asArray(s.Action).includes("ec2:StartInstances"));
    expect(start).toHaveLength(1);
    expect(start[0].Action).toBe("ec2:StartInstances");
    expect(JSON.stringify(start[0].Resource)).toMatch(
      /:ec2:",\{"Ref":"AWS::Region"\},":",\{"Ref":"AWS::AccountId"\},":instance\/\*"/,
    );
    expect(start[0].Condition).toEqual({
      StringEquals: { "aws:ResourceTag/pourover:env": "dev", "aws:ResourceTag/app": "coffeeshop" },
    });
  });

  it("the deployed definition: WakeDevHost → CheckDevHostAgents → DevHostsReady? → DeployDev, integrations only", () => {
    const [, machine] = only(
      resourcesOf(template, "AWS::StepFunctions::StateMachine"),
      "ReleaseStateMachine",
    );
    const key = String(machine.Properties.DefinitionS3Location.Key);
    const asset = join(outdir, `asset.${key}`);
    expect(existsSync(asset), `${asset} in ${readdirSync(outdir).join(", ")}`).toBe(true);
    const states = (JSON.parse(readFileSync(asset, "utf8")) as { States: Record<string, Json> }).States;
    expect(states.AcquireDevLock.Next).toBe("WakeDevHost");
    expect(states.WakeDevHost.Resource).toBe("arn:aws:states:::aws-sdk:ec2:describeInstances");
    expect(states.WakeDevHost.Parameters).toEqual({ "Filters.$": "$.plan.dev.instanceFilters" });
    expect(states.WakeDevHost.Next).toBe("CheckDevHostAgents");
    expect(states.CheckDevHostAgents.Resource).toBe(
      "arn:aws:states:::aws-sdk:ssm:describeInstanceInformation",
    );
    expect(states.CheckDevHostAgents.Next).toBe("DevHostsReady?");
    expect((states["DevHostsReady?"].Choices as Json[]).map((c) => c.Next)).toEqual([
      "Superseded",
      "NoDevInstances",
      "DeployDev",
    ]);
    expect(states.StartDevHosts.Resource).toBe("arn:aws:states:::aws-sdk:ec2:startInstances");
    expect(states.FindStoppedDevHosts.Resource).toBe("arn:aws:states:::aws-sdk:ec2:describeInstances");
    expect(JSON.stringify(states)).not.toContain("WakeDevHostFunction");
    expect(Object.keys(machine.Properties.DefinitionSubstitutions)).not.toContain("WakeDevHostFunctionArn");
  });
});
