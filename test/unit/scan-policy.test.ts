import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ScanPolicy } from "../../shared/contracts/app-config.js";
import { InvalidScanReportError } from "../../shared/domain/errors.js";
import { applyScanPolicy, MAX_BLOCKING_FINDINGS } from "../../shared/domain/scan-policy.js";
import { parseTrivyReport, reportDigest } from "../../shared/domain/trivy-report.js";
import { CRITICAL_REPORT, EXAMPLE_DIR } from "../helpers/local.js";

const policy = (over: Partial<ScanPolicy> = {}): ScanPolicy => ({
  failOn: ["CRITICAL", "HIGH"],
  ignoreUnfixed: false,
  allow: [],
  ...over,
});
const TODAY = "2026-11-26";
const vuln = (id: string, severity: string, fixed?: string) => ({
  VulnerabilityID: id,
  PkgName: "pkg",
  InstalledVersion: "1.0.0",
  ...(fixed ? { FixedVersion: fixed } : {}),
  Severity: severity,
  Title: `title of ${id}`,
});
const report = (vulns: unknown[] | null, extra: Record<string, unknown> = {}) =>
  parseTrivyReport(
    JSON.stringify({
      SchemaVersion: 2,
      ArtifactName: "img",
      Results: [{ Target: "t", Class: "os-pkgs", Vulnerabilities: vulns }],
      ...extra,
    }),
  );

describe("Trivy report parsing", () => {
  it("accepts missing and null Results (an empty image)", () => {
    expect(
      applyScanPolicy(parseTrivyReport('{"SchemaVersion":2,"ArtifactName":"x"}'), policy(), TODAY).verdict,
    ).toBe("PASSED");
    expect(
      applyScanPolicy(
        parseTrivyReport('{"SchemaVersion":2,"ArtifactName":"x","Results":null}'),
        policy(),
        TODAY,
      ).verdict,
    ).toBe("PASSED");
  });

  it.each([
    ["not JSON", "{"],
    ["schema version 1", '{"SchemaVersion":1,"ArtifactName":"x"}'],
    ["an npm package.json", '{"name":"x","version":"1.0.0"}'],
    ["Results not a list", '{"SchemaVersion":2,"ArtifactName":"x","Results":{}}'],
    [
      "a vulnerability without id",
      '{"SchemaVersion":2,"ArtifactName":"x","Results":[{"Target":"t","Vulnerabilities":[{"Severity":"HIGH"}]}]}',
    ],
  ])("rejects %s as not a Trivy report", (_, text) => {
    expect(() => parseTrivyReport(text)).toThrow(InvalidScanReportError);
  });

  it("reads the digest Trivy saw, and every example sample report parses", () => {
    for (const s of ["proxy", "product", "counter", "barista", "kitchen", "web"]) {
      const r = parseTrivyReport(readFileSync(join(EXAMPLE_DIR, "scan-reports", `${s}.json`), "utf8"));
      expect(reportDigest(r)).toMatch(/^sha256:[a-f0-9]{64}$/);
    }
  });
});

