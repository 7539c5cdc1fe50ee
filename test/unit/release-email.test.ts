import { describe, expect, it } from "vitest";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import { renderReleaseEmail } from "../../shared/domain/release-email.js";

const hostile = '<script>alert("x")</script>';
const release: ReleaseState = {
  app: "coffeeshop",
  tag: "v1.4.0",
  trigger: {
    source: "github",
    repository: "o/r",
    commit: "a".repeat(40),
    pusher: `mallory${hostile}`,
    deliveryId: "d",
  },
  force: false,
  scans: [
    {
      service: "web",
      image: { repository: "r/web", tag: "v1.4.0", digest: `sha256:${"d".repeat(64)}` },
      verdict: "REJECTED",
      counts: { CRITICAL: 2 },
      blocking: [
        {
          id: "CVE-2024-45337",
          pkg: "golang.org/x/crypto",
          installed: "0.21.0",
          fixed: "0.31.0",
          severity: "CRITICAL",
          title: `bypass ${hostile}`,
        },
        { id: "CVE-2024-0001", pkg: "libc", installed: "1", fixed: "", severity: "CRITICAL", title: "t" },
      ],
      blockingOmitted: 0,
      allowed: [],
      warnings: [],
      report: "s3://reports/coffeeshop/v1.4.0/web/trivy.json",
      scannedBy: "trivy",
    },
  ],
  error: {
    Error: "ScanPolicyRejectedError",
    Cause: JSON.stringify({ errorType: "ScanPolicyRejectedError", errorMessage: "web: CVE-2024-45337" }),
  },
};

describe("release email", () => {
  it("a blocked release: scannable subject, CVEs with package and versions, what to do next, links", () => {
    const e = renderReleaseEmail({ outcome: "FAILED", release, executionUrl: "https://console/x" });
    expect(e.subject).toBe("[coffeeshop] v1.4.0 blocked: 2 critical vulnerabilities");
    expect(e.text).toContain("CVE-2024-45337 CRITICAL golang.org/x/crypto 0.21.0 (fixed in 0.31.0)");
    expect(e.text).toContain("CVE-2024-0001 CRITICAL libc 1 (no fix yet)");
    expect(e.text).toContain("Next: Fix or upgrade");
    expect(e.text).toContain("s3://reports/coffeeshop/v1.4.0/web/trivy.json");
    expect(e.html).toContain('href="https://console/x"');
  });

  it("escapes user-controlled text (pusher, CVE title) in HTML", () => {
    const e = renderReleaseEmail({ outcome: "FAILED", release, executionUrl: "https://console/x" });
    expect(e.html).not.toContain("<script>");
    expect(e.html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
  });

  it("success mail never goes out claiming a deploy that was a dry run, and never with an empty version", () => {
    const ok: ReleaseState = {
      ...release,
      scans: [],
      error: undefined,
      deploy: {
        commandId: "c",
        result: { instances: [{ instanceId: "localhost", status: "Success", summary: "dry" }], dryRun: true },
      },
    };
    expect(renderReleaseEmail({ outcome: "SUCCEEDED", release: ok, executionUrl: "u" }).subject).toBe(
      "[coffeeshop] v1.4.0 ready: dev deploy was a dry run",
    );
    const real = { ...ok, deploy: { commandId: "c", result: { instances: [], dryRun: false } } };
    expect(renderReleaseEmail({ outcome: "SUCCEEDED", release: real, executionUrl: "u" }).subject).toBe(
      "[coffeeshop] v1.4.0 released to dev",
    );
    expect(
      renderReleaseEmail({ outcome: "FAILED", release: { ...release, tag: "" }, executionUrl: "u" }).subject,
    ).toContain("(no tag)");
  });
});
