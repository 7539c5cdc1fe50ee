import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import {
  EventBridgePublisher,
  EventPublishFailedError,
} from "../../shared/adapters/aws/eventbridge-publisher.js";

const eventBridge = mockClient(EventBridgeClient);

beforeEach(() => {
  eventBridge.reset();
});

const event = {
  source: "pourover.webhook",
  detailType: "Release Tag Pushed",
  detail: { app: "coffeeshop", tag: "v1.2.3", commit: null },
};

describe("EventBridgePublisher", () => {
  it("puts one entry on the named bus with the detail as JSON", async () => {
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: "e-1" }] });
    await new EventBridgePublisher(new EventBridgeClient({}), "pourover-bus").publish(event);
    const calls = eventBridge.commandCalls(PutEventsCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      Entries: [
        {
          EventBusName: "pourover-bus",
          Source: "pourover.webhook",
          DetailType: "Release Tag Pushed",
          Detail: JSON.stringify(event.detail),
        },
      ],
    });
  });

  it("FailedEntryCount > 0 → EventPublishFailedError with the entry's error code", async () => {
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: "InternalFailure", ErrorMessage: "try again" }],
    });
    const publisher = new EventBridgePublisher(new EventBridgeClient({}), "pourover-bus");
    const error = await publisher.publish(event).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventPublishFailedError);
    expect((error as EventPublishFailedError).name).toBe("EventPublishFailedError");
    expect((error as EventPublishFailedError).errorCode).toBe("InternalFailure");
    expect((error as Error).message).toMatch(/InternalFailure.*try again/);
    expect((error as Error).message).not.toContain("coffeeshop");
  });

  it("an entry without an EventId is a failure too", async () => {
    eventBridge.on(PutEventsCommand).resolves({ Entries: [{}] });
    await expect(
      new EventBridgePublisher(new EventBridgeClient({}), "b").publish(event),
    ).rejects.toBeInstanceOf(EventPublishFailedError);
  });

  it("SDK errors propagate", async () => {
    eventBridge.on(PutEventsCommand).rejects(new Error("AccessDeniedException"));
    await expect(new EventBridgePublisher(new EventBridgeClient({}), "b").publish(event)).rejects.toThrow(
      "AccessDeniedException",
    );
  });
});
