import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runBin, runMain } from "../helpers/cli.js";
import { CRITICAL_REPORT, tempDir } from "../helpers/local.js";

const pourover = (args: string[]) => runBin(args);

describe("npx pourover release (the installed bin, a real process)", () => {
  const dir = tempDir();
  const stateDir = join(dir.path, "state");
  afterAll(() => dir.cleanup());

  it("releases v1.0.0: SUCCEEDED, one PR with compose + six k8s files, one email; then DUPLICATE", async () => {
    const first = await pourover(["release", "v1.0.0", "--json", "--state-dir", stateDir]);
    expect(first.code, first.stderr).toBe(0);
    const out = JSON.parse(first.stdout);
    expect(out).toMatchObject({ status: "SUCCEEDED", tag: "v1.0.0" });
    expect(out.executionId).toMatch(
      /^arn:aws:states:us-east-1:\d{12}:execution:pourover-coffeeshop-release:coffeeshop-v1\.0\.0-/,
    );
    expect(out.transitions).toBeGreaterThan(10);
    expect(out.states.map((s: { name: string }) => s.name)).toContain("UpdateManifests");
    expect(out.pullRequest.branch).toBe("release/coffeeshop/v1.0.0");
    expect(out.pullRequest.commit).toMatch(/^[a-f0-9]{40}$/);
    expect(out.pullRequest.changedFiles).toEqual(
      expect.arrayContaining([
        "docker-compose.yml",
        ...["proxy", "product", "counter", "barista", "kitchen", "web"].map(
          (s) => `k8s/${s}/deployment.yaml`,
        ),
      ]),
    );
    expect(out.emails).toHaveLength(1);
    expect(readFileSync(out.emails[0], "utf8")).toContain("Subject: [coffeeshop] v1.0.0");
    // Honest output: what was stood in for is said on every run, even in --json mode.
    expect(first.stderr).toContain("DRY RUN");
    expect(first.stderr).toContain("SAMPLE reports");

    const again = await pourover(["release", "v1.0.0", "--json", "--state-dir", stateDir]);
    expect(again.code).toBe(0);
    const dup = JSON.parse(again.stdout);
    expect(dup.status).toBe("DUPLICATE");
    expect(dup.emails).toEqual([]);
    expect(dup.pullRequest).toBeUndefined();
  });

  it("a CRITICAL vulnerability via --scan-report: FAILED, exit 1, no PR, a failure email naming the CVE", async () => {
    const res = await pourover([
      "release",
      "v1.1.0",
      "--json",
      "--state-dir",
      stateDir,
      "--scan-report",
      `web=${CRITICAL_REPORT}`,
    ]);
    expect(res.code).toBe(1);
    const out = JSON.parse(res.stdout);
    expect(out.status).toBe("FAILED");
    expect(out.pullRequest).toBeUndefined();
    expect(out.emails).toHaveLength(1);
    const eml = readFileSync(out.emails[0], "utf8");
    expect(eml).toContain("CVE-2024-45337");
    expect(eml).toMatch(/Subject: \[coffeeshop\] v1\.1\.0 blocked/);
    expect(res.stderr).toContain("--scan-report for web");
  });

  it("executions lists both runs and show prints a GetExecutionHistory-shaped history", async () => {
    const list = await pourover(["executions", "--json", "--state-dir", stateDir]);
    const runs = JSON.parse(list.stdout) as { name: string; status: string }[];
    expect(runs.map((r) => r.status)).toEqual(["SUCCEEDED", "DUPLICATE", "FAILED"]);
    const shown = await pourover(["show", runs[0]?.name ?? "", "--json", "--state-dir", stateDir]);
    const record = JSON.parse(shown.stdout);
    expect(record.history.events[0]).toMatchObject({ id: 1, previousEventId: 0, type: "ExecutionStarted" });
    expect(record.history.events.map((e: { type: string }) => e.type)).toContain("TaskStateEntered");
    expect(record.history.events.at(-1).type).toBe("ExecutionSucceeded");
  });
});

describe("bad input: one line, exit code 2 (in process)", () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  const cli = runMain;

  it.each([
    [["release", "1.0.0"], /"1\.0\.0" is not a release tag/],
    [["release", "v1.0.0-rc.1"], /pre-release/],
    [["release", "v1.0.0", "--bogus"], /unknown flag '--bogus' for release/],
    [["release", "v1.0.0", "--scan-report", "web"], /must be <service>=<file>/],
    [["release", "v1.0.0", "--scan-report", "nginx=/tmp/x.json"], /"nginx" is not a service of coffeeshop/],
    [["release", "v1.0.0", "--scan-report", "web=/does/not/exist.json"], /does not exist/],
    [["release", "v1.0.0", "--app", "nope"], /no config for app "nope"/],
    [["release", "v1.0.0", "--manifests", "/tmp"], /is not a git repository/],
    [["frobnicate"], /^pourover: unknown command 'frobnicate'/],
  ])("%j", async (args, message) => {
    const res = await cli([...args, "--state-dir", join(dir.path, "s")]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(message);
  });

  it("a file that is not a Trivy report is refused before anything runs", async () => {
    const bogus = join(dir.path, "not-trivy.json");
    writeFileSync(bogus, JSON.stringify({ SchemaVersion: 1, foo: "bar" }));
    const res = await cli([
      "release",
      "v1.0.0",
      "--scan-report",
      `web=${bogus}`,
      "--state-dir",
      join(dir.path, "s"),
    ]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("not a Trivy JSON report");
  });

  it("a bad config prints one line per problem, naming the field", async () => {
    const bad = join(dir.path, "bad.yaml");
    writeFileSync(bad, "app: Coffee Shop\nsource: { repo: nope }\nservices: []\n");
    const res = await cli(["config", "--config", bad]);
    expect(res.code).toBe(2);
    const lines = res.stderr.trim().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(res.stderr).toMatch(/app: must be lowercase/);
    expect(res.stderr).toMatch(/source\.repo: must be owner\/name/);
    expect(res.stderr).toMatch(/services: /);
    expect(res.stderr).toMatch(/registry: /);
  });

  it("a release refused before it starts still ends the process (the bin's early SES thread is closed)", async () => {
    const bad = join(dir.path, "bad-release.yaml");
    writeFileSync(bad, "app: Coffee Shop\n");
    // The bin starts the emulator thread before it loads the CLI; left running, it would hold the
    // process open until runBin's timeout kills it (no exit code 2 then).
    const res = await pourover(["release", "v1.0.0", "--config", bad, "--state-dir", join(dir.path, "s2")]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/app: must be lowercase/);
  });
});
