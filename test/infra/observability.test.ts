import { App, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as sqs from "aws-cdk-lib/aws-sqs";
import * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { beforeAll, describe, expect, it } from "vitest";
import { ALARM_EMAIL_CONTEXT_KEY } from "../../infra/app.js";
import { PipelineObservability } from "../../infra/constructs/pipeline-observability.js";
import * as metric from "../../shared/observability/metric-names.js";
import { type Json, resourcesOf, SYNTH_TIMEOUT_MS, synthPipeline } from "./synth-helper.js";

const EMAIL = "oncall@example.com";
let template: Template;
let app: string;

beforeAll(() => {
  // No bundles needed: alarms and the dashboard only reference the functions.
  const synth = synthPipeline({ bundle: false, context: { [ALARM_EMAIL_CONTEXT_KEY]: EMAIL } });
  template = synth.template;
  app = synth.config.app;
}, SYNTH_TIMEOUT_MS);

const ref = (id: string) => ({ Ref: id });
const only = (type: string, predicate: (r: Json) => boolean = () => true): [string, Json] => {
  const found = resourcesOf(template, type).filter(([, r]) => predicate(r));
  expect(found, type).toHaveLength(1);
  return found[0] as [string, Json];
};
const topicId = () => only("AWS::SNS::Topic")[0];
const idOf = (type: string, prefix: string) => {
  const ids = resourcesOf(template, type)
    .map(([id]) => id)
    .filter((id) => id.startsWith(prefix));
  expect(ids, prefix).toHaveLength(1);
  return ids[0] as string;
};
function byId(prefix: string): Json {
  const id = idOf("AWS::CloudWatch::Alarm", `Observability${prefix}`);
  return template.toJSON().Resources[id].Properties;
}

interface Expected {
  namespace: string;
  metric: string;
  dimensions: Json[];
  statistic: string;
  period: number;
  threshold: number;
  comparison: string;
}

function expectAlarm(prefix: string, e: Expected): void {
  const p = byId(prefix);
  expect(p.Namespace).toBe(e.namespace);
  expect(p.MetricName).toBe(e.metric);
  expect(p.Dimensions).toEqual(e.dimensions);
  expect(p.Statistic).toBe(e.statistic);
  expect(p.Period).toBe(e.period);
  expect(p.Threshold).toBe(e.threshold);
  expect(p.ComparisonOperator).toBe(e.comparison);
  expect(p.EvaluationPeriods).toBe(1);
  expect(p.DatapointsToAlarm).toBe(1);
  expect(p.TreatMissingData).toBe("notBreaching");
  expect(p.AlarmActions).toEqual([ref(topicId())]);
  expect(String(p.AlarmDescription)).toContain(`Pourover ${app}:`);
}

const GE = "GreaterThanOrEqualToThreshold";
const machineDims = () => [
  { Name: "StateMachineArn", Value: ref(idOf("AWS::StepFunctions::StateMachine", "")) },
];
const webhookDims = () => [
  { Name: "FunctionName", Value: ref(idOf("AWS::Lambda::Function", "ReceiveGithubWebhookFunction")) },
];

describe("alarm topic", () => {
  it("is encrypted with a rotated customer managed key CloudWatch may use, SSL only", () => {
    const [, topic] = only("AWS::SNS::Topic");
    const keyId = topic.Properties.KmsMasterKeyId["Fn::GetAtt"][0] as string;
    const key = template.toJSON().Resources[keyId];
    expect(key.Type).toBe("AWS::KMS::Key");
    expect(key.Properties.EnableKeyRotation).toBe(true);
    expect(key.Properties.KeyPolicy.Statement).toContainEqual(
      expect.objectContaining({
        Effect: "Allow",
        Principal: { Service: "cloudwatch.amazonaws.com" },
        Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
      }),
    );
    const [, policy] = only("AWS::SNS::TopicPolicy");
    expect(policy.Properties.Topics).toEqual([ref(topicId())]);
    const statements = policy.Properties.PolicyDocument.Statement as Json[];
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: "Deny",
        Action: "sns:Publish",
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      }),
    );
    const allow = statements.find((s) => s.Sid === "CloudWatchAlarmsPublish");
    expect(allow).toMatchObject({
      Effect: "Allow",
      Principal: { Service: "cloudwatch.amazonaws.com" },
      Action: "sns:Publish",
      Resource: ref(topicId()),
    });
    expect(Object.keys(allow.Condition).sort()).toEqual(["ArnLike", "StringEquals"]);
  });

  it("subscribes the email from the pourover:alarmEmail context value", () => {
    template.resourceCountIs("AWS::SNS::Subscription", 1);
    template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: EMAIL,
      TopicArn: ref(topicId()),
    });
  });

  it("has no subscription when no email is given", () => {
    // The construct alone in a bare stack: a second whole-pipeline synth would add nothing.
    const stack = new Stack(new App(), "Bare");
    new PipelineObservability(stack, "Observability", {
      appName: "demo",
      stateMachine: sfn.StateMachine.fromStateMachineName(stack, "Machine", "release"),
      webhookFunction: lambda.Function.fromFunctionName(stack, "Webhook", "webhook"),
      deadLetterQueues: {
        Rule: sqs.Queue.fromQueueArn(stack, "Dlq", "arn:aws:sqs:us-east-1:123456789012:dlq"),
      },
    });
    const bare = Template.fromStack(stack);
    bare.resourceCountIs("AWS::SNS::Subscription", 0);
    bare.resourceCountIs("AWS::SNS::Topic", 1);
    bare.resourceCountIs("AWS::CloudWatch::Alarm", 8);
  });
});

