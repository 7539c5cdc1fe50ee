import { afterEach, describe, expect, it } from "vitest";
import type { DeployRunner } from "../../local/local-tasks.js";
import type { EmailMessage, Mailer } from "../../shared/ports/index.js";
import { startRuntime } from "../helpers/local.js";

/**
 * State transitions of the 6-service happy path (Step Functions Standard bills each one), counted as
 * the engine's StateEntered events: at most 30, and every service's build and evaluation still shows
 * as its own Map iteration.
 */
describe("transitions of a release (real ASL, local engine)", () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  const mailer: Mailer & { sent: EmailMessage[] } = {
    sent: [],
    send: async (m) => {
      mailer.sent.push(m);
      return { messageId: "m" };
    },
  };
  const deployRunner: DeployRunner = {
    mode: "custom",
    run: async (input) => ({
      instanceId: "i-0123456789abcdef0",
      status: "Success",
      output: `{"status":"deployed","app":"coffeeshop","tag":"${input.tag}"}`,
    }),
  };

  it("6-service tag release: 30 transitions; build or scan is chosen once per release, not per service", async () => {
    const env = await startRuntime({ deployRunner, mailer });
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v1.0.0" });
    expect(out.status).toBe("SUCCEEDED");
    expect(out.transitions).toBe(30);
    const once = out.states.filter((s) => s.iteration === undefined).map((s) => s.name);
    expect(once).toEqual([
      "ClaimRelease",
      "PlanRelease",
      "BuildOrScan",
      "ScanImages",
      "GateOnScan",
      "UpdateManifests",
      "AcquireDevLock",
      "WakeDevHost",
      "CheckDevHostAgents",
      "DevHostsReady?",
      "DeployDev",
      "VerifyDev",
      "ReleaseDevLock",
      "NotifySuccess",
      "ReportDevResult",
      "RecordOutcome",
      "ReleaseSucceeded?",
      "Released",
    ]);
    // What the execution shows per service is unchanged: one build+scan+push and one evaluation each.
    const perService = (name: string) =>
      out.states
        .filter((s) => s.name === name)
        .map((s) => s.iteration)
        .sort();
    expect(perService("BuildScanPush")).toEqual([0, 1, 2, 3, 4, 5]);
    expect(perService("EvaluateScan")).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("an ECR push: scanned by digest in ScanPushedImages, the same count of transitions", async () => {
    const env = await startRuntime({ deployRunner, mailer });
    stop = env.stop;
    const config = env.runtime.options.config;
    const web = config.services.find((s) => s.name === "web");
    const digest = `sha256:${"a".repeat(64)}`;
    const out = await env.runtime.release({
      tag: "v1.0.1",
      trigger: { source: "ecr", repository: web?.repository ?? "", digest },
    });
    expect(out.status).toBe("SUCCEEDED");
    expect(out.transitions).toBe(30);
    expect(out.states.filter((s) => s.name === "ScanImage")).toHaveLength(6);
    expect(out.states.filter((s) => s.name === "EvaluatePushedScan")).toHaveLength(6);
    expect(out.states.map((s) => s.name)).not.toContain("BuildScanPush");
  });
});
