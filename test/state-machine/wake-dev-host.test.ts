import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import type { DeployRunner } from "../../local/local-tasks.js";
import { ASL_PATH } from "../../local/runtime.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import type { DevHost, DevHosts, EmailMessage, Mailer } from "../../shared/ports/index.js";
import { startRuntime } from "../helpers/local.js";

/**
 * The wake loop through the real ASL (aws-local-stepfunctions): WakeDevHost (EC2 DescribeInstances),
 * CheckDevHostAgents (SSM DescribeInstanceInformation), StartDevHosts (EC2 StartInstances) are service
 * integrations, answered locally by the dev host stand-in in the shape of the AWS responses; the wait
 * between polls is a Wait state (WaitForDevHosts), bounded by a poll count in the workflow.
 */
describe("waking the dev host (real ASL, local engine)", () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  const ID = "i-0123456789abcdef0";
  const entered = (states: { name: string }[], name: string) => states.filter((s) => s.name === name).length;
  const visited = (states: { name: string }[]) => [...new Set(states.map((s) => s.name))];

  function capture(): Mailer & { sent: EmailMessage[] } {
    const sent: EmailMessage[] = [];
    return {
      sent,
      send: async (m) => {
        sent.push(m);
        return { messageId: `m-${sent.length}` };
      },
    };
  }

  /** EC2 + SSM as one host answers on successive looks (the last answer repeats). */
  function scripted(answers: [DevHost["state"], DevHost["agent"]][]) {
    const calls: { listed: number; started: string[][]; tags: unknown[] } = {
      listed: 0,
      started: [],
      tags: [],
    };
    const hosts: DevHosts = {
      list: async (targets) => {
        calls.tags.push(targets);
        const [state, agent] = answers[Math.min(calls.listed, answers.length - 1)] as [
          DevHost["state"],
          DevHost["agent"],
        ];
        calls.listed += 1;
        return [{ instanceId: ID, state, agent }];
      },
      start: async (ids) => {
        calls.started.push([...ids]);
      },
    };
    return { hosts, calls };
  }

  function deployRunner(): DeployRunner & { tags: string[] } {
    const tags: string[] = [];
    return {
      mode: "custom",
      tags,
      run: async (input) => {
        tags.push(input.tag);
        return {
          instanceId: ID,
          status: "Success",
          output: `{"status":"deployed","app":"coffeeshop","tag":"${input.tag}"}`,
        };
      },
    };
  }

  it("running with its agent Online: one look (DescribeInstances + DescribeInstanceInformation), no wait, deployed", async () => {
    const { hosts, calls } = scripted([["running", "Online"]]);
    const runner = deployRunner();
    const env = await startRuntime({ devHosts: hosts, deployRunner: runner, mailer: capture() });
    stop = env.stop;

    const out = await env.runtime.release({ tag: "v1.0.0" });

    expect(out.status).toBe("SUCCEEDED");
    expect(calls.listed).toBe(1);
    // The EC2 filters are the configured dev tags (plan.dev.instanceFilters).
    expect(calls.tags).toEqual([
      [
        { Key: "tag:Environment", Values: ["dev"] },
        { Key: "tag:App", Values: ["coffeeshop"] },
      ],
    ]);
    expect(calls.started).toEqual([]);
    expect(runner.tags).toEqual(["v1.0.0"]);
    const order = out.states.map((s) => s.name);
    const at = order.indexOf("WakeDevHost");
    expect(order.slice(at - 1, at + 4)).toEqual([
      "AcquireDevLock",
      "WakeDevHost",
      "CheckDevHostAgents",
      "DevHostsReady?",
      "DeployDev",
    ]);
    expect(visited(out.states)).not.toContain("WaitForDevHosts");
    const wake = (out.output as ReleaseState & { wake: Record<string, unknown> }).wake;
    expect(wake).toEqual({
      hosts: {
        instances: [ID],
        states: ["running"],
        count: 1,
        pending: false,
        stopping: false,
        stopped: false,
        shuttingDown: false,
      },
      agents: { onlineCount: 1 },
    });
    expect(out.standIns).toContain("EC2 dev host → a test stand-in for EC2 and the SSM agent");
  });

  it("stopped, then pending, then running with the agent coming Online: started once, polled 3 times, then deployed", async () => {
    const { hosts, calls } = scripted([
      ["stopped", "ConnectionLost"],
      ["pending", null],
      ["running", "ConnectionLost"],
      ["running", "Online"],
    ]);
    const runner = deployRunner();
    const env = await startRuntime({ devHosts: hosts, deployRunner: runner, mailer: capture() });
    stop = env.stop;

    const out = await env.runtime.release({ tag: "v1.0.1" });

    expect(out.status).toBe("SUCCEEDED");
    expect(calls.listed).toBe(4);
    expect(calls.started).toEqual([[ID]]);
    expect(entered(out.states, "WakeDevHost")).toBe(4);
    expect(entered(out.states, "WaitForDevHosts")).toBe(3);
    expect(entered(out.states, "StartDevHosts")).toBe(1);
    expect(runner.tags).toEqual(["v1.0.1"]);
    const wake = (out.output as ReleaseState & { wake: Record<string, unknown> }).wake;
    expect(wake.polls).toEqual({ count: 3 });
    expect(wake.started).toEqual({ starting: [ID] });
    // Nothing waits in a Lambda: the loop is Wait states of the workflow.
    expect(visited(out.states)).not.toContain("NotifyFailure");
  });

  it("never comes online: 25 looks 15 s apart, then FAILED with DevHostStartingError naming the host; nothing deployed, lock given back", async () => {
    const { hosts, calls } = scripted([
      ["stopped", null],
      ["running", "ConnectionLost"],
    ]);
    const runner = deployRunner();
    const mailer = capture();
    const env = await startRuntime({ devHosts: hosts, deployRunner: runner, mailer });
    stop = env.stop;

    const out = await env.runtime.release({ tag: "v1.1.0" });

    expect(out.status).toBe("FAILED");
    expect(out.error?.error).toBe("DevHostStartingError");
    expect(out.error?.cause).toBe(
      `dev hosts for coffeeshop v1.1.0 not online after 25 looks 15 s apart: hosts ["${ID}"] in states ["running"]; SSM agent Online on 0 of them`,
    );
    // The first look and 24 polls, as the Lambda's first try and its 24 retries did.
    expect(calls.listed).toBe(25);
    expect(entered(out.states, "WaitForDevHosts")).toBe(24);
    expect(calls.started).toEqual([[ID]]);
    expect(runner.tags).toEqual([]);
    expect(visited(out.states)).toEqual(
      expect.arrayContaining(["DevHostNotOnline", "NotifyFailure", "ReleaseDevLockAfterFailure"]),
    );
    expect(visited(out.states)).not.toContain("DeployDev");
    expect((await env.runtime.devLock.read("coffeeshop"))?.holder).toBeNull();
    expect(mailer.sent[0]?.subject).toBe(
      "[coffeeshop] v1.1.0 dev deploy failed: dev host did not come online",
    );
    expect(mailer.sent[0]?.text).toContain(ID);
  });

  it("a host stopping: waited for, never started while stopping, started once it is stopped", async () => {
    const { hosts, calls } = scripted([
      ["stopping", "Online"],
      ["stopped", "ConnectionLost"],
      ["running", "Online"],
    ]);
    const env = await startRuntime({ devHosts: hosts, deployRunner: deployRunner(), mailer: capture() });
    stop = env.stop;

    const out = await env.runtime.release({ tag: "v1.1.1" });

    expect(out.status).toBe("SUCCEEDED");
    // A stopping host whose agent still reads Online is not ready: only running + Online is.
    expect(calls.started).toEqual([[ID]]);
    expect(entered(out.states, "StartDevHosts")).toBe(1);
    expect(entered(out.states, "WakeDevHost")).toBe(3);
  });

  it("by default the dev host is this machine: online at the first look, said in the stand-ins", async () => {
    const env = await startRuntime({ deployRunner: deployRunner(), mailer: capture() });
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v1.2.0" });
    expect(out.status).toBe("SUCCEEDED");
    const wake = (out.output as ReleaseState & { wake: { hosts: { instances: string[] } } }).wake;
    expect(wake.hosts.instances).toEqual(["localhost"]);
    expect(entered(out.states, "WaitForDevHosts")).toBe(0);
    expect(out.standIns).toContain("EC2 dev host → this machine; nothing to start");
  });

  it("the poll budget and pause are the workflow's: 15 s Wait, given up after 24 polls", () => {
    const states = JSON.parse(readFileSync(ASL_PATH, "utf8")).States;
    expect(states.WaitForDevHosts).toEqual({ Type: "Wait", Seconds: 15, Next: "WakeDevHost" });
    expect(states["DevHostsStopped?"].Choices[0]).toEqual({
      Variable: "$.wake.polls.count",
      NumericGreaterThan: 24,
      Next: "DevHostNotOnline",
    });
    expect(states.DevHostNotOnline.Parameters.Error).toBe("DevHostStartingError");
    expect(states.NoDevInstances.Parameters.Error).toBe("NoDevInstancesError");
  });
});
