import { Duration } from "aws-cdk-lib";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as lambda from "aws-cdk-lib/aws-lambda";
import type * as logs from "aws-cdk-lib/aws-logs";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import type * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";
import { deadLetterQueue } from "./dead-letter-queue.js";
import { keepLogicalId } from "./logical-ids.js";
import type { PouroverFunction } from "./pourover-function.js";
import { DEFAULT_LOG_RETENTION, type PouroverSiteProps } from "./pourover-function.js";
import { pipelineFunction } from "./release-functions.js";
import { ReleaseStarter } from "./release-starter.js";

/** EventBridge source and detail-type of the webhook's events (see functions/receive-github-webhook). */
export const WEBHOOK_EVENT_SOURCE = "pourover.webhook";
export const RELEASE_TAG_PUSHED = "Release Tag Pushed";
/** Retries of both rules' starter target before the event goes to the rule's dead-letter queue. */
const RULE_RETRY = { retryAttempts: 8, maxEventAge: Duration.hours(2) };

export interface ReleaseTriggersProps extends PouroverSiteProps {
  /** The bus the webhook publishes Release Tag Pushed to. */
  readonly bus: events.IEventBus;
  /** The release ledger: webhook dedupe items, and the starter's attempt numbers. */
  readonly ledger: dynamodb.ITable;
  /** The GitHub webhook HMAC secret the webhook verifies each delivery with. */
  readonly webhookSecret: secretsmanager.ISecret;
  /** The release workflow both triggers start. */
  readonly stateMachine: sfn.IStateMachine;
  /**
   * Reserved concurrency of the webhook function (bounds what an unauthenticated caller costs).
   * @default none (the account's unreserved pool)
   */
  readonly webhookReservedConcurrency?: number;
}

/**
 * How a release starts: a GitHub tag push (webhook Function URL, HMAC-verified, published on the bus
 * and matched by TagPushedRule) or a v* image pushed to a watched ECR repository (EcrPushRule). Both
 * rules target the release starter, each with its own dead-letter queue.
 */
