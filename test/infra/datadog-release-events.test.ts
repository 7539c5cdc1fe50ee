import { beforeAll, describe, expect, it } from "vitest";
import { recordOutcome } from "../../functions/record-outcome/record-outcome.js";
import {
  DATADOG_RELEASE_EVENTS_CONTEXT_KEY,
  datadogReleaseEventsFromContext,
} from "../../infra/constructs/datadog-release-events.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import { InvalidInputError } from "../../shared/domain/errors.js";
import type { ReleaseLedger } from "../../shared/ports/index.js";
import { type Json, resourcesOf, SYNTH_TIMEOUT_MS, synthPipeline } from "./synth-helper.js";

const CONTEXT = {
  [DATADOG_RELEASE_EVENTS_CONTEXT_KEY]: '{"site":"datadoghq.eu","apiKeySecretName":"ops/datadog"}',
};

let on: ReturnType<typeof synthPipeline>;
let off: ReturnType<typeof synthPipeline>;
let nagError: unknown;
beforeAll(() => {
  on = synthPipeline({ bundle: false, context: CONTEXT });
  off = synthPipeline({ bundle: false });
  try {
    // As `cdk synth` runs it: AwsSolutionsChecks registered, any unacknowledged finding throws.
    synthPipeline({ bundle: false, nag: true, context: CONTEXT });
  } catch (error) {
    nagError = error;
  }
}, SYNTH_TIMEOUT_MS);

function datadogRule(t: typeof on.template): Json {
  const rules = resourcesOf(t, "AWS::Events::Rule").filter(([, r]) =>
    (r.Properties.Targets ?? []).some((x: Json) => JSON.stringify(x.Arn).includes("ApiDestination")),
  );
  expect(rules).toHaveLength(1);
  return rules[0]?.[1];
}

/**
 * EventBridge's input transformation as documented: each `<name>` is replaced by the value at its
 * InputPathsMap path; outside quotes the value goes in as JSON (strings quoted), inside a quoted
 * string the raw text goes in.
 */
function transform(
  transformer: { InputPathsMap: Record<string, string>; InputTemplate: string },
  event: Json,
) {
  const valueAt = (path: string) =>
    path
      .replace(/^\$\./, "")
      .split(".")
      .reduce((v: Json, k) => v?.[k], event);
  let out = "";
  let inString = false;
  const t = transformer.InputTemplate;
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if (c === '"' && t[i - 1] !== "\\") inString = !inString;
    const m = c === "<" ? /^<([A-Za-z0-9_-]+)>/.exec(t.slice(i)) : null;
    const path = m?.[1] ? transformer.InputPathsMap[m[1]] : undefined;
    if (m && path) {
      const v = valueAt(path);
      out += inString ? String(v) : JSON.stringify(v);
      i += m[0].length - 1;
    } else out += c;
  }
  return JSON.parse(out);
}

async function publishedEvent(release: ReleaseState, at: string) {
  const published: { source: string; detailType: string; detail: Record<string, unknown> }[] = [];
  const ledger: ReleaseLedger = { record: async () => {} } as unknown as ReleaseLedger;
  await recordOutcome(
    { release, executionId: "exec-1" },
    { ledger, clock: { now: () => new Date(at) }, events: { publish: async (e) => void published.push(e) } },
  );
  const [e] = published;
  if (!e) throw new Error("nothing published");
  // The envelope EventBridge delivers to a rule (PutEvents entry → event).
  return { version: "0", source: e.source, "detail-type": e.detailType, detail: e.detail };
}