describe("alarms", () => {
  it("every alarm notifies the topic", () => {
    const alarms = resourcesOf(template, "AWS::CloudWatch::Alarm");
    expect(alarms.map(([id]) => id.replace(/^Observability/, "").replace(/[0-9A-F]{8}$/, "")).sort()).toEqual(
      [
        "AbandonedReleasesDlqAlarm",
        "EcrPushRuleDlqAlarm",
        "ExecutionsAbortedAlarm",
        "ExecutionsFailedAlarm",
        "ExecutionsTimedOutAlarm",
        "LostEventsRecoveredAlarm",
        "ScanRejectionsAlarm",
        "StartReleaseDlqAlarm",
        "TagPushedRuleDlqAlarm",
        "Webhook4xxSpikeAlarm",
        "Webhook5xxAlarm",
      ],
    );
    for (const [, alarm] of alarms) expect(alarm.Properties.AlarmActions).toEqual([ref(topicId())]);
  });

  it("executions failed, timed out and aborted: any one in 5 minutes", () => {
    for (const [prefix, metric] of [
      ["ExecutionsFailedAlarm", "ExecutionsFailed"],
      ["ExecutionsTimedOutAlarm", "ExecutionsTimedOut"],
      ["ExecutionsAbortedAlarm", "ExecutionsAborted"],
    ] as const) {
      expectAlarm(prefix, {
        namespace: "AWS/States",
        metric,
        dimensions: machineDims(),
        statistic: "Sum",
        period: 300,
        threshold: 1,
        comparison: GE,
      });
    }
  });

  it("webhook Function URL: a 4xx spike (20 in 5 minutes) and any 5xx", () => {
    expectAlarm("Webhook4xxSpikeAlarm", {
      namespace: "AWS/Lambda",
      metric: "Url4xxCount",
      dimensions: webhookDims(),
      statistic: "Sum",
      period: 300,
      threshold: 20,
      comparison: GE,
    });
    expectAlarm("Webhook5xxAlarm", {
      namespace: "AWS/Lambda",
      metric: "Url5xxCount",
      dimensions: webhookDims(),
      statistic: "Sum",
      period: 300,
      threshold: 1,
      comparison: GE,
    });
  });

  it("every rule DLQ (tag push, ECR push, abandoned releases): any visible message", () => {
    for (const name of ["TagPushedRule", "EcrPushRule", "AbandonedReleases"]) {
      expectAlarm(`${name}DlqAlarm`, {
        namespace: "AWS/SQS",
        metric: "ApproximateNumberOfMessagesVisible",
        dimensions: [
          {
            Name: "QueueName",
            Value: { "Fn::GetAtt": [idOf("AWS::SQS::Queue", `${name}Dlq`), "QueueName"] },
          },
        ],
        statistic: "Maximum",
        period: 300,
        threshold: 0,
        comparison: "GreaterThanThreshold",
      });
    }
  });

  it("custom metrics: lost events recovered by the reconciler (per hour) and scan rejections", () => {
    const appDims = [{ Name: metric.APP_DIMENSION, Value: app }];
    expectAlarm("LostEventsRecoveredAlarm", {
      namespace: metric.METRICS_NAMESPACE,
      metric: metric.METRIC_NAMES.lostEventsRecovered,
      dimensions: appDims,
      statistic: "Sum",
      period: 3600,
      threshold: 1,
      comparison: GE,
    });
    expectAlarm("ScanRejectionsAlarm", {
      namespace: metric.METRICS_NAMESPACE,
      metric: metric.METRIC_NAMES.scanRejections,
      dimensions: appDims,
      statistic: "Sum",
      period: 300,
      threshold: 1,
      comparison: GE,
    });
    expect(metric.METRICS_NAMESPACE).toBe("Pourover");
    expect(metric.METRIC_NAMES.lostEventsRecovered).toBe("LostEventsRecovered");
  });
});

