import { Duration, Validations } from "aws-cdk-lib";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import type * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";
import { deadLetterQueue } from "./dead-letter-queue.js";
import { PouroverFunction, type PouroverSiteProps } from "./pourover-function.js";
import {
  SES_IDENTITY_WILDCARD_FINDING,
  SES_IDENTITY_WILDCARD_REASON,
  sesSendStatement,
} from "./ses-send-permission.js";

/** The execution statuses after which a release can no longer reach RecordOutcome by itself. */
export const ABANDONED_STATUSES = ["ABORTED", "TIMED_OUT", "FAILED"] as const;

export interface AbandonedReleaseFinisherProps extends PouroverSiteProps {
  /** The release state machine whose ended executions are closed. */
  readonly stateMachine: sfn.IStateMachine;
  /** The release ledger: the claim (`app#tag`) and the dev lock (`devlock#app`) live there. */
  readonly ledger: dynamodb.ITable;
}

/**
 * Closes releases whose execution ended without recording its own outcome (stopped, timed out,
 * failed outside a Catch): an EventBridge rule on the default bus (where Step Functions sends its
 * "Step Functions Execution Status Change" events) for this state machine's ABORTED, TIMED_OUT and
 * FAILED executions invokes `functions/finish-abandoned-release`, which gives back the claim and the
 * dev lock if that execution holds them and sends the failure email once.
 */
export class AbandonedReleaseFinisher extends Construct {
  readonly function: PouroverFunction;
  readonly rule: events.Rule;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: AbandonedReleaseFinisherProps) {
    super(scope, id);
    const app = props.config.app;
    this.function = new PouroverFunction(this, "FinishAbandonedRelease", {
      functionDir: "finish-abandoned-release",
      projectRoot: props.projectRoot,
      config: props.config,
      description:
        "Closes a release whose execution was aborted, timed out or failed outside its Catch: frees claim and dev lock, emails once",
      logRetention: props.logRetention,
      environment: { LEDGER_TABLE_NAME: props.ledger.tableName },
    });
    // This app's release items (`<app>#v…`) and its dev lock (`devlock#<app>`), nothing else.
    this.function.allow(["dynamodb:GetItem", "dynamodb:UpdateItem"], [props.ledger.tableArn], {
      "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [`${app}#v*`, `devlock#${app}`] },
    });
    this.function.role.addToPolicy(sesSendStatement(this, props.config.notify));
    Validations.of(this.function.role).acknowledge({
      id: SES_IDENTITY_WILDCARD_FINDING,
      reason: SES_IDENTITY_WILDCARD_REASON,
    });

    this.deadLetterQueue = deadLetterQueue(
      this,
      "Dlq",
      "This queue is itself the dead-letter queue of an EventBridge rule target; status-change events that could not be handled land here for inspection and redrive.",
    );

    // No eventBus: Step Functions sends execution status changes to the account's default bus only.
    this.rule = new events.Rule(this, "Rule", {
      description: `Pourover ${app}: a release execution that was aborted, timed out or failed is closed (claim, dev lock, email)`,
      eventPattern: {
        source: ["aws.states"],
        detailType: ["Step Functions Execution Status Change"],
        detail: {
          status: [...ABANDONED_STATUSES],
          stateMachineArn: [props.stateMachine.stateMachineArn],
        },
      },
    });
    this.rule.addTarget(
      new targets.LambdaFunction(this.function.function, {
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(6),
      }),
    );
  }
}
