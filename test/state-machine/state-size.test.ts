import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { listExecutions } from "../../local/runtime.js";
import { DirectoryFindingsStore } from "../../shared/adapters/local/directory-findings-store.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import { exampleConfig, startRuntime } from "../helpers/local.js";

/**
 * Step Functions refuses a state input or output over 256 KiB, measured as UTF-8 bytes (the
 * history's StateEntered `input` / StateExited `output` allow 262,144 bytes), and fails the whole
 * execution with States.DataLimitExceeded, which `States.ALL` does not catch: no failure email, no
 * recorded outcome. The margin below leaves room for longer names, ARNs and S3 keys than a test has.
 */
const STEP_FUNCTIONS_PAYLOAD_LIMIT = 256 * 1024;
const MARGIN_LIMIT = 64 * 1024;

const SERVICES = 60;
const FINDINGS_PER_SERVICE = 50;
const service = (i: number) => `svc-${String(i).padStart(2, "0")}`;
const cve = (i: number, j: number) => `CVE-2026-${String(10_000 + i * 100 + j)}`;

/** A Trivy JSON report (schema 2) of one service: half CRITICAL, half HIGH, long titles, all fixable. */
function report(i: number): string {
  return JSON.stringify({
    SchemaVersion: 2,
    ArtifactName: `123456789012.dkr.ecr.us-east-1.amazonaws.com/big-${service(i)}:v9.0.0`,
    ArtifactType: "container_image",
    Metadata: {
      RepoDigests: [
        `123456789012.dkr.ecr.us-east-1.amazonaws.com/big-${service(i)}@sha256:${"ab".repeat(32)}`,
      ],
    },
    Results: [
      {
        Target: `big-${service(i)} (debian 12.5)`,
        Class: "os-pkgs",
        Type: "debian",
        Vulnerabilities: Array.from({ length: FINDINGS_PER_SERVICE }, (_, j) => ({
          VulnerabilityID: cve(i, j),
          PkgName: `libexample-${j}-common`,
          InstalledVersion: `1.${j}.0-1+deb12u1`,
          FixedVersion: `1.${j}.0-1+deb12u2`,
          Status: "fixed",
          Severity: j % 2 === 0 ? "CRITICAL" : "HIGH",
          Title: `libexample: heap overflow in the parser of component ${j} ${"é".repeat(20)} ${"x".repeat(180)}`,
        })),
      },
    ],
  });
}

