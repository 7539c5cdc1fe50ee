import { Duration, Stack } from "aws-cdk-lib";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import type * as ecr from "aws-cdk-lib/aws-ecr";
import * as iam from "aws-cdk-lib/aws-iam";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import type * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";
import { PouroverFunction, type PouroverSiteProps } from "./pourover-function.js";

export interface ReleaseReconcilerProps extends PouroverSiteProps {
  /** The release state machine the reconciler starts executions on. */
  readonly stateMachine: sfn.IStateMachine;
  /** The release ledger (`app#tag`), read to skip claimed tags. */
  readonly ledger: dynamodb.ITable;
  /** The app's ECR repositories, listed for recent `v` images. */
  readonly repositories: ecr.IRepository[];
  /** How often the reconciler runs. @default Duration.minutes(15) */
  readonly interval?: Duration;
  /** Images pushed within this many hours are looked at; must exceed interval + settle time. @default 24 */
  readonly lookbackHours?: number;
  /** Minutes a tag's first image is left to its own ECR event before it counts as lost. @default 10 */
  readonly settleMinutes?: number;
  /** Releases started per run at most; the rest wait for the next run. @default 10 */
  readonly maxStartsPerRun?: number;
}

/**
 * The safety net for lost trigger events (GitHub drops tag pushes, ECR events are best effort): an
 * EventBridge Scheduler schedule runs `functions/reconcile-releases`, which starts a release for each
 * recent `v` image tag the ledger has never claimed, with a deterministic execution name.
 */
export class ReleaseReconciler extends Construct {
  readonly function: PouroverFunction;
  readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: ReleaseReconcilerProps) {
    super(scope, id);
    const interval = props.interval ?? Duration.minutes(15);
    const lookbackHours = props.lookbackHours ?? 24;
    const settleMinutes = props.settleMinutes ?? 10;
    const maxStarts = props.maxStartsPerRun ?? 10;
    for (const [name, value] of Object.entries({ lookbackHours, settleMinutes, maxStarts })) {
      if (!Number.isInteger(value) || value < 1)
        throw new Error(`ReleaseReconciler: ${name} must be a positive integer`);
    }
    // A window shorter than a run interval plus the settle time would let a lost tag slip between runs.
    if (lookbackHours * 60 <= interval.toMinutes() + settleMinutes) {
      throw new Error(
        `ReleaseReconciler: lookbackHours (${lookbackHours} h) must exceed interval + settleMinutes (${interval.toMinutes() + settleMinutes} min)`,
      );
    }

    this.function = new PouroverFunction(this, "ReconcileReleases", {
      functionDir: "reconcile-releases",
      projectRoot: props.projectRoot,
      config: props.config,
      description: "Starts a release for every recent v* image tag the ledger never claimed (lost events)",
      logRetention: props.logRetention,
      timeout: Duration.minutes(2),
      environment: {
        LEDGER_TABLE_NAME: props.ledger.tableName,
        STATE_MACHINE_ARN: props.stateMachine.stateMachineArn,
        LOOKBACK_HOURS: String(lookbackHours),
        SETTLE_MINUTES: String(settleMinutes),
        MAX_STARTS: String(maxStarts),
      },
    });
    this.function.allow(
      ["ecr:DescribeImages"],
      props.repositories.map((r) => r.repositoryArn),
    );
    this.function.allow(["dynamodb:GetItem"], [props.ledger.tableArn]);
    this.function.allow(["states:StartExecution"], [props.stateMachine.stateMachineArn]);

    // The scheduler's own role may invoke this one function, by its unqualified ARN (what the
    // schedule calls). The stock LambdaInvoke target would also grant `<arn>:*` (every version).
    const invokeRole = new iam.Role(this, "SchedulerRole", {
      assumedBy: new iam.ServicePrincipal("scheduler.amazonaws.com", {
        conditions: { StringEquals: { "aws:SourceAccount": Stack.of(this).account } },
      }),
      description: `Pourover ${props.config.app}: EventBridge Scheduler invokes the release reconciler`,
    });
    invokeRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ["lambda:InvokeFunction"],
        resources: [this.function.function.functionArn],
      }),
    );
    const target: scheduler.IScheduleTarget = {
      bind: () => ({
        arn: this.function.function.functionArn,
        role: invokeRole,
        // A missed run is repaired by the next one: retry briefly, never let runs pile up.
        retryPolicy: {
          maximumRetryAttempts: 2,
          maximumEventAgeInSeconds: Math.max(60, Math.min(interval.toSeconds(), 86_400)),
        },
      }),
    };
    this.schedule = new scheduler.Schedule(this, "Schedule", {
      description: `Pourover ${props.config.app}: start releases whose trigger event was lost`,
      schedule: scheduler.ScheduleExpression.rate(interval),
      target,
    });
  }
}
