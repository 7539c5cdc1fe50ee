import { Aws, Duration, RemovalPolicy } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions";
import type * as codebuild from "aws-cdk-lib/aws-codebuild";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import type * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";
import {
  APP_DIMENSION,
  FAILURE_STAGES,
  METRIC_NAMES,
  METRICS_NAMESPACE,
  STAGE_DIMENSION,
} from "../../shared/observability/metric-names.js";

export interface PipelineObservabilityProps {
  /** `config.app`: the `App` dimension of the custom metrics and the dashboard name suffix. */
  readonly appName: string;
  /** The release state machine (executions started, succeeded, failed, timed out, aborted, time). */
  readonly stateMachine: sfn.IStateMachine;
  /** The function behind the webhook Function URL (its `Url4xxCount` / `Url5xxCount`). */
  readonly webhookFunction: lambda.IFunction;
  /** Dead-letter queues by a short name (used in the alarm id): any visible message alarms. */
  readonly deadLetterQueues: Readonly<Record<string, sqs.IQueue>>;
  /** Lambda functions of the workflow's tasks by state name, graphed as "duration per stage". @default {} */
  readonly taskFunctions?: Readonly<Record<string, lambda.IFunction>>;
  /** CodeBuild projects by a short name, graphed as the build/scan stage duration. @default {} */
  readonly buildProjects?: Readonly<Record<string, codebuild.IProject>>;
  /** Address subscribed to the alarm topic (it must confirm the subscription). @default no subscription */
  readonly alarmEmail?: string;
  /** Namespace of the custom metrics; the functions get the same value. @default "Pourover" */
  readonly metricsNamespace?: string;
  /** Webhook 4xx responses in 5 minutes that count as a spike (bad signatures, probing). @default 20 */
  readonly webhook4xxThreshold?: number;
  /** Scan rejections in 5 minutes that raise the alarm. @default 1 */
  readonly scanRejectionsThreshold?: number;
  /** @default `pourover-<appName>` */
  readonly dashboardName?: string;
  /** Removal policy of the topic's KMS key. @default RemovalPolicy.RETAIN */
  readonly keyRemovalPolicy?: RemovalPolicy;
}

const FIVE_MINUTES = Duration.minutes(5);
const ONE_DAY = Duration.days(1);
const SUM_5 = { period: FIVE_MINUTES, statistic: cloudwatch.Stats.SUM };
const DAILY = { period: ONE_DAY, statistic: cloudwatch.Stats.SUM };

/**
 * Watches the pipeline itself: one encrypted SNS topic that every alarm notifies, alarms for what a
 * person must act on (failed, timed-out or aborted releases, webhook errors, dead letters, lost
 * events found by the reconciler, scan rejections) and a dashboard with releases per day, lead time,
 * failure rate by stage and duration per stage.
 */
