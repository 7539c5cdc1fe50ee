/**
 * The optional Argo CD notifications endpoint (`pourover:prodFeedback`). Bundling is skipped: these
 * assertions read the template, not the Lambda code.
 */
import { App, type CfnElement } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { PipelineStack } from "../../infra/stacks/pipeline-stack.js";
import { loadConfigFile } from "../../shared/config/load-config-file.js";
import { FIXTURE_CONFIG, type Json, resourcesOf, SYNTH_TIMEOUT_MS, synthPipeline } from "./synth-helper.js";

const config = loadConfigFile(FIXTURE_CONFIG);

function stackWith(prodFeedback: boolean | undefined): { stack: PipelineStack; template: Template } {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new PipelineStack(app, "Pipeline", {
    config,
    ...(prodFeedback === undefined ? {} : { prodFeedback }),
  });
  return { stack, template: Template.fromStack(stack) };
}

const isProdFn = (r: Json) => String(r.Properties?.Description ?? "").startsWith("Argo CD notifications");

describe("prod feedback disabled (the default)", () => {
  const { stack, template } = stackWith(undefined);

  it("adds no function, URL, secret or output", () => {
    expect(stack.prodFeedback).toBeUndefined();
    expect(Object.values(template.findResources("AWS::Lambda::Function")).filter(isProdFn)).toEqual([]);
    // Only the GitHub webhook has a Function URL.
    expect(Object.keys(template.findResources("AWS::Lambda::Url"))).toHaveLength(1);
    template.resourcePropertiesCountIs(
      "AWS::SecretsManager::Secret",
      { Name: "coffeeshop/prod/argocd-webhook" },
      0,
    );
    expect(Object.keys(template.findOutputs("ArgoCdNotificationsUrl"))).toEqual([]);
    expect(Object.keys(template.findOutputs("ArgoCdTokenSecretArn"))).toEqual([]);
  });

  it("prodFeedback: false is the same stack as leaving it out", () => {
    expect(stackWith(false).template.toJSON()).toEqual(template.toJSON());
  });
});

