import { describe, expect, it } from "vitest";
import type { ScanResult } from "../../shared/contracts/release.js";
import {
  type Changelog,
  renderPullRequestBody,
  withDevSection,
} from "../../shared/domain/pull-request-body.js";

const REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const OLD = `sha256:${"1".repeat(64)}`;
const NEW = `sha256:${"a".repeat(64)}`;
const URL =
  "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/arn:aws:states:us-east-1:123456789012:execution:pourover-coffeeshop-release:coffeeshop-v1.3.0-1";

function scan(service: string, counts: Record<string, number>, allowed: string[] = []): ScanResult {
  return {
    service,
    image: { repository: `${REGISTRY}/go-coffeeshop-${service}`, tag: "v1.3.0", digest: NEW },
    verdict: "PASSED",
    counts,
    blockingIds: [],
    blockingOmitted: 0,
    blockingCounts: {},
    allowed,
    warnings: [],
    report: `s3://reports/coffeeshop/v1.3.0/${service}/trivy.json`,
    findings: `s3://reports/coffeeshop/v1.3.0/${service}/findings.json`,
    scannedBy: "trivy",
  };
}

const changelog: Changelog = {
  available: true,
  base: "v1.2.0",
  head: "v1.3.0",
  total: 23,
  url: "https://github.com/thangchung/go-coffeeshop/compare/v1.2.0...v1.3.0",
  commits: [
    {
      sha: "0123456789abcdef0123456789abcdef01234567",
      title: "counter: retry order placement",
      author: "alice",
    },
    { sha: "89abcdef0123456789abcdef0123456789abcdef", title: "web: show the queue length", author: "bob" },
  ],
};

function body(): string {
  return renderPullRequestBody({
    app: "coffeeshop",
    tag: "v1.3.0",
    changes: ["web", "counter"].map((service, i) => ({
      path: i === 0 ? "k8s/web/deployment.yaml" : "docker-compose.yml",
      line: 20 + i,
      repository: `${REGISTRY}/go-coffeeshop-${service}`,
      before: `${REGISTRY}/go-coffeeshop-${service}:v1.2.0@${OLD}`,
      after: `${REGISTRY}/go-coffeeshop-${service}:v1.3.0@${NEW}`,
    })),
    scans: [
      scan("web", { HIGH: 0, MEDIUM: 3, LOW: 7 }, ["CVE-2024-24790"]),
      scan("counter", { CRITICAL: 0, LOW: 2 }),
    ],
    allowList: [
      { id: "CVE-2024-24790", reason: "net/netip: not reachable from our handlers", expires: "2027-01-31" },
    ],
    changelog,
    executionUrl: URL,
  });
}

describe("the release PR body", () => {
  it("golden: per service old → new tag and digest, the scan summary with allow-listed expiries, the capped changelog, the dev result", async () => {
    const opened = body();
    const reported = withDevSection(opened, { kind: "healthy", hosts: 2, dryRun: false }, URL);
    await expect(reported).toMatchFileSnapshot("../fixtures/golden/pull-request-body.md");
    // Only the dev section changed.
    expect(reported.replace(/<!-- pourover:dev -->[\s\S]*<!-- \/pourover:dev -->/, "")).toBe(
      opened.replace(/<!-- pourover:dev -->[\s\S]*<!-- \/pourover:dev -->/, ""),
    );
  });

  it("says each dev outcome in one line, and an unavailable changelog says why", () => {
    const opened = renderPullRequestBody({
      app: "coffeeshop",
      tag: "v1.3.0",
      changes: [],
      scans: [],
      allowList: [],
      changelog: { available: false, reason: "no source history here (locally: pass --source <checkout>)" },
      executionUrl: URL,
    });
    expect(opened).toContain("**Dev deploy:** pending");
    expect(opened).toContain(
      "Changelog unavailable: no source history here (locally: pass --source <checkout>).",
    );
    expect(withDevSection(opened, { kind: "superseded", by: "v1.4.0" }, URL)).toContain(
      "**Dev deploy:** superseded by v1.4.0, not deployed",
    );
    expect(
      withDevSection(opened, { kind: "rolled-back", reason: "web unhealthy after 120 s" }, URL),
    ).toContain("**Dev deploy:** rolled back: web unhealthy after 120 s");
    expect(
      withDevSection(
        opened,
        { kind: "failed", error: "DevAgentOfflineError", reason: "i-0abc is offline" },
        URL,
      ),
    ).toContain("**Dev deploy:** failed (DevAgentOfflineError): i-0abc is offline");
    // A body whose markers a person removed gets the section appended, the rest kept.
    const edited = opened.replace(/<!-- pourover:dev -->[\s\S]*<!-- \/pourover:dev -->/, "my notes");
    const again = withDevSection(edited, { kind: "healthy", hosts: 1, dryRun: false }, URL);
    expect(again.startsWith(edited)).toBe(true);
    expect(again).toContain("**Dev deploy:** deployed and healthy on 1 host");
  });
});
