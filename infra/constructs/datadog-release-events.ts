/**
 * Release outcomes to Datadog as DORA deployments, with no Lambda: a rule on the pipeline bus
 * (`Release Succeeded` / `Release Failed`) → an EventBridge API destination
 * `POST https://api.<site>/api/v2/dora/deployment`, whose connection sends the `DD-API-KEY`
 * header from an existing Secrets Manager secret. Optional: context `pourover:datadogReleaseEvents`.
 */
import {
  Duration,
  aws_events as events,
  SecretValue,
  type aws_sqs as sqs,
  aws_events_targets as targets,
} from "aws-cdk-lib";
import { Construct } from "constructs";
import * as z from "zod";
import { zodProblems } from "../../shared/contracts/zod-problems.js";
import { InvalidInputError } from "../../shared/domain/errors.js";
import { deadLetterQueue } from "./dead-letter-queue.js";
import { DATADOG_SITES } from "./platform/platform-config.js";

export const DATADOG_RELEASE_EVENTS_CONTEXT_KEY = "pourover:datadogReleaseEvents";
/** The source and detail types record-outcome publishes on the pipeline bus. */
export const RELEASE_OUTCOME_SOURCE = "pourover.pipeline";
export const RELEASE_OUTCOME_DETAIL_TYPES = ["Release Succeeded", "Release Failed"];

const OptionsSchema = z.strictObject({
  site: z.enum(DATADOG_SITES).default("datadoghq.com"),
  /** An existing secret whose SecretString is the Datadog API key (plain text), read at deploy. */
  apiKeySecretName: z
    .string()
    .regex(/^[\w/+=.@-]{1,512}$/, "must be a Secrets Manager secret name")
    .default("pourover/datadog-api-key"),
  /** DORA `env`: the pipeline's success means the release is on dev. */
  env: z
    .string()
    .regex(/^[a-z0-9_.:/-]{1,100}$/, "must be a Datadog env name")
    .default("dev"),
  /** DORA `service`. @default the app name */
  service: z
    .string()
    .regex(/^[a-z0-9_.:/-]{1,100}$/, "must be a Datadog service name")
    .optional(),
});
export type DatadogReleaseEventsOptions = z.infer<typeof OptionsSchema>;

/**
 * Reads the context value: `true` (all defaults), an object, or a JSON string as `-c key={...}`
 * gives. Undefined (off) when unset or false.
 */
export function datadogReleaseEventsFromContext(value: unknown): DatadogReleaseEventsOptions | undefined {
  if (value === undefined || value === null || value === false || value === "false" || value === "")
    return undefined;
  let raw: unknown = value;
  if (value === true || value === "true") raw = {};
  else if (typeof value === "string") {
    try {
      raw = JSON.parse(value);
    } catch {
      throw new InvalidInputError(`context "${DATADOG_RELEASE_EVENTS_CONTEXT_KEY}": not valid JSON`);
    }
  }
  const result = OptionsSchema.safeParse(raw);
  if (!result.success) {
    const problems = zodProblems(result.error).map((p) => `${DATADOG_RELEASE_EVENTS_CONTEXT_KEY}: ${p}`);
    throw new InvalidInputError(problems.join("\n"), problems);
  }
  return result.data;
}

export interface DatadogReleaseEventsProps extends DatadogReleaseEventsOptions {
  readonly bus: events.IEventBus;
  readonly app: string;
}

export class DatadogReleaseEvents extends Construct {
  readonly connection: events.Connection;
  readonly destination: events.ApiDestination;
  readonly rule: events.Rule;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: DatadogReleaseEventsProps) {
    super(scope, id);
    // The template holds only a dynamic reference to the existing secret; CloudFormation resolves
    // it at deploy and EventBridge keeps the key in the connection's own Secrets Manager secret.
    this.connection = new events.Connection(this, "Connection", {
      description: "Datadog API key (DD-API-KEY header) for DORA deployment events",
      authorization: events.Authorization.apiKey(
        "DD-API-KEY",
        SecretValue.secretsManager(props.apiKeySecretName),
      ),
    });
    this.destination = new events.ApiDestination(this, "Destination", {
      description: "Datadog DORA Metrics: send a deployment event",
      connection: this.connection,
      endpoint: `https://api.${props.site}/api/v2/dora/deployment`,
      httpMethod: events.HttpMethod.POST,
      rateLimitPerSecond: 5,
    });
    this.deadLetterQueue = deadLetterQueue(
      this,
      "Dlq",
      "This queue is itself the dead-letter queue of the Datadog deployment-event target; undelivered events wait here for inspection and redrive.",
    );
    this.rule = new events.Rule(this, "Rule", {
      eventBus: props.bus,
      description: "Release outcomes to Datadog DORA deployments",
      eventPattern: {
        source: [RELEASE_OUTCOME_SOURCE],
        detailType: RELEASE_OUTCOME_DETAIL_TYPES,
        detail: { app: [props.app] },
      },
    });
    this.rule.addTarget(
      new targets.ApiDestination(this.destination, {
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(2),
        event: events.RuleTargetInput.fromObject(doraDeploymentBody(props)),
      }),
    );
  }
}

/**
 * The DORA deployment body (Datadog API reference, "Send a deployment event"): `service`,
 * `started_at` and `finished_at` are required; the timestamps are Unix time in nanoseconds,
 * milliseconds or seconds: record-outcome publishes milliseconds, exact in a JSON number.
 */
export function doraDeploymentBody(props: { app: string; env: string; service?: string }) {
  return {
    data: {
      attributes: {
        service: props.service ?? props.app,
        env: props.env,
        version: events.EventField.fromPath("$.detail.tag"),
        started_at: events.EventField.fromPath("$.detail.startedAtEpochMs"),
        finished_at: events.EventField.fromPath("$.detail.finishedAtEpochMs"),
        custom_tags: [
          `pourover_outcome:${events.EventField.fromPath("$.detail.outcome")}`,
          `pourover_app:${events.EventField.fromPath("$.detail.app")}`,
        ],
      },
    },
  };
}
