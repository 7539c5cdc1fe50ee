import { describe, expect, it } from "vitest";
import { recipientsFor } from "../../functions/send-notification/send-notification.js";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import { notifyOutcomeOf, renderReleaseEmail } from "../../shared/domain/release-email.js";

const hostile = '<script>alert("x")</script>';
const digest = `sha256:${"d".repeat(64)}`;
const lambdaCause = (name: string, message: string) =>
  JSON.stringify({ errorType: name, errorMessage: message, trace: [] });

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
  claim: { claimedAt: "2026-11-26T10:00:00.000Z" },
  scans: [
    {
      service: "web",
      image: { repository: "r/web", tag: "v1.4.0", digest },
      verdict: "REJECTED",
      counts: { CRITICAL: 4, HIGH: 1, LOW: 7 },
      blockingIds: ["CVE-2024-45337", `CVE-2024-0001${hostile}`],
      blockingOmitted: 3,
      blockingCounts: { HIGH: 1, CRITICAL: 4 },
      allowed: [],
      warnings: [],
      report: "s3://reports/coffeeshop/v1.4.0/web/trivy.json",
      findings: "s3://reports/coffeeshop/v1.4.0/web/findings.json",
      scannedBy: "trivy",
    },
  ],
  error: {
    Error: "ScanPolicyRejectedError",
    Cause: lambdaCause("ScanPolicyRejectedError", "web: CVE-2024-45337"),
  },
};
const now = new Date("2026-11-26T10:04:12.000Z");
const render = (outcome: "SUCCEEDED" | "FAILED", r: ReleaseState) =>
  renderReleaseEmail({ outcome, release: r, executionUrl: "https://console/x", now, region: "eu-west-1" });
const failed = (name: string, message: string, extra: Partial<ReleaseState> = {}): ReleaseState => ({
  ...release,
  scans: [],
  ...extra,
  error: { Error: name, Cause: lambdaCause(name, message) },
});
const passed: ReleaseState = {
  ...release,
  error: undefined,
  scans: [],
  gate: { images: [{ service: "web", repository: "r/web", tag: "v1.4.0", digest }], warnings: [] },
  pullRequest: {
    branch: "release/coffeeshop/v1.4.0",
    commit: "b".repeat(40),
    url: "https://github.com/o/gitops/pull/7",
    number: 7,
    changedFiles: ["k8s/web/deployment.yaml"],
    composeObject: "k",
    unchanged: false,
  },
  deploy: {
    commandId: "c",
    result: {
      instances: [{ instanceId: "i-0", status: "Success", summary: '{"status":"deployed"}' }],
      dryRun: false,
    },
  },
};

