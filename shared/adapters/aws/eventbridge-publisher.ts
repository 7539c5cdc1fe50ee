import { type EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import type { EventPublisher } from "../../ports/index.js";

/** PutEvents answered 200 but rejected the entry (FailedEntryCount > 0). Worth a retry. */
export class EventPublishFailedError extends Error {
  override readonly name = "EventPublishFailedError" as const;
  readonly retryable = true;
  constructor(
    message: string,
    readonly errorCode?: string,
  ) {
    super(message);
  }
}

/** Publishes one event per call on a custom EventBridge bus. */
export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  async publish(event: {
    source: string;
    detailType: string;
    detail: Record<string, unknown>;
  }): Promise<void> {
    const out = await this.client.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.eventBusName,
            Source: event.source,
            DetailType: event.detailType,
            Detail: JSON.stringify(event.detail),
          },
        ],
      }),
    );
    // PutEvents is not all-or-nothing: a 200 can still carry failed entries.
    const failed = out.FailedEntryCount ?? 0;
    const entry = out.Entries?.[0];
    if (failed > 0 || entry?.ErrorCode || !entry?.EventId) {
      const code = entry?.ErrorCode ?? "Unknown";
      throw new EventPublishFailedError(
        `EventBridge rejected the ${event.detailType} event on ${this.eventBusName}: ${code}${
          entry?.ErrorMessage ? ` (${entry.ErrorMessage})` : ""
        }`,
        code,
      );
    }
  }
}
