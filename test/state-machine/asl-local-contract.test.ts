import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ASL_PATH, type LocalRuntime, localSubstitutions } from "../../local/runtime.js";
import { NAMED_ERRORS } from "../../shared/domain/errors.js";
import { startRuntime } from "../helpers/local.js";

type State = {
  Type: string;
  Resource?: string;
  Retry?: { ErrorEquals: string[] }[];
  Catch?: { ErrorEquals: string[] }[];
  ItemProcessor?: { States: Record<string, State> };
};

const asl = JSON.parse(readFileSync(ASL_PATH, "utf8")) as { States: Record<string, State> };

function allStates(states: Record<string, State>): [string, State][] {
  return Object.entries(states).flatMap(([name, s]) => [
    [name, s] as [string, State],
    ...(s.ItemProcessor ? allStates(s.ItemProcessor.States) : []),
  ]);
}

describe("ASL ↔ local engine contract", () => {
  let env: Awaited<ReturnType<typeof startRuntime>>;
  let runtime: LocalRuntime;
  beforeAll(async () => {
    env = await startRuntime();
    runtime = env.runtime;
  });
  afterAll(async () => env.stop());

  it("every Task state has a local handler, and every local handler is a Task state", () => {
    const tasks = allStates(asl.States)
      .filter(([, s]) => s.Type === "Task")
      .map(([n]) => n)
      .sort();
    expect(Object.keys(runtime.taskHandlers({}, [])).sort()).toEqual(tasks);
  });

  it("every placeholder of the ASL has a local value, and no local value is unused", () => {
    const placeholders = [
      ...new Set([...readFileSync(ASL_PATH, "utf8").matchAll(/\$\{(\w+)\}/g)].map((m) => m[1])),
    ].sort();
    expect(Object.keys(localSubstitutions("us-east-1")).sort()).toEqual(placeholders);
  });

  it("every ErrorEquals name is a named error of the code, a States.* name, or a service integration error", () => {
    const names = allStates(asl.States).flatMap(([, s]) =>
      [...(s.Retry ?? []), ...(s.Catch ?? [])].flatMap((r) => r.ErrorEquals),
    );
    const known = new Set<string>(NAMED_ERRORS);
    const unknown = names.filter(
      (n) =>
        !known.has(n) &&
        !n.startsWith("States.") &&
        !/^(Lambda|CodeBuild|Ssm|Ec2|DynamoDB)\.[A-Za-z]+Exception$/.test(n),
    );
    expect(unknown).toEqual([]);
  });

  it("every Task that can fail transiently retries with backoff, jitter and a max delay", () => {
    for (const [name, s] of allStates(asl.States).filter(([, st]) => st.Type === "Task")) {
      expect(s.Retry, name).toBeDefined();
      for (const r of s.Retry as Record<string, unknown>[]) {
        expect(r.MaxDelaySeconds, `${name} MaxDelaySeconds`).toBeTypeOf("number");
        expect(r.JitterStrategy, `${name} JitterStrategy`).toBeDefined();
      }
    }
  });

  it("every pipeline Task's failure goes to NotifyFailure (except the notify, record and dev lock release states)", () => {
    // The dev lock is a lease: failing to give it back never decides a release's outcome, and the
    // failure-path release runs after NotifyFailure.
    for (const [name, s] of Object.entries(asl.States)) {
      if (
        !["Task", "Map"].includes(s.Type) ||
        [
          "NotifySuccess",
          "NotifyFailure",
          "RecordOutcome",
          "ReleaseDevLock",
          "ReleaseDevLockAfterFailure",
          // Reports the outcome onto the PR after it is decided: its failure is caught to RecordOutcome.
          "ReportDevResult",
          // No answer from SSM is "not online yet" on this poll; the wake loop's poll budget decides.
          "CheckDevHostAgents",
        ].includes(name)
      )
        continue;
      const catchAll = s.Catch?.find((c) => c.ErrorEquals.includes("States.ALL")) as
        | { Next?: string }
        | undefined;
      expect(catchAll?.Next, name).toBe("NotifyFailure");
    }
  });

  it("CheckDevHostAgents: any failure counts as no agent Online on that poll, and the loop goes on", () => {
    const check = asl.States.CheckDevHostAgents as State & { Catch: { Next: string }[] };
    expect(check.Catch).toEqual([
      { ErrorEquals: ["States.ALL"], ResultPath: "$.wake.agentsError", Next: "NoAgentAnswer" },
    ]);
    expect((asl.States.NoAgentAnswer as unknown as { Next: string }).Next).toBe("DevHostsReady?");
  });

  it("the ASL uses JSONPath only", () => {
    expect(JSON.stringify(asl)).not.toContain("QueryLanguage");
    expect(JSON.stringify(asl)).not.toMatch(/\{%/);
  });
});