describe("release email: one template set, every outcome", () => {
  it("scan rejected: every blocking finding counted, the listed CVE ids, how many more and where the full list is", () => {
    const e = render("FAILED", release);
    // All five blocking findings (the summary's counts), not only the two ids it lists.
    expect(e.subject).toBe("[coffeeshop] v1.4.0 blocked: 4 critical, 1 high vulnerabilities");
    expect(e.text).toContain("web blocked by 5 findings (4 critical, 1 high)");
    expect(e.text).toMatch(/- CVE-2024-45337\n\s+- CVE-2024-0001/);
    const fullList =
      "... and 3 more; full list with packages and fixed versions: s3://reports/coffeeshop/v1.4.0/web/findings.json";
    expect(e.text).toContain(fullList);
    expect(e.text).toContain("Next: Fix or upgrade the affected packages");
    expect(e.text).toContain("s3://reports/coffeeshop/v1.4.0/web/trivy.json");
    expect(e.html).toContain('href="https://console/x"');
    expect(e.html).toContain(
      'href="https://s3.console.aws.amazon.com/s3/object/reports?prefix=coffeeshop%2Fv1.4.0%2Fweb%2Ffindings.json&amp;region=eu-west-1"',
    );
    expect(e.html).toContain(
      'href="https://s3.console.aws.amazon.com/s3/object/reports?prefix=coffeeshop%2Fv1.4.0%2Fweb%2Ftrivy.json&amp;region=eu-west-1"',
    );
  });

  it("scan rejected with every finding listed: no 'more', still the full list's link", () => {
    const scan = (release.scans ?? [])[0] as NonNullable<ReleaseState["scans"]>[number];
    const e = render("FAILED", {
      ...release,
      scans: [
        { ...scan, blockingIds: ["CVE-2024-45337"], blockingOmitted: 0, blockingCounts: { CRITICAL: 1 } },
      ],
    });
    expect(e.subject).toBe("[coffeeshop] v1.4.0 blocked: 1 critical vulnerability");
    expect(e.text).toContain("web blocked by 1 finding (1 critical)");
    expect(e.text).not.toContain("more; full list");
    expect(e.text).toContain(
      "Full list with packages and fixed versions: s3://reports/coffeeshop/v1.4.0/web/findings.json",
    );
  });

  it("released to dev: digests, PR, host result, pusher, commit, duration; the body says what to do", () => {
    const e = render("SUCCEEDED", passed);
    expect(e.subject).toBe("[coffeeshop] v1.4.0 released to dev");
    expect(e.text).toContain(`web      r/web:v1.4.0  ${digest}`);
    expect(e.text).toContain(
      "Pull request #7 (release/coffeeshop/v1.4.0): https://github.com/o/gitops/pull/7",
    );
    expect(e.text).toMatch(/Pushed by:\s+mallory.* \(git tag on o\/r\)/);
    expect(e.text).toMatch(new RegExp(`Commit:\\s+${"a".repeat(40)}`));
    expect(e.text).toMatch(/Duration:\s+4m 12s from claim to this email/);
    expect(e.text).toContain("Stage timings");
    expect(e.text).toContain("Next: Check dev, then review and merge the pull request");
    expect(e.html).toContain('<a href="https://github.com/o/gitops/pull/7"');
  });

  it("never claims a deploy that was a dry run, and never goes out with an empty version", () => {
    const dry: ReleaseState = {
      ...passed,
      deploy: { commandId: "c", result: { instances: [], dryRun: true } },
    };
    expect(render("SUCCEEDED", dry).subject).toBe("[coffeeshop] v1.4.0 ready: dev deploy was a dry run");
    expect(render("SUCCEEDED", dry).text).toContain("It was NOT deployed");
    expect(render("FAILED", { ...release, tag: "" }).subject).toContain("(no tag)");
  });

  it("build failed: the service and phase from CodeBuild's Cause; a scanner crash is not a verdict", () => {
    const codebuild = JSON.stringify({
      Id: "b:1",
      Phases: [
        { PhaseType: "SUBMITTED", PhaseStatus: "SUCCEEDED" },
        { PhaseType: "BUILD", PhaseStatus: "FAILED" },
      ],
      Environment: {
        EnvironmentVariables: [{ Name: "POUROVER_SERVICE", Value: "kitchen", Type: "PLAINTEXT" }],
      },
    });
    const build = render("FAILED", {
      ...release,
      scans: [],
      error: { Error: "States.TaskFailed", Cause: codebuild },
    });
    expect(build.subject).toBe("[coffeeshop] v1.4.0 build failed: kitchen, BUILD phase");
    expect(build.text).toContain("Building kitchen of v1.4.0 failed in the BUILD phase");
    const scan = render(
      "FAILED",
      failed(
        "ScanFailedError",
        "barista: the scan of build b:2 produced no usable report (scanner exit code 2)",
      ),
    );
    expect(scan.subject).toBe("[coffeeshop] v1.4.0 scan failed: barista");
    expect(scan.text).toContain("This is not a vulnerability verdict");
    expect(render("FAILED", { ...release, scans: [], error: { Error: "States.TaskFailed" } }).subject).toBe(
      "[coffeeshop] v1.4.0 build failed",
    );
  });

  it("manifest update failed: each cause gets its own next step", () => {
    expect(render("FAILED", failed("VersionRegressionError", "pins v9.0.0")).text).toContain(
      "release this one again with force",
    );
    const conflict = render("FAILED", failed("ManifestConflictError", "base moved"));
    expect(conflict.subject).toBe("[coffeeshop] v1.4.0 manifest update failed");
    expect(conflict.text).toContain("The base branch kept moving");
  });

  it("dev deploy failed: the rollback result per host, from the hosts' own result lines", () => {
    const hosts =
      'i-0aaa Failed {"status":"rolled-back","step":"health","error":"health check failed","rollback":"ok"}; i-0bbb Success {"status":"deployed"}';
    const rolled = render(
      "FAILED",
      failed(
        "DevDeployRolledBackError",
        `dev deploy failed for coffeeshop v1.4.0 on 1 of 2 dev instances: ${hosts}`,
        {
          pullRequest: passed.pullRequest,
        },
      ),
    );
    expect(rolled.subject).toBe("[coffeeshop] v1.4.0 dev deploy failed (rolled back)");
    expect(rolled.text).toMatch(/i-0aaa\s+Failed\s+rolled-back\s+health\s+ok/);
    expect(rolled.text).toMatch(/i-0bbb\s+Success\s+deployed\s+-\s+-/);
    expect(rolled.text).toContain("Do not merge the pull request until dev runs it");
    // An older DevDeployFailedError message: the rollback is read from the JSON line.
    const broken = render(
      "FAILED",
      failed(
        "DevDeployFailedError",
        'dev deploy failed on 1 of 1 instances: i-0ccc Failed {"status":"rollback-failed","rollback":"failed"}',
      ),
    );
    expect(broken.subject).toBe("[coffeeshop] v1.4.0 dev deploy failed (rollback failed)");
    expect(broken.text).toContain("Dev needs a person now");
    expect(render("FAILED", failed("NoDevInstancesError", "none")).subject).toBe(
      "[coffeeshop] v1.4.0 dev deploy failed: no dev host",
    );
  });

  it("waiting for images timed out: the missing images, and how to get the release going", () => {
    const e = render(
      "FAILED",
      failed(
        "ImagesNotReadyError",
        "waiting for 2 of 6 images of v1.4.0: go-coffeeshop-kitchen:v1.4.0, go-coffeeshop-web:v1.4.0",
        {
          trigger: { source: "ecr", repository: "go-coffeeshop-proxy", digest },
        },
      ),
    );
    expect(e.subject).toBe("[coffeeshop] v1.4.0 images not ready: gave up waiting for 2 images");
    expect(e.text).toContain("  - go-coffeeshop-kitchen:v1.4.0\n  - go-coffeeshop-web:v1.4.0");
    expect(e.text).toMatch(/Triggered by:\s+image push to ECR go-coffeeshop-proxy@sha256:d{64}/);
    expect(e.text).toContain("Push the missing images with the same tag");
  });

  it("text and HTML carry the same facts (one template set)", () => {
    for (const [outcome, r] of [
      ["SUCCEEDED", passed],
      ["FAILED", release],
    ] as const) {
      const e = render(outcome, r);
      for (const fact of ["v1.4.0", "Next:", "Execution", "Stage timings", "4m 12s"]) {
        expect(e.text).toContain(fact);
        expect(e.html).toContain(fact);
      }
    }
  });
});

