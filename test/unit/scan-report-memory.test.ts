import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../local/paths.js";
import { tempDir } from "../helpers/local.js";

/**
 * A 50 MB Trivy report (long descriptions, as real reports carry) is parsed in a fresh process, and
 * the process's peak resident memory is read from the kernel (`resourceUsage().maxRSS`). Before the
 * projection parser a 50 MB report held about 670 MB; JSON.parse alone builds every description.
 * Memory, not time: the figure is the same on a slow or busy machine.
 */
describe("a 50 MB scan report is parsed without holding the whole tree", () => {
  const dir = tempDir("pourover-report-memory-");
  afterAll(() => dir.cleanup());

  it("peak RSS stays under half of the 670 MB it took before, and every finding is read", () => {
    // Written by this process, so the child's peak is reading and parsing, nothing else.
    const file = join(dir.path, "trivy.json");
    const description = "x".repeat(2_000);
    const vulns: unknown[] = [];
    for (let i = 0; vulns.length * 2_200 < 50 * 1024 * 1024; i++)
      vulns.push({
        VulnerabilityID: `CVE-2026-${i}`,
        PkgName: `pkg${i % 97}`,
        InstalledVersion: `1.0.${i}`,
        Severity: ["LOW", "MEDIUM", "HIGH", "CRITICAL"][i % 4],
        Title: `t${i}`,
        Description: description,
        References: [`https://example.org/${i}`],
      });
    writeFileSync(
      file,
      JSON.stringify({
        SchemaVersion: 2,
        ArtifactName: "img",
        Results: [{ Target: "t", Class: "os-pkgs", Vulnerabilities: vulns }],
      }),
    );
    const program = join(dir.path, "parse.ts");
    writeFileSync(
      program,
      `import { readFileSync } from "node:fs";
import { parseTrivyReport } from ${JSON.stringify(join(PROJECT_ROOT, "shared/domain/trivy-report.ts"))};
const before = process.memoryUsage().rss;
const report = parseTrivyReport(readFileSync(${JSON.stringify(file)}, "utf8"));
const findings = report.Results?.[0]?.Vulnerabilities?.length ?? 0;
console.log(JSON.stringify({ findings, beforeMb: before / 1048576, peakMb: process.resourceUsage().maxRSS / 1024 }));
`,
    );
    const run = spawnSync(process.execPath, ["--import", "tsx", program], {
      cwd: PROJECT_ROOT,
      encoding: "utf8",
    });
    expect(
      run.stderr.replace(/^.*(NodeDeprecationWarning|node >=22|a\.co|trace-warnings|^\s*$).*$/gm, "").trim(),
    ).toBe("");
    const out = JSON.parse(run.stdout.trim().split("\n").pop() ?? "{}") as {
      findings: number;
      beforeMb: number;
      peakMb: number;
    };
    expect(out.findings).toBeGreaterThan(23_000);
    console.log(
      `50 MB report: RSS ${out.beforeMb.toFixed(0)} MB before parsing, peak ${out.peakMb.toFixed(0)} MB`,
    );
    expect(out.peakMb).toBeLessThan(335);
  }, 120_000);
});