export class ReleaseTriggers extends Construct {
  /** receive-github-webhook, behind `webhookUrl`. */
  readonly webhook: PouroverFunction;
  /** The GitHub webhook payload URL. */
  readonly webhookUrl: lambda.FunctionUrl;
  /** The target of both rules; names and starts the executions. */
  readonly starter: ReleaseStarter;
  /** Events the tag rule could not deliver to the starter. */
  readonly tagRuleDeadLetterQueue: sqs.Queue;
  /** Events the ECR rule could not deliver to the starter. */
  readonly ecrRuleDeadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: ReleaseTriggersProps) {
    super(scope, id);
    const { config, ledger } = props;
    const logRetention = props.logRetention ?? DEFAULT_LOG_RETENTION;

    this.webhook = this.newWebhook(props, logRetention);
    // Auth NONE: GitHub cannot sign AWS requests. The handler verifies X-Hub-Signature-256 (HMAC-SHA256,
    // constant time) before parsing anything; optional reserved concurrency bounds the cost of junk traffic.
    this.webhookUrl = this.webhook.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    // The URL is pasted into GitHub: a replaced function or URL config would get a new URL.
    keepLogicalId(this.webhook.function, "ReceiveGithubWebhook/Function/Resource");
    keepLogicalId(this.webhookUrl, "ReceiveGithubWebhook/Function/FunctionUrl/Resource");

    // Both rules start releases through one small Lambda that names the execution
    // <app>-<tag>-<attempt>: EventBridge's Step Functions target cannot name executions.
    this.starter = new ReleaseStarter(this, "ReleaseStarter", {
      projectRoot: props.projectRoot,
      config,
      stateMachine: props.stateMachine,
      ledger,
      logRetention,
    });
    // Queued failed starts and the starter's logs stay across the move into this construct.
    keepLogicalId(this.starter.failures, "ReleaseStarter/Failures/Resource");
    keepLogicalId(this.starter.function.logGroup, "ReleaseStarter/StartRelease/LogGroup/Resource");

    this.tagRuleDeadLetterQueue = this.deadLetterQueue("TagPushedRule");
    this.ecrRuleDeadLetterQueue = this.deadLetterQueue("EcrPushRule");
    this.tagPushedRule(props);
    this.ecrPushRule(props);
  }

  private newWebhook(props: ReleaseTriggersProps, logRetention: logs.RetentionDays): PouroverFunction {
    const { bus, ledger } = props;
    const webhook = pipelineFunction(this, {
      functionDir: "receive-github-webhook",
      projectRoot: props.projectRoot,
      config: props.config,
      logRetention,
      description: "GitHub webhook: HMAC-verified tag pushes become Release Tag Pushed events",
      environment: {
        WEBHOOK_SECRET_ARN: props.webhookSecret.secretArn,
        EVENT_BUS_NAME: bus.eventBusName,
        LEDGER_TABLE_NAME: ledger.tableName,
      },
      timeout: Duration.seconds(10),
      reservedConcurrentExecutions: props.webhookReservedConcurrency,
    });
    webhook.allow(["secretsmanager:GetSecretValue"], [props.webhookSecret.secretArn]);
    webhook.allow(["events:PutEvents"], [bus.eventBusArn]);
    // Its own dedupe items only (delivery ids and body digests), never a release claim or the dev
    // lock: DynamoDB's dynamodb:LeadingKeys condition limits an action to items with those partition
    // key values (fine-grained access control, DynamoDB developer guide).
    webhook.allow(["dynamodb:PutItem", "dynamodb:DeleteItem"], [ledger.tableArn], {
      "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["delivery#*", "delivery-body#*"] },
    });
    return webhook;
  }

  private deadLetterQueue(name: string): sqs.Queue {
    const queue = deadLetterQueue(
      this,
      `${name}Dlq`,
      "This queue is itself the dead-letter queue of an EventBridge rule target; failed release triggers land here for inspection and redrive.",
    );
    // Undelivered trigger events wait here for a redrive: the queue must survive the move.
    keepLogicalId(queue, `${name}Dlq/Resource`);
    return queue;
  }

  private tagPushedRule(props: ReleaseTriggersProps): void {
    const tagRule = new events.Rule(this, "TagPushedRule", {
      eventBus: props.bus,
      description: "A verified GitHub tag push starts a release",
      eventPattern: {
        source: [WEBHOOK_EVENT_SOURCE],
        detailType: [RELEASE_TAG_PUSHED],
        detail: { app: [props.config.app] },
      },
    });
    tagRule.addTarget(
      new targets.LambdaFunction(this.starter.function.function, {
        deadLetterQueue: this.tagRuleDeadLetterQueue,
        ...RULE_RETRY,
        event: events.RuleTargetInput.fromObject({
          app: events.EventField.fromPath("$.detail.app"),
          tag: events.EventField.fromPath("$.detail.tag"),
          trigger: {
            source: "github",
            repository: events.EventField.fromPath("$.detail.repository"),
            commit: events.EventField.fromPath("$.detail.commit"),
            pusher: events.EventField.fromPath("$.detail.pusher"),
            deliveryId: events.EventField.fromPath("$.detail.deliveryId"),
          },
          force: false,
        }),
      }),
    );
  }

  private ecrPushRule(props: ReleaseTriggersProps): void {
    const ecrRule = new events.Rule(this, "EcrPushRule", {
      description: "A v* image pushed to a watched ECR repository starts a release (scan by digest)",
      eventPattern: {
        source: ["aws.ecr"],
        detailType: ["ECR Image Action"],
        detail: {
          "action-type": ["PUSH"],
          result: ["SUCCESS"],
          "repository-name": props.config.services.map((s) => s.repository),
          "image-tag": [{ prefix: "v" }],
        },
      },
    });
    ecrRule.addTarget(
      new targets.LambdaFunction(this.starter.function.function, {
        deadLetterQueue: this.ecrRuleDeadLetterQueue,
        ...RULE_RETRY,
        event: events.RuleTargetInput.fromObject({
          app: props.config.app,
          tag: events.EventField.fromPath("$.detail.image-tag"),
          trigger: {
            source: "ecr",
            repository: events.EventField.fromPath("$.detail.repository-name"),
            digest: events.EventField.fromPath("$.detail.image-digest"),
          },
          force: false,
        }),
      }),
    );
  }
}