describe("release email: hostile input is escaped in HTML", () => {
  const evil: ReleaseState = {
    ...passed,
    tag: `v1.0.0<img src=x onerror=alert(1)>`,
    trigger: { source: "cli", pusher: hostile, commit: `"><script>alert(2)</script>` },
    pullRequest: {
      ...(passed.pullRequest as NonNullable<ReleaseState["pullRequest"]>),
      url: "javascript:alert(3)",
    },
    scans: release.scans,
  };

  it("tag, pusher, commit note, CVE id, error message: no markup survives", () => {
    for (const e of [
      render("SUCCEEDED", evil),
      render("FAILED", {
        ...evil,
        error: { Error: "ScanPolicyRejectedError", Cause: lambdaCause("X", hostile) },
      }),
    ]) {
      expect(e.html).not.toMatch(/<script|<img|onerror=alert\(1\)>/i);
      expect(e.html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
      expect(e.html).toContain("v1.0.0&lt;img src=x onerror=alert(1)&gt;");
      // A non-http link is shown as text, never made clickable.
      expect(e.html).not.toContain('href="javascript:');
      // The text part is plain text: it keeps the characters as they were.
      expect(e.text).toContain(hostile);
    }
  });
});

describe("recipients per outcome", () => {
  const notify: AppConfig["notify"] = {
    from: "releases@example.com",
    to: ["dev@example.com"],
    onFailure: ["oncall@example.com"],
    byOutcome: { "scan-rejected": ["security@example.com", "dev@example.com"], released: ["pm@example.com"] },
  };

  it("to, plus onFailure on failure, plus byOutcome for that outcome, without duplicates", () => {
    expect(recipientsFor(notify, "SUCCEEDED", passed)).toEqual(["dev@example.com", "pm@example.com"]);
    expect(recipientsFor(notify, "FAILED", release)).toEqual([
      "dev@example.com",
      "oncall@example.com",
      "security@example.com",
    ]);
    expect(recipientsFor(notify, "FAILED", failed("VersionRegressionError", "x"))).toEqual([
      "dev@example.com",
      "oncall@example.com",
    ]);
  });

  it("a config without byOutcome (older configs) still works", () => {
    const { byOutcome: _none, ...old } = notify;
    expect(recipientsFor(old as AppConfig["notify"], "FAILED", release)).toEqual([
      "dev@example.com",
      "oncall@example.com",
    ]);
  });

  it("outcome names", () => {
    expect(notifyOutcomeOf("FAILED", failed("DevDeployTimedOutError", "x"))).toBe("dev-deploy-failed");
    expect(notifyOutcomeOf("FAILED", failed("ImagesNotReadyError", "x"))).toBe("images-not-ready");
    expect(notifyOutcomeOf("FAILED", failed("InvalidInputError", "x"))).toBe("failed");
  });
});
