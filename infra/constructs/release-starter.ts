import { Duration } from "aws-cdk-lib";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as destinations from "aws-cdk-lib/aws-lambda-destinations";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import type * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";
import { deadLetterQueue } from "./dead-letter-queue.js";
import { PouroverFunction, type PouroverSiteProps } from "./pourover-function.js";

export interface ReleaseStarterProps extends PouroverSiteProps {
  readonly stateMachine: sfn.IStateMachine;
  /** The release ledger: read (GetItem, `app#…` keys only) to pick the attempt number. */
  readonly ledger: dynamodb.ITable;
}

/**
 * The target of the trigger rules. EventBridge's Step Functions target cannot name the executions it
 * starts; `functions/start-release` names each `<app>-<tag>-<attempt>` and calls StartExecution, so
 * a repeated name starts nothing (ExecutionAlreadyExists) and a release the ledger holds starts
 * nothing at all. EventBridge invokes it asynchronously: the rule's dead-letter queue takes events
 * EventBridge could not deliver, Lambda retries a failed invocation (twice) and then sends the event
 * to `failures`. Cost: one small Lambda, one invocation per trigger event, one GetItem and at most
 * one StartExecution; the added latency is the invocation (a cold start of a few hundred ms, tens of
 * ms warm) before the execution starts.
 */
export class ReleaseStarter extends Construct {
  readonly function: PouroverFunction;
  /** Trigger events whose start failed after Lambda's retries. */
  readonly failures: sqs.Queue;

  constructor(scope: Construct, id: string, props: ReleaseStarterProps) {
    super(scope, id);
    this.failures = deadLetterQueue(
      this,
      "Failures",
      "This queue is itself the on-failure destination of the release starter's asynchronous invocations; failed starts land here for inspection and redrive.",
    );
    this.function = new PouroverFunction(this, "StartRelease", {
      functionDir: "start-release",
      projectRoot: props.projectRoot,
      config: props.config,
      description: "Starts a release execution named <app>-<tag>-<attempt> (trigger rules' target)",
      logRetention: props.logRetention,
      environment: {
        LEDGER_TABLE_NAME: props.ledger.tableName,
        STATE_MACHINE_ARN: props.stateMachine.stateMachineArn,
      },
    });
    this.function.allow(["dynamodb:GetItem"], [props.ledger.tableArn], {
      "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [`${props.config.app}#*`] },
    });
    this.function.allow(["states:StartExecution"], [props.stateMachine.stateMachineArn]);
    this.function.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(2),
      onFailure: new destinations.SqsDestination(this.failures),
    });
  }
}
