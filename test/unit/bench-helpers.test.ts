import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  type BenchRow,
  benchConfigYaml,
  benchDeployment,
  differingLines,
  estimateReleaseCost,
  formatRatio,
  formatTable,
  lambdaInvocations,
  median,
  onlyImageLinesDiffer,
} from "../../bench/helpers.js";
import { parseAppConfig } from "../../shared/contracts/app-config.js";
import { editImages } from "../../shared/domain/image-editor.js";

describe("bench helpers (pure; nothing here is timed)", () => {
  it("median of odd and even counts, input untouched", () => {
    const values = [5, 1, 3];
    expect(median(values)).toBe(3);
    expect(values).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow();
  });

  it("formatRatio refuses a zero or missing baseline", () => {
    expect(formatRatio(1, 4)).toBe("0.25x");
    expect(formatRatio(150, 10)).toBe("15.0x");
    expect(formatRatio(1, 0)).toBe("-");
  });

  it("pads every column to its widest cell and marks budgets", () => {
    const rows: BenchRow[] = [
      { what: "a", measured: "1 ms", budget: "≤ 2 ms", baseline: "-", ratio: "-", within: true, notes: "" },
      {
        what: "longer",
        measured: "3 ms",
        budget: "≤ 2 ms",
        baseline: "-",
        ratio: "-",
        within: false,
        notes: "x",
      },
      { what: "c", measured: "n/a", budget: "-", baseline: "-", ratio: "-", within: null, notes: "" },
    ];
    const lines = formatTable(rows).split("\n");
    expect(lines).toHaveLength(5);
    expect(lines[0]?.indexOf("| measured")).toBe(lines[2]?.indexOf("| 1 ms"));
    expect(lines[3]).toContain("✗");
    expect(lines[2]).toContain("✓");
  });

  it("costs: transitions, GB-seconds and requests from measured figures, builds from the assumption", () => {
    const lambdas = lambdaInvocations([
      { name: "ClaimRelease", durationMs: 1000 },
      { name: "BuildScanPush", durationMs: 60_000 },
      { name: "UpdateManifests", durationMs: 500 },
    ]);
    expect(lambdas.map((l) => l.state)).toEqual(["ClaimRelease", "UpdateManifests"]);
    const c = estimateReleaseCost({ transitions: 40, lambdas, services: 6, buildMinutesPerService: 3 });
    expect(c.stepFunctions).toBeCloseTo(0.001, 10);
    expect(c.lambdaGbSeconds).toBeCloseTo(0.25 + 0.25, 10);
    expect(c.codeBuild).toBeCloseTo(18 * 0.0034, 10);
    expect(c.githubActions).toBeCloseTo(18 * 0.008, 10);
    expect(c.total).toBeCloseTo(c.stepFunctions + c.lambdaCompute + c.lambdaRequests + c.codeBuild, 12);
  });

  it("the generated Deployment is ~100 lines of valid YAML, and a correct edit changes only image lines", () => {
    const repo = "123456789012.dkr.ecr.us-east-1.amazonaws.com/bench-edit-00";
    const before = benchDeployment(0, repo, `${repo}:v0.0.1`);
    const expected = benchDeployment(0, repo, `${repo}:v1.0.0`);
    expect(before.split("\n").length).toBeGreaterThanOrEqual(95);
    expect(() => parse(before)).not.toThrow();
    expect(differingLines(before, expected)).toHaveLength(3);
    expect(onlyImageLinesDiffer(before, expected)).toBe(true);
    const edited = editImages(before, [{ repository: repo, tag: "v1.0.0" }], {
      kind: "kubernetes",
      pin: "tag",
    });
    expect(edited.text).toBe(expected);
  });

  it("the generated config of N services is a valid app config", () => {
    const config = parseAppConfig(
      parse(benchConfigYaml(60, ["scan-reports/a.json", "scan-reports/b.json"])),
      "x",
    );
    expect(config.services).toHaveLength(60);
    expect(config.manifests.files).toHaveLength(61);
    expect(config.services[59]?.sampleScanReport).toBe("scan-reports/b.json");
  });
});