describe("scan policy", () => {
  it("clean report passes", () => {
    expect(applyScanPolicy(report([]), policy(), TODAY)).toMatchObject({ verdict: "PASSED", blocking: [] });
  });

  it("fixed CRITICAL blocks; several targets and classes are all read", () => {
    const r = parseTrivyReport(readFileSync(CRITICAL_REPORT, "utf8"));
    const v = applyScanPolicy(r, policy(), TODAY);
    expect(v.verdict).toBe("REJECTED");
    expect(v.blocking.map((b) => b.id)).toEqual(["CVE-2024-45337", "CVE-2023-5363"]);
    expect(v.counts).toEqual({ HIGH: 1, CRITICAL: 1, MEDIUM: 1 });
  });

  it("unfixed CRITICAL blocks unless ignoreUnfixed", () => {
    const r = report([vuln("CVE-1", "CRITICAL")]);
    expect(applyScanPolicy(r, policy(), TODAY).verdict).toBe("REJECTED");
    expect(applyScanPolicy(r, policy({ ignoreUnfixed: true }), TODAY).verdict).toBe("PASSED");
  });

  it("HIGH only: blocks with the default policy, passes with failOn CRITICAL", () => {
    const r = report([vuln("CVE-2", "HIGH", "2.0")]);
    expect(applyScanPolicy(r, policy(), TODAY).verdict).toBe("REJECTED");
    expect(applyScanPolicy(r, policy({ failOn: ["CRITICAL"] }), TODAY).verdict).toBe("PASSED");
  });

  it("an allow-listed id passes and is listed; an entry expiring soon warns", () => {
    const r = report([vuln("CVE-3", "CRITICAL", "3.0")]);
    const v = applyScanPolicy(
      r,
      policy({ allow: [{ id: "CVE-3", reason: "not reachable", expires: "2026-12-01" }] }),
      TODAY,
    );
    expect(v.verdict).toBe("PASSED");
    expect(v.allowed).toEqual(["CVE-3"]);
    expect(v.warnings[0]).toContain("expires on 2026-12-01");
  });

  it("an expired allow-list entry no longer allows, and says so", () => {
    const r = report([vuln("CVE-4", "CRITICAL", "4.0")]);
    const v = applyScanPolicy(
      r,
      policy({ allow: [{ id: "CVE-4", reason: "old", expires: "2026-11-25" }] }),
      TODAY,
    );
    expect(v.verdict).toBe("REJECTED");
    expect(v.warnings[0]).toContain("expired");
  });

  it("an unknown severity word makes the report invalid, never a pass", () => {
    expect(() => report([vuln("CVE-5", "NEGLIGIBLE", "1")])).toThrow(InvalidScanReportError);
    expect(() => report([vuln("CVE-5", "NEGLIGIBLE", "1")])).toThrow(
      /severity "NEGLIGIBLE", not one of Trivy's/,
    );
    expect(() => report([vuln("CVE-5", "", "1")])).toThrow(InvalidScanReportError);
    expect(() => report([vuln("CVE-5", "CRIT ICAL", "1")])).toThrow(InvalidScanReportError);
    // No severity at all: Trivy always writes one, so this is not a Trivy report either.
    expect(() => report([{ VulnerabilityID: "CVE-6", PkgName: "p", InstalledVersion: "1" }])).toThrow(
      InvalidScanReportError,
    );
  });

  it.each([
    ["a trailing space", "CRITICAL "],
    ["a leading tab and a trailing newline", "\tCRITICAL\n"],
    ["lower case", "critical"],
    ["a zero-width space", "CRIT\u200bICAL"],
    ["a zero-width joiner and a BOM", "\ufeffCRITICAL\u200d"],
    ["a control character", "CRITICAL\u0007"],
    ["a no-break space", "\u00a0CRITICAL"],
  ])("a CRITICAL with %s still blocks, counted as CRITICAL", (_, severity) => {
    const v = applyScanPolicy(report([vuln("CVE-7", severity, "1.1")]), policy(), TODAY);
    expect(v.verdict).toBe("REJECTED");
    expect(v.counts).toEqual({ CRITICAL: 1 });
    expect(v.blocking[0]?.severity).toBe("CRITICAL");
  });

  it.each([
    ["LOW then CRITICAL", ["LOW", "CRITICAL"]],
    ["CRITICAL then LOW", ["CRITICAL", "LOW"]],
  ])("a finding reported in two targets as %s keeps the highest severity", (_, severities) => {
    const r = parseTrivyReport(
      JSON.stringify({
        SchemaVersion: 2,
        ArtifactName: "img",
        Results: severities.map((severity, i) => ({
          Target: `layer-${i}`,
          Class: "lang-pkgs",
          Vulnerabilities: [vuln("CVE-2024-45337", severity, "0.31.0")],
        })),
      }),
    );
    const v = applyScanPolicy(r, policy(), TODAY);
    expect(v.verdict).toBe("REJECTED");
    expect(v.counts).toEqual({ CRITICAL: 1 });
    expect(v.blocking).toHaveLength(1);
    expect(v.blocking[0]).toMatchObject({ id: "CVE-2024-45337", severity: "CRITICAL" });
  });

  it("a report built without parseTrivyReport is still refused on an unknown severity", () => {
    const raw = {
      SchemaVersion: 2 as const,
      ArtifactName: "img",
      Results: [
        {
          Target: "t",
          Vulnerabilities: [{ ...vuln("CVE-8", "SEVERE", "1"), PkgName: "p", InstalledVersion: "1" }],
        },
      ],
    };
    expect(() => applyScanPolicy(raw, policy(), TODAY)).toThrow(InvalidScanReportError);
  });

  it("blocking findings are capped for the state payload, with the rest counted", () => {
    const many = Array.from({ length: 50 }, (_, i) => vuln(`CVE-2026-${1000 + i}`, "HIGH", "9"));
    const v = applyScanPolicy(report(many), policy(), TODAY);
    expect(v.blocking).toHaveLength(MAX_BLOCKING_FINDINGS);
    expect(v.blockingOmitted).toBe(50 - MAX_BLOCKING_FINDINGS);
  });
});