describe("execution state size with many rejected services (real ASL, local engine)", () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  it("60 services × 50 findings, all rejected: every state's input and output stays far under 256 KiB, FAILED as scan-rejected, the email names CVE ids", async () => {
    const base = exampleConfig();
    const config = {
      ...base,
      services: Array.from({ length: SERVICES }, (_, i) => ({
        name: service(i),
        repository: `big-${service(i)}`,
        dockerfile: `docker/Dockerfile-${service(i)}`,
        context: ".",
      })),
    };
    const env = await startRuntime({ config });
    stop = env.stop;
    const scanReports: Record<string, string> = {};
    for (let i = 0; i < SERVICES; i++) {
      const file = join(env.dir, `${service(i)}.json`);
      writeFileSync(file, report(i));
      scanReports[service(i)] = file;
    }

    const out = await env.runtime.release({ tag: "v9.0.0", scanReports });

    // Reached the end of the workflow: rejected by the gate, told, recorded (not killed by size).
    expect(out.status).toBe("FAILED");
    expect(out.error?.error).toBe("ScanPolicyRejectedError");
    expect(out.states.map((s) => s.name)).toEqual(
      expect.arrayContaining(["GateOnScan", "NotifyFailure", "RecordOutcome", "ReleaseFailed"]),
    );
    expect((await env.runtime.ledger.get("coffeeshop", "v9.0.0"))?.status).toBe("FAILED");

    // Every payload of the execution history, measured the way Step Functions does: UTF-8 bytes.
    const [record] = await listExecutions(join(env.dir, "state"));
    const payloads: { what: string; bytes: number }[] = [];
    for (const e of record?.history.events ?? []) {
      const d = e as {
        executionStartedEventDetails?: { input: string };
        stateEnteredEventDetails?: { name: string; input: string };
        stateExitedEventDetails?: { name: string; output: string };
      };
      const add = (what: string, text: string) =>
        payloads.push({ what, bytes: Buffer.byteLength(text, "utf8") });
      if (d.executionStartedEventDetails) add("execution input", d.executionStartedEventDetails.input);
      if (d.stateEnteredEventDetails)
        add(`${d.stateEnteredEventDetails.name} input`, d.stateEnteredEventDetails.input);
      if (d.stateExitedEventDetails)
        add(`${d.stateExitedEventDetails.name} output`, d.stateExitedEventDetails.output);
    }
    // Every state was seen: 60 iterations of the Map plus the states around it.
    expect(payloads.filter((p) => p.what === "EvaluateScan output")).toHaveLength(SERVICES);
    expect(payloads.some((p) => p.what === "NotifyFailure input")).toBe(true);
    // NotifyFailure and RecordOutcome hand the whole state to their Lambda (Parameters `release.$: $`);
    // the limit applies to the input after Parameters too, so measure that payload as AWS builds it.
    for (const name of ["NotifyFailure", "RecordOutcome"]) {
      const entered = (record?.history.events ?? []).find(
        (e) => (e as { stateEnteredEventDetails?: { name: string } }).stateEnteredEventDetails?.name === name,
      ) as { stateEnteredEventDetails: { input: string } } | undefined;
      const parameters = JSON.stringify({
        outcome: "FAILED",
        release: JSON.parse(entered?.stateEnteredEventDetails.input ?? "null"),
        executionId: out.executionId,
      });
      payloads.push({ what: `${name} parameters`, bytes: Buffer.byteLength(parameters, "utf8") });
    }
    const largest = payloads.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    console.info(
      `state-size: largest payload ${largest.what} = ${largest.bytes} bytes (${payloads.length} payloads; limit ${STEP_FUNCTIONS_PAYLOAD_LIMIT})`,
    );
    expect(payloads.filter((p) => p.bytes >= MARGIN_LIMIT)).toEqual([]);
    const evaluate = payloads.filter((p) => p.what === "EvaluateScan output");
    expect(Math.max(...evaluate.map((p) => p.bytes))).toBeLessThan(1024);

    // The state carries small references; every finding is in the stored document.
    const state = out.output as ReleaseState;
    const first = state.scans?.find((s) => s.service === service(0));
    expect(first?.blockingIds).toEqual(Array.from({ length: 10 }, (_, j) => cve(0, 2 * j)));
    expect(first?.blockingOmitted).toBe(FINDINGS_PER_SERVICE - 10);
    expect(first?.blockingCounts).toEqual({ CRITICAL: 25, HIGH: 25 });
    const stored = await new DirectoryFindingsStore(join(env.dir, "state", "reports")).read(
      first?.findings as string,
    );
    expect(stored.blocking).toHaveLength(FINDINGS_PER_SERVICE);
    expect(stored.blocking[0]).toMatchObject({
      pkg: expect.stringMatching(/^libexample-/),
      fixed: expect.any(String),
    });
    expect(first?.findings).toMatch(/\/reports\/coffeeshop\/v9\.0\.0\/svc-00\/findings\.json$/);

    // The email still names CVE ids, says how many more, and where the full list is.
    // The .eml is what SES was given; its parts are quoted-printable (soft line breaks, =XX).
    const eml = readFileSync(out.emails[0] as string, "utf8")
      .replace(/=\r?\n/g, "")
      .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    expect(eml).toContain("blocked: 1500 critical, 1500 high vulnerabilities");
    expect(eml).toContain(cve(0, 0));
    expect(eml).toContain(cve(59, 0));
    expect(eml).toContain("and 40 more; full list with packages and fixed versions: file://");
  });
});