describe("dashboard", () => {
  /** The dashboard body with CloudFormation intrinsics flattened to their literal parts. */
  function body(): { widgets: Json[] } {
    const [, dash] = only("AWS::CloudWatch::Dashboard");
    expect(dash.Properties.DashboardName).toBe(`pourover-${app}`);
    const parts = dash.Properties.DashboardBody["Fn::Join"][1] as Json[];
    const text = parts.map((p) => (typeof p === "string" ? p : `"<${Object.keys(p)[0]}>"`)).join("");
    return JSON.parse(text.replaceAll('""<', '"<').replaceAll('>""', '>"'));
  }
  const titles = () => body().widgets.map((w) => w.properties.title as string);
  const widget = (start: string) => {
    const found = body().widgets.filter((w) => String(w.properties.title).startsWith(start));
    expect(found, start).toHaveLength(1);
    return found[0].properties;
  };

  it("has the four asked-for views, each titled by what it really measures", () => {
    expect(titles()).toEqual([
      "Releases per day (state machine executions started / succeeded / failed)",
      "Lead time tag → dev, seconds (ledger claim → RecordOutcome of releases that reached dev; p50 / p90 / max per day)",
      "Failure rate by stage, % of executions started per day (ReleaseFailed by Stage)",
      "Whole release duration, ms (state machine ExecutionTime p50 / p90; includes builds and waits)",
      "Build and scan stage duration, seconds (CodeBuild Duration per project, average / max)",
      "Lambda part of each stage, ms (Duration p90 per task function; excludes CodeBuild, SSM and retries)",
      "Webhook Function URL responses (requests / 4xx / 5xx per 5 minutes)",
      "Pipeline alarms",
    ]);
  });

  it("releases per day: ExecutionsStarted / Succeeded / Failed summed per day", () => {
    const w = widget("Releases per day");
    const names = (w.metrics as Json[]).map((m) => m[1]);
    expect(names).toEqual(["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed"]);
    for (const m of w.metrics as Json[]) {
      expect(m[0]).toBe("AWS/States");
      expect(m.at(-1)).toMatchObject({ stat: "Sum", period: 86400 });
    }
  });

  it("lead time: the custom LeadTimeSeconds metric of this app, p50 / p90 / max", () => {
    const w = widget("Lead time tag → dev");
    expect((w.metrics as Json[]).map((m) => [m[0], m[1], m[2], m[3], m.at(-1).stat])).toEqual([
      [metric.METRICS_NAMESPACE, metric.METRIC_NAMES.leadTimeSeconds, metric.APP_DIMENSION, app, "p50"],
      [metric.METRICS_NAMESPACE, metric.METRIC_NAMES.leadTimeSeconds, metric.APP_DIMENSION, app, "p90"],
      [metric.METRICS_NAMESPACE, metric.METRIC_NAMES.leadTimeSeconds, metric.APP_DIMENSION, app, "Maximum"],
    ]);
  });

  it("failure rate by stage: one expression per ASL stage over ExecutionsStarted", () => {
    const metrics = widget("Failure rate by stage").metrics as Json[];
    const expressions = metrics.filter((m) => m.length === 1 && m[0].expression);
    expect(expressions.map((m) => m[0].label)).toEqual([...metric.FAILURE_STAGES]);
    for (const [i] of metric.FAILURE_STAGES.entries()) {
      expect(expressions[i][0].expression).toBe(`IF(started > 0, 100 * f${i} / started, 0)`);
    }
    const failed = metrics.filter((m) => m[1] === metric.METRIC_NAMES.releaseFailed);
    expect(failed.map((m) => m.slice(2, 6))).toEqual(
      metric.FAILURE_STAGES.map((stage) => [metric.APP_DIMENSION, app, metric.STAGE_DIMENSION, stage]),
    );
  });

  it("duration per stage: ExecutionTime, CodeBuild Duration and the task functions' Duration", () => {
    expect(widget("Whole release duration").metrics[0].slice(0, 2)).toEqual(["AWS/States", "ExecutionTime"]);
    const build = widget("Build and scan stage duration").metrics as Json[];
    expect(build.map((m) => [m[0], m[1], m.at(-1).label])).toEqual([
      ["AWS/CodeBuild", "Duration", "BuildScanPush avg"],
      ["AWS/CodeBuild", "Duration", "BuildScanPush max"],
      ["AWS/CodeBuild", "Duration", "ScanImage avg"],
      ["AWS/CodeBuild", "Duration", "ScanImage max"],
    ]);
    const lambdas = widget("Lambda part of each stage").metrics as Json[];
    expect(lambdas.map((m) => m.at(-1).label)).toEqual([
      "ClaimRelease",
      "PlanRelease",
      "EvaluateScan",
      "GateOnScan",
      "UpdateManifests",
      "VerifyDev",
      "NotifySuccess/Failure",
      "RecordOutcome",
    ]);
    for (const m of lambdas) expect(m.slice(0, 2)).toEqual(["AWS/Lambda", "Duration"]);
  });

  it("shows every alarm's status", () => {
    expect(widget("Pipeline alarms").alarms).toHaveLength(11);
  });
});

describe("functions", () => {
  it("publish custom metrics into the Pourover namespace", () => {
    template.allResourcesProperties(
      "AWS::Lambda::Function",
      Match.objectLike({
        Environment: {
          Variables: Match.objectLike({ POWERTOOLS_METRICS_NAMESPACE: metric.METRICS_NAMESPACE }),
        },
      }),
    );
  });
});
