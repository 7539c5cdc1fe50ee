import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  DEV_DELIVERY_TIMEOUT_SECONDS,
  VERIFY_GRACE_SECONDS,
} from "../../functions/verify-dev-deploy/verify-dev-deploy.js";
import type { DeployRunner } from "../../local/local-tasks.js";
import { SqliteDevLock } from "../../shared/adapters/local/sqlite-dev-lock.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import type { DevLock, EmailMessage, InstanceDeployStatus, Mailer } from "../../shared/ports/index.js";
import { startRuntime } from "../helpers/local.js";
import { REPO_ROOT } from "../infra/synth-helper.js";

/**
 * The dev deploy part of the workflow through the real ASL (aws-local-stepfunctions): each outcome of
 * the SSM command has its own named error, per-host results reach the output and the email, and the
 * dev lock lets one deploy run at a time with the newest release winning.
 */
describe("dev deploy paths (real ASL, local engine)", () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  const visited = (states: { name: string }[]) => [...new Set(states.map((s) => s.name))];
  const OTHER = "arn:aws:states:us-east-1:000000000000:execution:pourover-coffeeshop-release:other";
  const FUTURE = "2999-01-01T00:00:00.000Z";

  /** A mailer that keeps what it was asked to send (no SES emulator needed for these paths). */
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

  /** A deploy runner answering like one dev host would, and counting the deploys it was asked for. */
  function host(
    status: InstanceDeployStatus["status"],
    output: string,
  ): DeployRunner & { calls: { tag: string }[] } {
    const calls: { tag: string }[] = [];
    return {
      mode: "custom",
      calls,
      run: async (input) => {
        calls.push({ tag: input.tag });
        return { instanceId: "i-0123456789abcdef0", status, output };
      },
    };
  }

  const deployedLine = (tag: string) =>
    `{"status":"deployed","app":"coffeeshop","tag":"${tag}","healthUrls":"http://localhost:8888/ http://localhost:5000/"}`;

  async function start(deployRunner: DeployRunner, devLock?: DevLock) {
    const mailer = capture();
    const env = await startRuntime({ deployRunner, mailer, ...(devLock ? { devLock } : {}) });
    stop = env.stop;
    return { ...env, mailer };
  }

  it("deployed: per-host results in the output and the email, lock taken and given back, ≤ 40 transitions", async () => {
    const runner = host("Success", `deploy-dev: healthy\n${deployedLine("v1.0.0")}`);
    const env = await start(runner);
    const out = await env.runtime.release({ tag: "v1.0.0" });
    expect(out.status).toBe("SUCCEEDED");
    expect(out.transitions).toBeLessThanOrEqual(40);
    expect(visited(out.states)).toEqual(
      expect.arrayContaining([
        "AcquireDevLock",
        "WakeDevHost",
        "CheckDevHostAgents",
        "DevHostsReady?",
        "DeployDev",
        "VerifyDev",
        "ReleaseDevLock",
      ]),
    );
    expect(visited(out.states)).not.toContain("Superseded");
    const state = out.output as ReleaseState & {
      devLock: { acquired: boolean; release: { released: boolean } };
    };
    expect(state.deploy?.result).toEqual({
      instances: [{ instanceId: "i-0123456789abcdef0", status: "Success", summary: deployedLine("v1.0.0") }],
      dryRun: false,
    });
    expect(state.devLock.acquired).toBe(true);
    expect(state.devLock.release.released).toBe(true);
    expect(await env.runtime.devLock.read("coffeeshop")).toMatchObject({ version: "v1.0.0", holder: null });
    const email = env.mailer.sent[0] as EmailMessage;
    expect(email.subject).toBe("[coffeeshop] v1.0.0 released to dev");
    expect(email.text).toContain("i-0123456789abcdef0  Success");
    expect((await env.runtime.ledger.get("coffeeshop", "v1.0.0"))?.summary?.deploy).toEqual(
      state.deploy?.result,
    );
  });

  it("no dev instance matched: NoDevInstancesError, and the lock is given back", async () => {
    const env = await start({ mode: "custom", run: async () => null });
    const out = await env.runtime.release({ tag: "v1.1.0" });
    expect(out.status).toBe("FAILED");
    expect(out.error?.error).toBe("NoDevInstancesError");
    expect(out.error?.cause).toContain("dev.instanceTags");
    expect(visited(out.states)).toEqual(
      expect.arrayContaining(["NotifyFailure", "ReleaseDevLockAfterFailure"]),
    );
    expect((await env.runtime.devLock.read("coffeeshop"))?.holder).toBeNull();
  });

  it("command timed out on the host (Execution Timed Out): DevDeployTimedOutError", async () => {
    const env = await start(host("ExecutionTimedOut", "deploy-dev: + docker compose pull"));
    const out = await env.runtime.release({ tag: "v1.2.0" });
    expect(out.error?.error).toBe("DevDeployTimedOutError");
    expect(out.error?.cause).toMatch(/timed out on 1 of 1 dev instance/);
    expect(out.error?.cause).toContain("i-0123456789abcdef0 ExecutionTimedOut");
    expect(env.mailer.sent[0]?.text).toContain("DevDeployTimedOutError");
    expect((await env.runtime.devLock.read("coffeeshop"))?.holder).toBeNull();
  });

  it("still running when VerifyDev's retries run out: named timed out, not 'in progress'", async () => {
    const env = await start(host("InProgress", ""));
    const out = await env.runtime.release({ tag: "v1.2.1" });
    expect(out.status).toBe("FAILED");
    expect(visited(out.states)).toContain("DeployTimedOut");
    expect(out.error?.error).toBe("DevDeployTimedOutError");
    expect(out.error?.cause).toMatch(/still running when the workflow stopped waiting: timed out/);
    expect(out.states.filter((s) => s.name === "VerifyDev").length).toBeGreaterThanOrEqual(1);
    const record = await env.runtime.ledger.get("coffeeshop", "v1.2.1");
    expect(record?.summary?.error).toMatchObject({ name: "DevDeployTimedOutError" });
    expect((await env.runtime.devLock.read("coffeeshop"))?.holder).toBeNull();
  });

  it("agent offline (Undeliverable): DevAgentOfflineError says the host is stopped or its agent offline", async () => {
    const env = await start(host("Undeliverable", ""));
    const out = await env.runtime.release({ tag: "v1.2.2" });
    expect(out.error?.error).toBe("DevAgentOfflineError");
    expect(out.error?.cause).toMatch(/stopped or its SSM agent is offline/);
  });

  it("health failed and rolled back: DevDeployRolledBackError with the host's JSON summary", async () => {
    const summary =
      '{"status":"rolled-back","app":"coffeeshop","tag":"v1.3.0","step":"health","error":"health check failed: http://localhost:8888/","rollback":"ok"}';
    const env = await start(
      host("Failed", `deploy-dev: health check failed: http://localhost:8888/\n${summary}`),
    );
    const out = await env.runtime.release({ tag: "v1.3.0" });
    expect(out.status).toBe("FAILED");
    expect(out.error?.error).toBe("DevDeployRolledBackError");
    expect(out.error?.cause).toContain(`i-0123456789abcdef0 Failed ${summary}`);
    expect(out.error?.cause).toMatch(/was rolled back: dev runs the previous release/);
    expect(env.mailer.sent[0]?.text).toContain("DevDeployRolledBackError");
    expect((await env.runtime.ledger.get("coffeeshop", "v1.3.0"))?.status).toBe("FAILED");
    expect((await env.runtime.devLock.read("coffeeshop"))?.holder).toBeNull();
  });

  it("health failed and the rollback failed: DevDeployRollbackFailedError", async () => {
    const env = await start(
      host("Failed", '{"status":"rollback-failed","step":"health","error":"x","rollback":"failed"}'),
    );
    const out = await env.runtime.release({ tag: "v1.3.1" });
    expect(out.error?.error).toBe("DevDeployRollbackFailedError");
    expect(out.error?.cause).toMatch(/the host needs a person/);
  });

  it("superseded: the newer release deploys first, the older one then skips its deploy and says so", async () => {
    const runner = host("Success", deployedLine("v2.0.0"));
    const env = await start(runner);
    const newer = await env.runtime.release({ tag: "v2.0.0" });
    const older = await env.runtime.release({ tag: "v1.9.0" });
    expect(newer.status).toBe("SUCCEEDED");
    expect(older.status).toBe("SUCCEEDED");
    expect(runner.calls).toEqual([{ tag: "v2.0.0" }]);
    expect(visited(older.states)).toContain("Superseded");
    expect(visited(older.states)).not.toContain("DeployDev");
    expect(visited(older.states)).not.toContain("VerifyDev");
    expect(older.pullRequest?.branch).toBe("release/coffeeshop/v1.9.0");
    const deploy = (older.output as ReleaseState).deploy as unknown as { result: Record<string, unknown> };
    expect(deploy.result).toMatchObject({
      superseded: true,
      by: "v2.0.0",
      note: "superseded by v2.0.0, not deployed",
    });
    const record = await env.runtime.ledger.get("coffeeshop", "v1.9.0");
    expect(record?.summary?.deploy).toMatchObject({ superseded: true, by: "v2.0.0" });
    expect(await env.runtime.devLock.read("coffeeshop")).toMatchObject({ version: "v2.0.0", holder: null });
    // The email never claims a deploy that did not happen.
    expect(env.mailer.sent.at(-1)?.subject).toBe(
      "[coffeeshop] v1.9.0 ready: superseded by v2.0.0, not deployed",
    );
  });

  it("a forced older release is not superseded: it deploys on purpose", async () => {
    const runner = host("Success", deployedLine("v1.9.1"));
    const env = await start(runner);
    await env.runtime.release({ tag: "v2.0.1" });
    const forced = await env.runtime.release({ tag: "v1.9.1", force: true });
    expect(forced.status).toBe("SUCCEEDED");
    expect(runner.calls.map((c) => c.tag)).toEqual(["v2.0.1", "v1.9.1"]);
  });

  it("lock held by an in-progress deploy of a newer tag: the older release ends superseded at once", async () => {
    const runner = host("Success", deployedLine("v2.5.0"));
    const env = await start(runner);
    await env.runtime.devLock.write(
      { app: "coffeeshop", version: "v3.0.0", holder: OTHER, heldUntil: FUTURE },
      null,
    );
    const out = await env.runtime.release({ tag: "v2.5.0" });
    expect(out.status).toBe("SUCCEEDED");
    expect(visited(out.states)).toContain("Superseded");
    expect(runner.calls).toEqual([]);
    expect(((out.output as ReleaseState).deploy as { result: unknown }).result).toMatchObject({
      by: "v3.0.0",
    });
    // The newer deploy still holds its lock: a superseded release never releases someone else's.
    expect(await env.runtime.devLock.read("coffeeshop")).toMatchObject({ version: "v3.0.0", holder: OTHER });
  });

  it("lock held by an in-progress deploy of an older tag: waits (running, retry after), then deploys", async () => {
    const runner = host("Success", deployedLine("v1.0.0"));
    // The older deploy finishes right after the newer release first found the lock busy.
    const seen: { holder: string | null }[] = [];
    let inner: DevLock | undefined;
    const lock: DevLock = {
      read: async (app) => {
        const record = await (inner as DevLock).read(app);
        seen.push({ holder: record?.holder ?? null });
        if (seen.length === 2) await (inner as DevLock).release(app, OTHER);
        return seen.length === 2 ? (inner as DevLock).read(app) : record;
      },
      write: (next, rev) => (inner as DevLock).write(next, rev),
      release: (app, id) => (inner as DevLock).release(app, id),
    };
    const env = await start(runner, lock);
    const sqlite = new SqliteDevLock(`${env.dir}/lock.sqlite`);
    inner = sqlite;
    await sqlite.write({ app: "coffeeshop", version: "v0.9.0", holder: OTHER, heldUntil: FUTURE }, null);
    try {
      const out = await env.runtime.release({ tag: "v1.0.0" });
      expect(out.status).toBe("SUCCEEDED");
      expect(seen.map((s) => s.holder)).toEqual([OTHER, OTHER]);
      expect(out.states.filter((s) => s.name === "AcquireDevLock").length).toBeGreaterThanOrEqual(1);
      expect(runner.calls).toEqual([{ tag: "v1.0.0" }]);
      expect(await sqlite.read("coffeeshop")).toMatchObject({ version: "v1.0.0", holder: null });
    } finally {
      sqlite.close();
    }
  });

  it("lock held by a deploy that never finishes: bounded retries, then DevLockBusyError, nothing deployed", async () => {
    const runner = host("Success", deployedLine("v1.0.0"));
    const env = await start(runner);
    await env.runtime.devLock.write(
      { app: "coffeeshop", version: "v0.9.0", holder: OTHER, heldUntil: FUTURE },
      null,
    );
    const out = await env.runtime.release({ tag: "v1.0.0" });
    expect(out.status).toBe("FAILED");
    expect(out.error?.error).toBe("DevLockBusyError");
    expect(out.error?.cause).toMatch(/v0\.9\.0 is running/);
    expect(runner.calls).toEqual([]);
    // It never held the lock: the other deploy keeps it.
    expect(visited(out.states)).not.toContain("ReleaseDevLockAfterFailure");
    expect((await env.runtime.devLock.read("coffeeshop"))?.holder).toBe(OTHER);
  });

  it("DeployDev: TimeoutSeconds is the delivery timeout, dev.timeoutSeconds goes to the document's ExecutionTimeout", async () => {
    const inputs: Parameters<DeployRunner["run"]>[0][] = [];
    const env = await start({
      mode: "custom",
      run: async (i) => {
        inputs.push(i);
        return { instanceId: "i-0123456789abcdef0", status: "Success", output: deployedLine("v1.4.0") };
      },
    });
    const out = await env.runtime.release({ tag: "v1.4.0" });
    expect(out.status).toBe("SUCCEEDED");
    // The example config's dev.timeoutSeconds, through States.Format into the SSM parameter.
    expect(inputs.map((i) => i.timeoutSeconds)).toEqual([600]);
    const asl = JSON.parse(readFileSync(join(REPO_ROOT, "state-machines", "release.asl.json"), "utf8"));
    expect(asl.States.DeployDev.Parameters.TimeoutSeconds).toBe(DEV_DELIVERY_TIMEOUT_SECONDS);
  });

  it("VerifyDev's retries outlast the longest deploy it may wait for (delivery + 3600 s + grace)", () => {
    const asl = JSON.parse(readFileSync(join(REPO_ROOT, "state-machines", "release.asl.json"), "utf8"));
    type Retrier = {
      ErrorEquals: string[];
      IntervalSeconds: number;
      MaxAttempts: number;
      BackoffRate: number;
      MaxDelaySeconds: number;
    };
    const retry = (asl.States.VerifyDev.Retry as Retrier[]).find((r) =>
      r.ErrorEquals.includes("DevDeployInProgressError"),
    ) as Retrier;
    let waited = 0;
    for (let i = 0; i < retry.MaxAttempts; i++)
      waited += Math.min(retry.IntervalSeconds * retry.BackoffRate ** i, retry.MaxDelaySeconds);
    expect(waited).toBeGreaterThanOrEqual(DEV_DELIVERY_TIMEOUT_SECONDS + 3600 + VERIFY_GRACE_SECONDS);
    expect(asl.States.VerifyDev.Parameters["timeoutSeconds.$"]).toBe("$.plan.dev.timeoutSeconds");
  });

  it("still running past dev.timeoutSeconds: VerifyDev cancels the command, then the lock is given back", async () => {
    const order: string[] = [];
    let skew = 0;
    const runner: DeployRunner = {
      mode: "custom",
      run: async () => {
        // The host keeps deploying; the workflow's next look is past delivery + 600 s + grace.
        skew = (DEV_DELIVERY_TIMEOUT_SECONDS + 600 + VERIFY_GRACE_SECONDS + 1) * 1000;
        return { instanceId: "i-0123456789abcdef0", status: "InProgress", output: "" };
      },
      cancel: async () => {
        order.push("cancel");
      },
    };
    let inner: DevLock | undefined;
    const lock: DevLock = {
      read: (app) => (inner as DevLock).read(app),
      write: (next, rev) => (inner as DevLock).write(next, rev),
      release: async (app, id) => {
        order.push("release lock");
        return (inner as DevLock).release(app, id);
      },
    };
    const mailer = capture();
    const env = await startRuntime({
      deployRunner: runner,
      mailer,
      devLock: lock,
      clock: { now: () => new Date(Date.now() + skew) },
    });
    stop = env.stop;
    const sqlite = new SqliteDevLock(`${env.dir}/lock.sqlite`);
    inner = sqlite;
    try {
      const out = await env.runtime.release({ tag: "v1.5.0" });
      expect(out.status).toBe("FAILED");
      expect(out.error?.error).toBe("DevDeployTimedOutError");
      expect(out.error?.cause).toMatch(/cancelled it \(CancelCommand\) before giving the dev lock back/);
      expect(order).toEqual(["cancel", "release lock"]);
      expect(visited(out.states)).toEqual(
        expect.arrayContaining(["VerifyDev", "ReleaseDevLockAfterFailure"]),
      );
      expect(visited(out.states)).not.toContain("DeployTimedOut");
      expect(mailer.sent[0]?.text).toContain("DevDeployTimedOutError");
      expect((await sqlite.read("coffeeshop"))?.holder).toBeNull();
    } finally {
      sqlite.close();
    }
  });

  it("env secret missing on the host: DevEnvSecretMissingError, named in the email, lock given back", async () => {
    const summary =
      '{"status":"failed","app":"coffeeshop","tag":"v1.6.0","step":"env","reason":"env-secret-missing","secret":"pourover/coffeeshop/dev-env","error":"cannot read the app env secret pourover/coffeeshop/dev-env","rollback":"not-needed"}';
    const env = await start(host("Failed", `${summary}\n`));
    const out = await env.runtime.release({ tag: "v1.6.0" });
    expect(out.status).toBe("FAILED");
    expect(out.error?.error).toBe("DevEnvSecretMissingError");
    expect(out.error?.cause).toContain("pourover/coffeeshop/dev-env is missing or empty");
    const email = env.mailer.sent[0] as EmailMessage;
    expect(email.subject).toContain("app env secret missing or empty");
    expect(email.text).toContain("DevEnvSecretMissingError");
    expect(email.text).toContain("put-secret-value --secret-id pourover/coffeeshop/dev-env");
    expect((await env.runtime.devLock.read("coffeeshop"))?.holder).toBeNull();
  });

  it("ReleaseDevLock's conditional UpdateItem: a lock taken over meanwhile is left to its new holder, and the release still succeeds", async () => {
    let env: Awaited<ReturnType<typeof start>> | undefined;
    // While this release deploys, its lease runs out and another execution takes the lock.
    const runner: DeployRunner = {
      mode: "custom",
      run: async () => {
        const lock = env?.runtime.devLock as DevLock;
        const held = await lock.read("coffeeshop");
        await lock.write(
          { app: "coffeeshop", version: "v1.0.1", holder: OTHER, heldUntil: FUTURE },
          held?.rev ?? null,
        );
        return { instanceId: "i-0123456789abcdef0", status: "Success", output: deployedLine("v1.0.0") };
      },
    };
    env = await start(runner);
    const out = await env.runtime.release({ tag: "v1.0.0" });
    expect(out.status).toBe("SUCCEEDED");
    const state = out.output as ReleaseState & { devLock: { release: { Error: string; Cause: string } } };
    // What the dynamodb:updateItem integration fails with when its ConditionExpression does not hold.
    expect(state.devLock.release).toMatchObject({ Error: "DynamoDB.ConditionalCheckFailedException" });
    expect(visited(out.states)).toEqual(
      expect.arrayContaining(["ReleaseDevLock", "NotifySuccess", "RecordOutcome"]),
    );
    expect(await env.runtime.devLock.read("coffeeshop")).toMatchObject({ holder: OTHER, version: "v1.0.1" });
  });

  it("a holder whose lease ran out (a crashed execution) no longer blocks the next deploy", async () => {
    const runner = host("Success", deployedLine("v1.0.0"));
    const env = await start(runner);
    await env.runtime.devLock.write(
      { app: "coffeeshop", version: "v0.9.0", holder: OTHER, heldUntil: "2000-01-01T00:00:00.000Z" },
      null,
    );
    const out = await env.runtime.release({ tag: "v1.0.0" });
    expect(out.status).toBe("SUCCEEDED");
    expect(runner.calls).toEqual([{ tag: "v1.0.0" }]);
  });
});
