import {
  RELEASE_TAG_PUSHED,
  WEBHOOK_EVENT_SOURCE,
} from "../functions/receive-github-webhook/receive-github-webhook.js";
import type { AppConfig } from "../shared/contracts/app-config.js";
import type { ReleaseRequest } from "../shared/contracts/release.js";
import { type EventPattern, matchesPattern } from "../shared/domain/event-pattern.js";

export interface LocalRule {
  /** The construct id of the rule in PipelineStack. */
  id: "TagPushedRule" | "EcrPushRule";
  pattern: EventPattern;
  /** What the rule's InputTransformer makes of a matching event: the execution input. */
  toRequest(event: EventBridgeEvent): ReleaseRequest;
}

export interface EventBridgeEvent {
  source: string;
  "detail-type": string;
  detail: Record<string, unknown>;
  [key: string]: unknown;
}

/** The two rules of the pipeline, as deployed: same patterns, same input transformation. */
export function pipelineRules(config: AppConfig): LocalRule[] {
  return [
    {
      id: "TagPushedRule",
      pattern: {
        source: [WEBHOOK_EVENT_SOURCE],
        "detail-type": [RELEASE_TAG_PUSHED],
        detail: { app: [config.app] },
      },
      toRequest: (e) => ({
        app: String(e.detail.app),
        tag: String(e.detail.tag),
        trigger: {
          source: "github",
          repository: String(e.detail.repository),
          commit: (e.detail.commit as string | null) ?? null,
          pusher: String(e.detail.pusher),
          deliveryId: String(e.detail.deliveryId),
        },
        force: false,
      }),
    },
    {
      id: "EcrPushRule",
      pattern: {
        source: ["aws.ecr"],
        "detail-type": ["ECR Image Action"],
        detail: {
          "action-type": ["PUSH"],
          result: ["SUCCESS"],
          "repository-name": config.services.map((s) => s.repository),
          "image-tag": [{ prefix: "v" }],
        },
      },
      toRequest: (e) => ({
        app: config.app,
        tag: String(e.detail["image-tag"]),
        trigger: {
          source: "ecr",
          repository: String(e.detail["repository-name"]),
          digest: String(e.detail["image-digest"]),
        },
        force: false,
      }),
    },
  ];
}

/** The release request the first matching rule makes of the event, or null when no rule matches. */
export function routeEvent(
  event: unknown,
  config: AppConfig,
): { rule: LocalRule["id"]; request: ReleaseRequest } | null {
  for (const rule of pipelineRules(config)) {
    if (matchesPattern(event, rule.pattern))
      return { rule: rule.id, request: rule.toRequest(event as EventBridgeEvent) };
  }
  return null;
}
