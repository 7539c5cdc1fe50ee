import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { DeployRunner } from "../../local/local-tasks.js";
import { listExecutions } from "../../local/runtime.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import type { DevHost, DevHosts, EmailMessage, Mailer } from "../../shared/ports/index.js";
import { startRuntime } from "../helpers/local.js";

/**
 * WakeDevHost through the real ASL (aws-local-stepfunctions): a stopped dev host is started and the
 * workflow retries ("running, retry after") until its SSM agent is Online, then deploys; a host that
 * never comes online fails the release with DevHostStartingError and gives the dev lock back.
 */
describe("waking the dev host (real ASL, local engine)", () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  const ID = "i-0123456789abcdef0";
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

  /** EC2 + SSM as one host would answer on successive calls (the last answer repeats). */
  function scripted(answers: DevHost["state"][], agents: DevHost["agent"][]) {
    const calls: { listed: number; started: string[][] } = { listed: 0, started: [] };
    const hosts: DevHosts = {
      list: async () => {
        const i = Math.min(calls.listed, answers.length - 1);
        calls.listed += 1;
        return [{ instanceId: ID, state: answers[i] as DevHost["state"], agent: agents[i] ?? null }];
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

  async function retriesOfWake(dir: string): Promise<number> {
    const [record] = await listExecutions(join(dir, "state"));
    return (record?.history.events ?? []).filter(
      (e) =>
        e.type === "TaskRetried" &&
        (e as { retryDetails?: { name: string } }).retryDetails?.name === "WakeDevHost",
    ).length;
  }

  it("stopped, then starting, then online: started once, two retries, then deployed (≤ 40 transitions)", async () => {
    const { hosts, calls } = scripted(["stopped", "pending", "running"], ["ConnectionLost", null, "Online"]);
    const runner = deployRunner();
    const env = await startRuntime({ devHosts: hosts, deployRunner: runner, mailer: capture() });
    stop = env.stop;

    const out = await env.runtime.release({ tag: "v1.0.0" });

    expect(out.status).toBe("SUCCEEDED");
    expect(calls.listed).toBe(3);
    expect(calls.started).toEqual([[ID]]);
    expect(await retriesOfWake(env.dir)).toBe(2);
    expect(runner.tags).toEqual(["v1.0.0"]);
    const order = visited(out.states);
    expect(order.indexOf("WakeDevHost")).toBeGreaterThan(order.indexOf("DevLockAcquired?"));
    expect(order.indexOf("WakeDevHost")).toBeLessThan(order.indexOf("DeployDev"));
    expect((out.output as ReleaseState & { wake: unknown }).wake).toEqual({ instances: [ID], started: [] });
    expect(out.transitions).toBeLessThanOrEqual(40);
    expect(out.standIns).toContain("EC2 dev host → a test stand-in for EC2 and the SSM agent");
  });

  it("never comes online: FAILED with DevHostStartingError naming the host, nothing deployed, lock given back", async () => {
    const { hosts, calls } = scripted(["stopped", "pending", "running"], [null, null, "ConnectionLost"]);
    const runner = deployRunner();
    const mailer = capture();
    const env = await startRuntime({ devHosts: hosts, deployRunner: runner, mailer });
    stop = env.stop;

    const out = await env.runtime.release({ tag: "v1.1.0" });

    expect(out.status).toBe("FAILED");
    expect(out.error?.error).toBe("DevHostStartingError");
    expect(out.error?.cause).toBe(
      `dev host for coffeeshop v1.1.0 not online yet (1 of 1): ${ID} running, SSM agent ConnectionLost`,
    );
    // One first try and every retry of the ASL's DevHostStartingError policy (24).
    expect(calls.listed).toBe(25);
    expect(await retriesOfWake(env.dir)).toBe(24);
    expect(calls.started).toEqual([[ID]]);
    expect(runner.tags).toEqual([]);
    expect(visited(out.states)).toEqual(
      expect.arrayContaining(["WakeDevHost", "NotifyFailure", "ReleaseDevLockAfterFailure"]),
    );
    expect(visited(out.states)).not.toContain("DeployDev");
    expect((await env.runtime.devLock.read("coffeeshop"))?.holder).toBeNull();
    expect(mailer.sent[0]?.subject).toBe(
      "[coffeeshop] v1.1.0 dev deploy failed: dev host did not come online",
    );
    expect(mailer.sent[0]?.text).toContain(ID);
  });

  it("by default the dev host is this machine: online at once, no retry, said in the stand-ins", async () => {
    const env = await startRuntime({ deployRunner: deployRunner(), mailer: capture() });
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v1.2.0" });
    expect(out.status).toBe("SUCCEEDED");
    expect((out.output as ReleaseState & { wake: unknown }).wake).toEqual({
      instances: ["localhost"],
      started: [],
    });
    expect(await retriesOfWake(env.dir)).toBe(0);
    expect(out.standIns).toContain("EC2 dev host → this machine; nothing to start");
  });
});