export class PipelineObservability extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;
  readonly dashboard: cloudwatch.Dashboard;
  /** Every alarm, by construct id. */
  readonly alarms: Record<string, cloudwatch.Alarm> = {};
  readonly namespace: string;
  private readonly appName: string;
  private readonly notify: actions.SnsAction;

  constructor(scope: Construct, id: string, props: PipelineObservabilityProps) {
    super(scope, id);
    this.namespace = props.metricsNamespace ?? METRICS_NAMESPACE;
    this.appName = props.appName;
    this.key = this.topicKey(props);
    this.topic = this.alarmTopic(props);
    this.notify = new actions.SnsAction(this.topic);
    this.releaseAlarms(props);
    this.webhookAlarms(props);
    this.deadLetterAlarms(props);
    this.customMetricAlarms(props);
    this.dashboard = this.releaseDashboard(props);
  }

  /**
   * A customer managed key: CloudWatch cannot publish to a topic encrypted with the AWS managed
   * alias/aws/sns key, whose policy cannot be changed to admit it.
   */
  private topicKey(props: PipelineObservabilityProps): kms.Key {
    const key = new kms.Key(this, "TopicKey", {
      description: `Pourover ${props.appName}: alarm topic encryption`,
      enableKeyRotation: true,
      removalPolicy: props.keyRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "CloudWatchAlarmsPublishEncrypted",
        principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
        resources: ["*"],
      }),
    );
    return key;
  }

  private alarmTopic(props: PipelineObservabilityProps): sns.Topic {
    const topic = new sns.Topic(this, "AlarmTopic", {
      displayName: `Pourover ${props.appName} alarms`,
      masterKey: this.key,
      enforceSSL: true,
    });
    // The explicit topic policy (SSL only) replaces SNS's default one: admit this account's alarms.
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "CloudWatchAlarmsPublish",
        principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["sns:Publish"],
        resources: [topic.topicArn],
        conditions: {
          StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID },
          ArnLike: {
            "aws:SourceArn": `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*`,
          },
        },
      }),
    );
    if (props.alarmEmail) {
      topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }
    return topic;
  }

  private alarm(
    alarmId: string,
    metric: cloudwatch.IMetric,
    threshold: number,
    description: string,
    comparison = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  ): cloudwatch.Alarm {
    const created = new cloudwatch.Alarm(this, alarmId, {
      metric,
      threshold,
      comparisonOperator: comparison,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      // Every metric here is sparse (no data point when nothing happened): quiet means OK.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `Pourover ${this.appName}: ${description}`,
    });
    created.addAlarmAction(this.notify);
    this.alarms[alarmId] = created;
    return created;
  }

  private releaseAlarms(props: PipelineObservabilityProps): void {
    const machine = props.stateMachine;
    this.alarm(
      "ExecutionsFailedAlarm",
      machine.metricFailed(SUM_5),
      1,
      "a release execution failed (see the email and the execution console link)",
    );
    this.alarm(
      "ExecutionsTimedOutAlarm",
      machine.metricTimedOut(SUM_5),
      1,
      "a release execution hit the workflow timeout; nothing recorded its outcome",
    );
    this.alarm(
      "ExecutionsAbortedAlarm",
      machine.metricAborted(SUM_5),
      1,
      "a release execution was stopped by hand or by a redeploy; check its release in the ledger",
    );
  }

  private webhookAlarms(props: PipelineObservabilityProps): void {
    this.alarm(
      "Webhook4xxSpikeAlarm",
      urlMetric(props.webhookFunction, "Url4xxCount"),
      props.webhook4xxThreshold ?? 20,
      "the webhook Function URL answered many 4xx (bad signatures or probing; check the GitHub webhook secret)",
    );
    this.alarm(
      "Webhook5xxAlarm",
      urlMetric(props.webhookFunction, "Url5xxCount"),
      1,
      "the webhook Function URL answered 5xx (function error, timeout or throttling): GitHub deliveries may be lost",
    );
  }

  private deadLetterAlarms(props: PipelineObservabilityProps): void {
    for (const [name, queue] of Object.entries(props.deadLetterQueues)) {
      this.alarm(
        `${name}DlqAlarm`,
        queue.metricApproximateNumberOfMessagesVisible({
          period: FIVE_MINUTES,
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        0,
        `the ${name} rule could not start a release: inspect and redrive its dead-letter queue`,
        cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      );
    }
  }

  private customMetricAlarms(props: PipelineObservabilityProps): void {
    this.alarm(
      "LostEventsRecoveredAlarm",
      this.custom(METRIC_NAMES.lostEventsRecovered, { period: Duration.hours(1) }),
      1,
      "the reconciler found tag pushes that never started a release and started them (check the rules, DLQs and webhook)",
    );
    this.alarm(
      "ScanRejectionsAlarm",
      this.custom(METRIC_NAMES.scanRejections),
      props.scanRejectionsThreshold ?? 1,
      "a release was blocked by the scan policy (the email lists the CVEs)",
    );
  }

  /** One of the functions' custom metrics, for this app. */
  private custom(metricName: string, options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.namespace,
      metricName,
      dimensionsMap: { [APP_DIMENSION]: this.appName, ...options.dimensionsMap },
      period: options.period ?? FIVE_MINUTES,
      statistic: options.statistic ?? cloudwatch.Stats.SUM,
      label: options.label,
    });
  }

  private releaseDashboard(props: PipelineObservabilityProps): cloudwatch.Dashboard {
    const dashboard = new cloudwatch.Dashboard(this, "Dashboard", {
      dashboardName: props.dashboardName ?? `pourover-${props.appName}`,
      defaultInterval: Duration.days(14),
    });
    const started = props.stateMachine.metricStarted({ ...DAILY, label: "started" });
    dashboard.addWidgets(...this.releaseRateWidgets(props.stateMachine, started));
    dashboard.addWidgets(...this.failureAndDurationWidgets(props.stateMachine, started));
    dashboard.addWidgets(...stageDurationWidgets(props));
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "Webhook Function URL responses (requests / 4xx / 5xx per 5 minutes)",
        left: ["UrlRequestCount", "Url4xxCount", "Url5xxCount"].map((name) =>
          urlMetric(props.webhookFunction, name),
        ),
        width: 12,
      }),
      new cloudwatch.AlarmStatusWidget({
        title: "Pipeline alarms",
        alarms: Object.values(this.alarms),
        width: 12,
      }),
    );
    return dashboard;
  }

  private releaseRateWidgets(machine: sfn.IStateMachine, started: cloudwatch.IMetric): cloudwatch.IWidget[] {
    return [
      new cloudwatch.GraphWidget({
        title: "Releases per day (state machine executions started / succeeded / failed)",
        left: [
          started,
          machine.metricSucceeded({ ...DAILY, label: "succeeded" }),
          machine.metricFailed({ ...DAILY, label: "failed" }),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title:
          "Lead time tag → dev, seconds (ledger claim → RecordOutcome of releases that reached dev; p50 / p90 / max per day)",
        left: [
          this.custom(METRIC_NAMES.leadTimeSeconds, {
            ...DAILY,
            statistic: cloudwatch.Stats.p(50),
            label: "p50",
          }),
          this.custom(METRIC_NAMES.leadTimeSeconds, {
            ...DAILY,
            statistic: cloudwatch.Stats.p(90),
            label: "p90",
          }),
          this.custom(METRIC_NAMES.leadTimeSeconds, {
            ...DAILY,
            statistic: cloudwatch.Stats.MAXIMUM,
            label: "max",
          }),
        ],
        width: 12,
      }),
    ];
  }

  private failureAndDurationWidgets(
    machine: sfn.IStateMachine,
    started: cloudwatch.IMetric,
  ): cloudwatch.IWidget[] {
    const failureRates = FAILURE_STAGES.map(
      (stage, i) =>
        new cloudwatch.MathExpression({
          expression: `IF(started > 0, 100 * f${i} / started, 0)`,
          usingMetrics: {
            started,
            [`f${i}`]: this.custom(METRIC_NAMES.releaseFailed, {
              ...DAILY,
              dimensionsMap: { [STAGE_DIMENSION]: stage },
            }),
          },
          label: stage,
          period: ONE_DAY,
        }),
    );
    return [
      new cloudwatch.GraphWidget({
        title: "Failure rate by stage, % of executions started per day (ReleaseFailed by Stage)",
        left: failureRates,
        stacked: true,
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title:
          "Whole release duration, ms (state machine ExecutionTime p50 / p90; includes builds and waits)",
        left: [
          machine.metricTime({ period: ONE_DAY, statistic: cloudwatch.Stats.p(50), label: "p50" }),
          machine.metricTime({ period: ONE_DAY, statistic: cloudwatch.Stats.p(90), label: "p90" }),
        ],
        width: 12,
      }),
    ];
  }
}

