import { describe, expect, it } from "vitest";
import { routeEvent } from "../../local/event-rules.js";
import { matchesPattern } from "../../shared/domain/event-pattern.js";
import { exampleConfig } from "../helpers/local.js";

const ecrPush = (detail: Record<string, unknown>) => ({
  version: "0",
  id: "e1",
  source: "aws.ecr",
  "detail-type": "ECR Image Action",
  account: "123456789012",
  region: "us-east-1",
  time: "2026-11-26T10:00:00Z",
  resources: [],
  detail: {
    result: "SUCCESS",
    "repository-name": "go-coffeeshop-web",
    "image-digest": `sha256:${"e".repeat(64)}`,
    "action-type": "PUSH",
    "image-tag": "v1.2.3",
    ...detail,
  },
});

describe("EventBridge pattern semantics", () => {
  it.each([
    [{ a: ["x"] }, { a: "x" }, true],
    [{ a: ["x"] }, { a: "y" }, false],
    [{ a: ["x"] }, { a: ["y", "x"] }, true],
    [{ a: [{ prefix: "v" }] }, { a: "v1" }, true],
    [{ a: [{ prefix: "v" }] }, { a: "latest" }, false],
    [{ a: [{ prefix: "v" }] }, {}, false],
    [{ a: [{ exists: true }] }, { a: "x" }, true],
    [{ a: [{ exists: false }] }, {}, true],
    [{ a: [{ exists: false }] }, { a: "x" }, false],
    [{ a: [{ "anything-but": "x" }] }, { a: "y" }, true],
    [{ a: [{ "anything-but": ["x", "y"] }] }, { a: "y" }, false],
    [{ a: [{ "anything-but": { prefix: "tmp-" } }] }, { a: "tmp-1" }, false],
    [{ a: [1] }, { a: 1 }, true],
    [{ a: [null] }, { a: null }, true],
    [{ d: { b: ["x"] } }, { d: { b: "x" } }, true],
    [{ d: { b: ["x"] } }, { d: "x" }, false],
  ])("%j on %j → %s", (pattern, event, expected) => {
    expect(matchesPattern(event, pattern)).toBe(expected);
  });
});

describe("local routing through the pipeline's rules", () => {
  const config = exampleConfig();

  it("an ECR push of a v tag to a service repository becomes an ECR release request", () => {
    expect(routeEvent(ecrPush({}), config)).toEqual({
      rule: "EcrPushRule",
      request: {
        app: "coffeeshop",
        tag: "v1.2.3",
        trigger: { source: "ecr", repository: "go-coffeeshop-web", digest: `sha256:${"e".repeat(64)}` },
        force: false,
      },
    });
  });

  it.each([
    ["a non-v tag", { "image-tag": "latest" }],
    ["another repository", { "repository-name": "nginx" }],
    ["a failed push", { result: "FAILURE" }],
    ["a delete", { "action-type": "DELETE" }],
  ])("ignores %s", (_, detail) => {
    expect(routeEvent(ecrPush(detail), config)).toBeNull();
  });

  it("a Release Tag Pushed event becomes a github release request", () => {
    const routed = routeEvent(
      {
        source: "pourover.webhook",
        "detail-type": "Release Tag Pushed",
        detail: {
          app: "coffeeshop",
          repository: "thangchung/go-coffeeshop",
          tag: "v2.0.0",
          commit: null,
          pusher: "ann",
          deliveryId: "d-1",
        },
      },
      config,
    );
    expect(routed?.rule).toBe("TagPushedRule");
    expect(routed?.request.trigger).toEqual({
      source: "github",
      repository: "thangchung/go-coffeeshop",
      commit: null,
      pusher: "ann",
      deliveryId: "d-1",
    });
  });
});
