import { Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import type { IConstruct } from "constructs";
import { beforeAll, describe, expect, it } from "vitest";
import { SYNTH_TIMEOUT_MS, synthPipeline } from "./synth-helper.js";

let app: IConstruct;
let synthError: unknown;

beforeAll(() => {
  try {
    // nag: true registers AwsSolutionsChecks exactly as infra/app.ts does for `cdk synth`: any
    // unacknowledged finding makes app.synth() throw.
    app = synthPipeline({ nag: true, bundle: false }).app;
  } catch (error) {
    synthError = error;
  }
}, SYNTH_TIMEOUT_MS);

interface Ack {
  path: string;
  id: string;
  reason: string;
}

function acknowledgements(root: IConstruct): Ack[] {
  const acks: Ack[] = [];
  for (const c of root.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY || !entry.data) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        acks.push({ path: c.node.path, id: id.replace(/^annotation::/i, ""), reason: String(reason) });
      }
    }
  }
  return acks;
}

describe("cdk-nag AwsSolutions", () => {
  it("synthesizes with the checks registered and no unacknowledged error or warning", () => {
    expect(synthError).toBeUndefined();
    const report = new AwsSolutionsChecks().validateScope(app);
    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(", ")}`,
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it("gives every acknowledgement a reason of at least 10 words", () => {
    // aws-cdk-lib records its own acknowledgements (e.g. CloudFormation-Validate::W3045 on a log
    // bucket); only ours are nag rule acknowledgements.
    const all = acknowledgements(app);
    for (const ack of all) expect(ack.id, ack.path).toMatch(/^(AwsSolutions-|CloudFormation-Validate::)/);
    const acks = all.filter((a) => a.id.startsWith("AwsSolutions-"));
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.id, ack.path).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      const words = ack.reason.trim().split(/\s+/).filter(Boolean);
      expect(words.length, `${ack.path} ${ack.id}: "${ack.reason}"`).toBeGreaterThanOrEqual(10);
    }
  });

  it("acknowledges IAM5 only for specific findings, never a whole rule", () => {
    for (const ack of acknowledgements(app)) {
      if (ack.id.startsWith("AwsSolutions-IAM5"))
        expect(ack.id).toMatch(/^AwsSolutions-IAM5\[(Resource|Action)::.+\]$/);
    }
  });
});

describe("cdk-nag AwsSolutions on the whole app with every documented context", () => {
  it(
    "app.synth() (what `cdk synth` runs) passes with the dev host, prod feedback, alarm email and reserved concurrency",
    () => {
      // The dev host stack reads the pipeline bucket of another stack: cdk-nag sees that reference only
      // as the app synthesizes it (an import), so the acknowledgement must name what synth produces.
      const synth = () =>
        synthPipeline({
          nag: true,
          bundle: false,
          context: {
            "pourover:devHost": '{"instanceType":"t3.small","allowedCidr":"203.0.113.0/24"}',
            "pourover:prodFeedback": "true",
            "pourover:alarmEmail": "oncall@example.com",
            "pourover:webhookReservedConcurrency": "10",
          },
        });
      let built: ReturnType<typeof synthPipeline> | undefined;
      expect(() => {
        built = synth();
      }).not.toThrow();
      expect(built?.devHost).toBeDefined();
      const report = new AwsSolutionsChecks().validateScope(built?.app as IConstruct);
      expect(report.violations.map((v) => v.ruleName)).toEqual([]);
    },
    SYNTH_TIMEOUT_MS,
  );
});