/** A metric of the webhook's Function URL, summed per 5 minutes. */
function urlMetric(webhook: lambda.IFunction, metricName: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: "AWS/Lambda",
    metricName,
    dimensionsMap: { FunctionName: webhook.functionName },
    ...SUM_5,
  });
}

function stageDurationWidgets(props: PipelineObservabilityProps): cloudwatch.IWidget[] {
  const taskFunctions = Object.entries(props.taskFunctions ?? {});
  const buildProjects = Object.entries(props.buildProjects ?? {});
  return [
    new cloudwatch.GraphWidget({
      title: "Build and scan stage duration, seconds (CodeBuild Duration per project, average / max)",
      left: buildProjects.flatMap(([name, project]) => [
        project.metricDuration({
          period: ONE_DAY,
          statistic: cloudwatch.Stats.AVERAGE,
          label: `${name} avg`,
        }),
        project.metricDuration({
          period: ONE_DAY,
          statistic: cloudwatch.Stats.MAXIMUM,
          label: `${name} max`,
        }),
      ]),
      width: 12,
    }),
    new cloudwatch.GraphWidget({
      title:
        "Lambda part of each stage, ms (Duration p90 per task function; excludes CodeBuild, SSM and retries)",
      left: taskFunctions.map(([stage, fn]) =>
        fn.metricDuration({ period: ONE_DAY, statistic: cloudwatch.Stats.p(90), label: stage }),
      ),
      width: 12,
    }),
  ];
}
