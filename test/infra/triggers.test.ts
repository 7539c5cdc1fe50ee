import { App, Duration } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { PipelineStack, PROJECT_ROOT } from "../../infra/stacks/pipeline-stack.js";
import { loadConfigFile } from "../../shared/config/load-config-file.js";
import { FIXTURE_CONFIG, type Json, resourcesOf } from "./synth-helper.js";

/**
 * The front door's template: webhook grants, the reconciler's schedule and grants. Rule patterns,
 * DLQs, retry policies, the Function URL and reserved concurrency are asserted in
 * pipeline-stack.test.ts. Bundling is skipped: nothing here reads a Lambda bundle.
 */
const config = loadConfigFile(FIXTURE_CONFIG);
const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
const template = Template.fromStack(new PipelineStack(app, "Triggers", { config }));
const resources = template.toJSON().Resources as Record<string, Json>;

function only(type: string, predicate: (id: string, r: Json) => boolean = () => true): [string, Json] {
  const found = resourcesOf(template, type).filter(([id, r]) => predicate(id, r));
  expect(found, type).toHaveLength(1);
  return found[0] as [string, Json];
}

const getAtt = (id: string, attr = "Arn") => ({ "Fn::GetAtt": [id, attr] });
const ref = (id: string) => ({ Ref: id });
const ledgerId = only("AWS::DynamoDB::Table")[0];
const busId = only("AWS::Events::EventBus")[0];
const machineId = only("AWS::StepFunctions::StateMachine")[0];
const webhookSecretId = only("AWS::SecretsManager::Secret", (_, r) => r.Properties.GenerateSecretString)[0];
const repositoryArns = resourcesOf(template, "AWS::ECR::Repository").map(([id]) => getAtt(id));