describe("prod feedback enabled", () => {
  const { stack, template } = stackWith(true);
  const pf = stack.prodFeedback;
  const fnId = pf ? stack.resolve(stack.getLogicalId(pf.function.function.node.defaultChild as never)) : "";
  const roleId = pf ? stack.resolve(stack.getLogicalId(pf.function.role.node.defaultChild as never)) : "";
  const secretId = pf ? stack.resolve(stack.getLogicalId(pf.tokenSecret.node.defaultChild as never)) : "";

  it("one function, no reserved concurrency by default (new accounts' low quota), its environment, behind a Function URL with auth NONE", () => {
    const fns = Object.entries(template.findResources("AWS::Lambda::Function")).filter(([, r]) =>
      isProdFn(r),
    );
    expect(fns.map(([id]) => id)).toEqual([fnId]);
    const props = fns[0]?.[1].Properties;
    expect(props.ReservedConcurrentExecutions).toBeUndefined();
    expect(Object.keys(props.Environment.Variables)).toEqual(
      expect.arrayContaining(["TOKEN_SECRET_ARN", "LEDGER_TABLE_NAME", "EVENT_BUS_NAME"]),
    );
    template.hasResourceProperties("AWS::Lambda::Url", {
      AuthType: "NONE",
      TargetFunctionArn: { "Fn::GetAtt": [fnId, "Arn"] },
    });
    expect(Object.keys(template.findResources("AWS::Lambda::Url"))).toHaveLength(2);
  });

  it("a generated JSON token secret, named where the Argo CD side's ExternalSecret looks", () => {
    template.hasResourceProperties("AWS::SecretsManager::Secret", {
      Name: "coffeeshop/prod/argocd-webhook",
      GenerateSecretString: Match.objectLike({
        SecretStringTemplate: "{}",
        GenerateStringKey: "token",
        ExcludePunctuation: true,
      }),
    });
    template.hasResource("AWS::SecretsManager::Secret", {
      Properties: Match.objectLike({ Name: "coffeeshop/prod/argocd-webhook" }),
      DeletionPolicy: "Retain",
    });
  });

  it("grants exactly what the handler needs, each scoped to an ARN", () => {
    const policies = Object.values(template.findResources("AWS::IAM::Policy")).filter((p: Json) =>
      (p.Properties.Roles as Json[]).some((r) => r.Ref === roleId),
    );
    const statements = policies.flatMap((p: Json) => p.Properties.PolicyDocument.Statement as Json[]);
    const byAction = (action: string) =>
      statements.filter((s) => ([] as string[]).concat(s.Action).includes(action));
    // The element's logicalId honours overrideLogicalId (the ledger and bus keep their ids); getLogicalId does not.
    const ledgerId = stack.resolve((stack.ledger.node.defaultChild as CfnElement).logicalId);
    const busId = stack.resolve((stack.bus.node.defaultChild as CfnElement).logicalId);

    expect(byAction("dynamodb:UpdateItem")).toEqual([
      {
        Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
        Effect: "Allow",
        Resource: { "Fn::GetAtt": [ledgerId, "Arn"] },
        Condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["coffeeshop#v*"] } },
      },
    ]);
    expect(byAction("events:PutEvents")).toEqual([
      { Action: "events:PutEvents", Effect: "Allow", Resource: { "Fn::GetAtt": [busId, "Arn"] } },
    ]);
    // The bearer token, and the pipeline's GitHub credentials (the release PR's prod comment).
    const githubSecretId = resourcesOf(template, "AWS::SecretsManager::Secret").find(([id]) =>
      id.startsWith("GithubCredentials"),
    )?.[0];
    expect(byAction("secretsmanager:GetSecretValue")).toEqual([
      { Action: "secretsmanager:GetSecretValue", Effect: "Allow", Resource: { Ref: secretId } },
      { Action: "secretsmanager:GetSecretValue", Effect: "Allow", Resource: { Ref: githubSecretId } },
    ]);
    const ses = byAction("ses:SendEmail");
    expect(ses).toHaveLength(1);
    // Any identity SES checks (From address, its domain, sandbox recipients), pinned by conditions.
    expect(JSON.stringify(ses[0]?.Resource)).toContain(":identity/*");
    expect(ses[0]?.Condition).toEqual({
      StringEquals: { "ses:FromAddress": "releases@example.com" },
      "ForAllValues:StringEquals": { "ses:Recipients": ["team@example.com"] },
    });
    // The only wildcard is X-Ray's (no resource-level permissions), acknowledged in PouroverFunction.
    const wildcards = statements.filter((s) => s.Resource === "*");
    expect(wildcards.flatMap((s) => [].concat(s.Action)).sort()).toEqual([
      "xray:PutTelemetryRecords",
      "xray:PutTraceSegments",
    ]);
    expect(statements.flatMap((s) => [].concat(s.Action))).not.toContain("dynamodb:PutItem");
  });

  it("outputs the URL and the token secret ARN under stable names", () => {
    template.hasOutput("ArgoCdNotificationsUrl", {
      Value: { "Fn::GetAtt": [Match.anyValue(), "FunctionUrl"] },
    });
    template.hasOutput("ArgoCdTokenSecretArn", { Value: { Ref: secretId } });
  });

  it("rejects a reserved concurrency below 1", async () => {
    const { ProdFeedback } = await import("../../infra/constructs/prod-feedback.js");
    const { stack: other } = stackWith(false);
    expect(
      () =>
        new ProdFeedback(other, "Bad", {
          projectRoot: process.cwd(),
          config,
          ledger: other.ledger,
          bus: other.bus,
          reservedConcurrency: 0,
        }),
    ).toThrow(/reservedConcurrency must be a positive integer/);
  });
});

describe("context pourover:prodFeedback (infra/app.ts) and cdk-nag", () => {
  it(
    'true or "true" enables it; the app stays cdk-nag clean with reasoned acknowledgements',
    () => {
      const { app, stack } = synthPipeline({
        nag: true,
        bundle: false,
        context: { "pourover:prodFeedback": "true" },
      });
      expect(stack.prodFeedback).toBeDefined();
      const report = new AwsSolutionsChecks().validateScope(app);
      expect(
        report.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath)}`),
      ).toEqual([]);
    },
    SYNTH_TIMEOUT_MS,
  );

  it('"false" or absent leaves it out; anything else fails with the key named', () => {
    expect(
      synthPipeline({ bundle: false, context: { "pourover:prodFeedback": "false" } }).stack.prodFeedback,
    ).toBeUndefined();
    expect(() => synthPipeline({ bundle: false, context: { "pourover:prodFeedback": "yes" } })).toThrow(
      /pourover:prodFeedback" must be true or false/,
    );
  });
});
