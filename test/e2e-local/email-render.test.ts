import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../local/runtime.js";
import type { ScanResult } from "../../shared/contracts/release.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import { renderReleaseEmail } from "../../shared/domain/release-email.js";
import { tempDir } from "../helpers/local.js";

const run = promisify(execFile);
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const ARTIFACTS = join(PROJECT_ROOT, "test-artifacts");

if (!CHROMIUM) {
  console.warn(
    "email-render: SKIPPED, no headless Chromium at /usr/bin/chromium (Debian: apt-get install -y chromium)",
  );
}

const hostile = '<script>document.title="pwned"</script>';
const blocked: ReleaseState = {
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
  claim: { claimedAt: "2026-11-26T10:00:00.000Z" },
  scans: ["proxy", "web"].map(
    (service): ScanResult => ({
      service,
      image: {
        repository: `123456789012.dkr.ecr.us-east-1.amazonaws.com/go-coffeeshop-${service}`,
        tag: "v1.4.0",
        digest: `sha256:${"d".repeat(64)}`,
      },
      verdict: service === "web" ? ("REJECTED" as const) : ("PASSED" as const),
      counts: service === "web" ? { CRITICAL: 1, HIGH: 1 } : ({} as Record<string, number>),
      blockingIds: service === "web" ? [`CVE-2024-45337${hostile}`, "CVE-2023-45288"] : [],
      blockingOmitted: 0,
      blockingCounts: service === "web" ? { CRITICAL: 1, HIGH: 1 } : {},
      findings: `s3://pourover-reports/coffeeshop/v1.4.0/${service}/findings.json`,
      allowed: [],
      warnings: [],
      report: `s3://pourover-reports/coffeeshop/v1.4.0/${service}/trivy.json`,
      scannedBy: "trivy" as const,
    }),
  ),
  error: {
    Error: "ScanPolicyRejectedError",
    Cause: JSON.stringify({ errorMessage: "web: CVE-2024-45337, CVE-2023-45288" }),
  },
};

describe.skipIf(!CHROMIUM)("the HTML email renders in headless Chromium", () => {
  const profile = tempDir("pourover-chromium-");
  afterAll(() => profile.cleanup());

  const chromium = (args: string[]) =>
    run(
      CHROMIUM as string,
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile.path}`,
        ...args,
      ],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
    );

  it("a blocked release with hostile CVE title and pusher: a PNG screenshot, and no script in the DOM", async () => {
    const email = renderReleaseEmail({
      outcome: "FAILED",
      release: blocked,
      executionUrl:
        "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/arn%3Aaws%3Astates%3Aus-east-1%3A123456789012%3Aexecution%3Arelease%3Aabc",
      now: new Date("2026-11-26T10:03:05.000Z"),
      region: "us-east-1",
    });
    mkdirSync(ARTIFACTS, { recursive: true });
    const html = join(ARTIFACTS, "email-scan-rejected.html");
    const png = join(ARTIFACTS, "email-scan-rejected.png");
    writeFileSync(html, email.html);

    await chromium(["--window-size=1000,1100", `--screenshot=${png}`, `file://${html}`]);
    const bytes = readFileSync(png);
    expect(bytes.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
    // Width and height from the IHDR chunk: the window size asked for.
    expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([1000, 1100]);
    // A blank page compresses to almost nothing; the rendered tables and text do not.
    expect(statSync(png).size).toBeGreaterThan(20_000);

    const { stdout: dom } = await chromium(["--dump-dom", `file://${html}`]);
    expect(dom).not.toMatch(/<script/i);
    expect(dom).toContain(
      `<title>${"[coffeeshop] v1.4.0 blocked: 1 critical, 1 high vulnerabilities"}</title>`,
    );
    expect(dom).toContain('&lt;script&gt;document.title="pwned"&lt;/script&gt;');
  });
});