describe("Datadog release events (pourover:datadogReleaseEvents)", () => {
  it("sends the key from an existing secret through a connection: a dynamic reference, never the value", () => {
    const [[, connection]] = resourcesOf(on.template, "AWS::Events::Connection") as [[string, Json]];
    expect(connection.Properties).toMatchObject({
      AuthorizationType: "API_KEY",
      AuthParameters: {
        ApiKeyAuthParameters: {
          ApiKeyName: "DD-API-KEY",
          ApiKeyValue: "{{resolve:secretsmanager:ops/datadog:SecretString:::}}",
        },
      },
    });
    // The secret is referenced, never created (nor filled) by this stack.
    for (const [id] of resourcesOf(on.template, "AWS::SecretsManager::Secret"))
      expect(id).not.toMatch(/Datadog/);
  });

  it("posts to the site's DORA deployment endpoint through an API destination, with a DLQ and retries", () => {
    const [[destId, dest]] = resourcesOf(on.template, "AWS::Events::ApiDestination") as [[string, Json]];
    expect(dest.Properties).toMatchObject({
      HttpMethod: "POST",
      InvocationEndpoint: "https://api.datadoghq.eu/api/v2/dora/deployment",
    });
    const rule = datadogRule(on.template);
    expect(rule.Properties.EventBusName).toEqual({ Ref: expect.stringMatching(/^Bus/) });
    expect(rule.Properties.EventPattern).toEqual({
      source: ["pourover.pipeline"],
      "detail-type": ["Release Succeeded", "Release Failed"],
      detail: { app: ["coffeeshop"] },
    });
    const [target] = rule.Properties.Targets;
    expect(target.Arn).toEqual({ "Fn::GetAtt": [destId, "Arn"] });
    expect(target.DeadLetterConfig.Arn["Fn::GetAtt"][0]).toMatch(/^DatadogReleaseEventsDlq/);
    expect(target.RetryPolicy.MaximumRetryAttempts).toBeGreaterThan(0);
    // The rule's role may invoke this destination and nothing else.
    const policies = resourcesOf(on.template, "AWS::IAM::Policy").filter(([id]) =>
      id.startsWith("DatadogReleaseEvents"),
    );
    expect(policies.flatMap(([, p]) => p.Properties.PolicyDocument.Statement)).toEqual([
      { Action: "events:InvokeApiDestination", Effect: "Allow", Resource: { "Fn::GetAtt": [destId, "Arn"] } },
    ]);
    expect(resourcesOf(on.template, "AWS::Lambda::Function").length).toBe(
      resourcesOf(off.template, "AWS::Lambda::Function").length,
    );
  });

  it("turns what record-outcome publishes into a valid DORA deployment body (epoch timestamps from the event detail)", async () => {
    const { InputTransformer } = datadogRule(on.template).Properties.Targets[0];
    const release: ReleaseState = {
      app: "coffeeshop",
      tag: "v1.4.0",
      trigger: { source: "github", pusher: "me" },
      force: false,
      claim: { claimedAt: "2026-11-26T09:58:00.000Z" },
    } as ReleaseState;
    for (const [state, outcome] of [
      [release, "released"],
      [{ ...release, error: { Error: "BuildFailedError", Cause: "{}" } }, undefined],
    ] as const) {
      const event = await publishedEvent(state, "2026-11-26T10:00:30.000Z");
      const body = transform(InputTransformer, event);
      // "Send a deployment event": service, started_at, finished_at required; Unix time in
      // nanoseconds, milliseconds or seconds.
      const attrs = body.data.attributes;
      expect(attrs).toMatchObject({ service: "coffeeshop", env: "dev", version: "v1.4.0" });
      expect(attrs.started_at).toBe(Date.parse("2026-11-26T09:58:00.000Z"));
      expect(attrs.finished_at).toBe(Date.parse("2026-11-26T10:00:30.000Z"));
      expect(Number.isInteger(attrs.started_at) && Number.isInteger(attrs.finished_at)).toBe(true);
      for (const tag of attrs.custom_tags) expect(tag).toMatch(/^[a-z_]+:[^\s]+$/);
      if (outcome) expect(attrs.custom_tags).toContain(`pourover_outcome:${outcome}`);
      else expect(attrs.custom_tags).not.toContain("pourover_outcome:released");
    }
  });

  it("uses the outcome time as the start when the release never got a claim", async () => {
    const event = await publishedEvent(
      { app: "coffeeshop", tag: "v1.4.1", force: false } as ReleaseState,
      "2026-11-26T10:00:30.000Z",
    );
    expect(event.detail).toMatchObject({
      startedAtEpochMs: Date.parse("2026-11-26T10:00:30.000Z"),
      finishedAtEpochMs: Date.parse("2026-11-26T10:00:30.000Z"),
    });
  });

  it("passes cdk-nag with the release events on", () => {
    expect(nagError).toBeUndefined();
  });

  it("creates nothing of this without the context", () => {
    for (const type of ["AWS::Events::Connection", "AWS::Events::ApiDestination"])
      expect(resourcesOf(off.template, type)).toHaveLength(0);
    expect(JSON.stringify(off.template.toJSON())).not.toMatch(/datadog|dora/i);
  });

  it("reads the context as true, a JSON object or an object; rejects a bad site with one line", () => {
    expect(datadogReleaseEventsFromContext(undefined)).toBeUndefined();
    expect(datadogReleaseEventsFromContext("false")).toBeUndefined();
    expect(datadogReleaseEventsFromContext("true")).toEqual({
      site: "datadoghq.com",
      apiKeySecretName: "pourover/datadog-api-key",
      env: "dev",
    });
    expect(datadogReleaseEventsFromContext({ site: "us5.datadoghq.com" })?.site).toBe("us5.datadoghq.com");
    let error: unknown;
    try {
      datadogReleaseEventsFromContext('{"site":"example.com"}');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).problems).toEqual([
      expect.stringMatching(/^pourover:datadogReleaseEvents: site:/),
    ]);
  });
});