/** The statements of a role's policies, minus the log-group and X-Ray ones every function has. */
function grantsOf(rolePrefix: string): Json[] {
  const [roleId] = only("AWS::IAM::Role", (id) => id.startsWith(rolePrefix));
  return resourcesOf(template, "AWS::IAM::Policy")
    .filter(([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([ref(roleId)]))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[])
    .filter((s) => {
      const actions = [s.Action].flat() as string[];
      return !actions.every((a) => a.startsWith("xray:") || a.startsWith("logs:"));
    });
}

function functionWithRole(rolePrefix: string): [string, Json] {
  const [roleId] = only("AWS::IAM::Role", (id) => id.startsWith(rolePrefix));
  return only(
    "AWS::Lambda::Function",
    (_, r) => JSON.stringify(r.Properties.Role) === JSON.stringify(getAtt(roleId)),
  );
}

describe("webhook function: least privilege", () => {
  it("may read only the webhook secret, put events only on the pipeline bus, and write only the ledger", () => {
    const grants = grantsOf("TriggersReceiveGithubWebhookRole");
    expect(grants).toHaveLength(3);
    expect(grants).toEqual(
      expect.arrayContaining([
        { Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: ref(webhookSecretId) },
        { Effect: "Allow", Action: "events:PutEvents", Resource: getAtt(busId) },
        {
          Effect: "Allow",
          Action: ["dynamodb:PutItem", "dynamodb:DeleteItem"],
          Resource: getAtt(ledgerId),
          // Only its dedupe items (delivery ids, body digests): never a release claim or the dev lock.
          Condition: {
            "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["delivery#*", "delivery-body#*"] },
          },
        },
      ]),
    );
  });

  it("answers within GitHub's 10-second delivery limit", () => {
    const [, fn] = functionWithRole("TriggersReceiveGithubWebhookRole");
    expect(fn.Properties.Timeout).toBeLessThanOrEqual(10);
  });

  it("is the only function with a URL; ClaimRelease only puts to the ledger", () => {
    expect(resourcesOf(template, "AWS::Lambda::Url")).toHaveLength(1);
    expect(grantsOf("ReleaseFunctionsClaimReleaseRole")).toEqual([
      { Effect: "Allow", Action: "dynamodb:PutItem", Resource: getAtt(ledgerId) },
    ]);
  });
});

describe("release reconciler (lost events)", () => {
  const [fnId, fn] = functionWithRole("ReleaseReconcilerReconcileReleasesRole");

  it("runs every 15 minutes through EventBridge Scheduler, invoking the reconciler with bounded retries", () => {
    const [, schedule] = only("AWS::Scheduler::Schedule", (_, r) =>
      JSON.stringify(r.Properties.Target).includes("ReconcileReleases"),
    );
    expect(schedule.Properties.ScheduleExpression).toBe("rate(15 minutes)");
    expect(schedule.Properties.State).toBe("ENABLED");
    expect(schedule.Properties.FlexibleTimeWindow).toEqual({ Mode: "OFF" });
    expect(schedule.Properties.Target.Arn).toEqual(getAtt(fnId));
    expect(schedule.Properties.Target.RetryPolicy).toEqual({
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 900,
    });
  });

  it("gives the scheduler a role that can invoke the reconciler and nothing else", () => {
    const [, schedule] = only("AWS::Scheduler::Schedule", (_, r) =>
      JSON.stringify(r.Properties.Target).includes("ReconcileReleases"),
    );
    const roleId = schedule.Properties.Target.RoleArn["Fn::GetAtt"][0] as string;
    const role = resources[roleId];
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: "Allow",
        Action: "sts:AssumeRole",
        Principal: { Service: "scheduler.amazonaws.com" },
        Condition: { StringEquals: { "aws:SourceAccount": ref("AWS::AccountId") } },
      },
    ]);
    expect(grantsOf(roleId)).toEqual([
      { Effect: "Allow", Action: "lambda:InvokeFunction", Resource: getAtt(fnId) },
    ]);
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it("may only describe the app's ECR images, read the ledger and start the release state machine", () => {
    const grants = grantsOf("ReleaseReconcilerReconcileReleasesRole");
    expect(grants).toHaveLength(3);
    expect(grants).toEqual(
      expect.arrayContaining([
        { Effect: "Allow", Action: "ecr:DescribeImages", Resource: repositoryArns },
        { Effect: "Allow", Action: "dynamodb:GetItem", Resource: getAtt(ledgerId) },
        { Effect: "Allow", Action: "states:StartExecution", Resource: ref(machineId) },
      ]),
    );
    expect(repositoryArns).toHaveLength(config.services.length);
  });

  it("gets the state machine, the ledger and its documented defaults through its environment", () => {
    const vars = fn.Properties.Environment.Variables as Record<string, Json>;
    expect(vars).toMatchObject({
      STATE_MACHINE_ARN: ref(machineId),
      LEDGER_TABLE_NAME: ref(ledgerId),
      LOOKBACK_HOURS: "24",
      SETTLE_MINUTES: "10",
      MAX_STARTS: "10",
    });
    // The config is compiled into the bundle, never an environment variable.
    expect(vars.POUROVER_CONFIG).toBeUndefined();
    expect(fn.Properties.Runtime).toBe("nodejs24.x");
  });

  it("refuses a look-back window that a lost tag could slip through", async () => {
    const { ReleaseReconciler } = await import("../../infra/constructs/release-reconciler.js");
    const stack = new PipelineStack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Window", {
      config,
    });
    const props = {
      projectRoot: PROJECT_ROOT,
      config,
      stateMachine: stack.stateMachine.stateMachine,
      ledger: stack.ledger,
      repositories: stack.repositories,
    };
    expect(
      () =>
        new ReleaseReconciler(stack, "TooShort", {
          ...props,
          interval: Duration.minutes(55),
          lookbackHours: 1,
        }),
    ).toThrow(/lookbackHours \(1 h\) must exceed interval \+ settleMinutes \(65 min\)/);
    expect(() => new ReleaseReconciler(stack, "Zero", { ...props, maxStartsPerRun: 0 })).toThrow(
      /maxStarts must be a positive integer/,
    );
    new ReleaseReconciler(stack, "Custom", { ...props, interval: Duration.hours(1) });
    const schedules = Template.fromStack(stack).findResources("AWS::Scheduler::Schedule");
    expect(Object.values(schedules).map((s: Json) => s.Properties.ScheduleExpression)).toContain(
      "rate(1 hour)",
    );
  });
});
