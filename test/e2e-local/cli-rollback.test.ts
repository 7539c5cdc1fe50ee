import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { compactTime } from "../../shared/domain/release-naming.js";
import { AwsFakes, FakeAwsError } from "../contract/support/aws-fakes.js";
import { runBin, runMain, stderrLines } from "../helpers/cli.js";
import { tempDir } from "../helpers/local.js";

/**
 * `pourover rollback <tag>` as a person runs it: the installed bin in a real process, locally after
 * two releases, and with --aws against a local HTTP fake of Step Functions (the real SDK client on the
 * wire, through AWS_ENDPOINT_URL_SFN).
 */
const bin = runBin;
const cli = runMain;

const lines = stderrLines;

const dir = tempDir("pourover-cli-rollback-");
afterAll(() => dir.cleanup());

const ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:pourover-coffeeshop-release";

describe("pourover rollback, the real bin, locally", () => {
  it("release v1 → release v2 → rollback v1: dev runs v1 (rolled back); a never-released tag is one line, exit 2", async () => {
    const stateDir = join(dir.path, "local");
    for (const tag of ["v1.0.0", "v2.0.0"]) {
      const r = await bin(["release", tag, "--json", "--state-dir", stateDir]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).status).toBe("SUCCEEDED");
    }

    const rolled = await bin(["rollback", "v1.0.0", "--state-dir", stateDir], { USER: "alice" });
    expect(rolled.code, rolled.stderr).toBe(0);
    expect(rolled.stdout).toContain("pourover: local rollback of coffeeshop to v1.0.0 (dev runs v2.0.0)");
    expect(rolled.stdout).toMatch(
      /\nSUCCEEDED {2}rolled back coffeeshop to v1\.0\.0 from v2\.0\.0 {2}\d+ transitions/,
    );
    expect(rolled.stdout).toMatch(/\n {2}pull request: rollback\/coffeeshop\/v1\.0\.0 @ [0-9a-f]{12}\n/);
    expect(rolled.stdout).toMatch(/\n {2}email: .*\.eml/);

    const releases = await bin(["releases", "--state-dir", stateDir]);
    expect(releases.code, releases.stderr).toBe(0);
    expect(releases.stdout).toMatch(
      /^coffeeshop on dev now: v1\.0\.0 \(rolled back from v2\.0\.0, finished /,
    );
    expect(releases.stdout).toMatch(
      /\ncoffeeshop {4}v1\.0\.0 .*rollback\/coffeeshop\/v1\.0\.0 .*\(rollback from v2\.0\.0\)/,
    );

    // One PR record per step (two release branches, one rollback branch) and one email each.
    expect(readdirSync(join(stateDir, "pulls")).sort()).toEqual([
      "release__coffeeshop__v1.0.0.json",
      "release__coffeeshop__v2.0.0.json",
      "rollback__coffeeshop__v1.0.0.json",
    ]);
    const emails = readdirSync(join(stateDir, "outbox"))
      .filter((f) => f.endsWith(".eml"))
      .map((f) => /^Subject: (.*)$/m.exec(readFileSync(join(stateDir, "outbox", f), "utf8"))?.[1] ?? f);
    expect(emails).toHaveLength(3);
    expect(emails.filter((s) => s.startsWith("[coffeeshop] rolled back to v1.0.0"))).toHaveLength(1);

    const never = await bin(["rollback", "v0.9.0", "--state-dir", stateDir]);
    expect(never.code).toBe(2);
    expect(lines(never.stderr)).toEqual([
      "pourover: cannot roll back coffeeshop to v0.9.0: v0.9.0 was never released",
    ]);
    expect(never.stdout).toBe("");
  });
});

describe("pourover rollback --aws: StartExecution on the deployed state machine", () => {
  const sfn = new AwsFakes();
  beforeAll(() => sfn.start());
  afterAll(() => sfn.stop());
  const env = () => ({
    ...sfn.endpointEnv(),
    AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
    AWS_SECRET_ACCESS_KEY: "fake",
    AWS_SESSION_TOKEN: "",
    AWS_PROFILE: "",
    POUROVER_STATE_MACHINE_ARN: ARN,
    USER: "alice",
  });

  it("names the execution <app>-rollback-<tag>-<time of request>; the ARN from the environment; a taken name is one line, exit 1", async () => {
    sfn.reset();
    // StartExecution's response: the execution ARN and startDate (epoch seconds on the JSON wire).
    sfn.on("SFN.StartExecution", (input: { stateMachineArn: string; name: string }) => ({
      executionArn: `${input.stateMachineArn.replace(":stateMachine:", ":execution:")}:${input.name}`,
      startDate: 1764590584.123,
    }));
    const started = await bin(["rollback", "v1.0.0", "--aws", "--json"], env());
    expect(started.code, started.stderr).toBe(0);
    const calls = sfn.callsOf("SFN.StartExecution");
    expect(calls).toHaveLength(1);
    const sent = calls[0]?.input as { stateMachineArn: string; name: string; input: string };
    expect(sent.stateMachineArn).toBe(ARN);
    const request = JSON.parse(sent.input);
    expect(request).toMatchObject({
      app: "coffeeshop",
      tag: "v1.0.0",
      force: true,
      trigger: { source: "cli", pusher: "alice" },
      rollback: { requestedBy: "alice", from: null },
    });
    expect(sent.name).toBe(`coffeeshop-rollback-v1.0.0-${compactTime(request.rollback.requestedAt)}`);
    expect(sent.name).toMatch(/^coffeeshop-rollback-v1\.0\.0-\d{8}T\d{6}Z$/);
    const out = JSON.parse(started.stdout);
    expect(out).toMatchObject({
      started: true,
      name: sent.name,
      executionArn: `arn:aws:states:eu-west-1:123456789012:execution:pourover-coffeeshop-release:${sent.name}`,
    });
    expect(out.consoleUrl).toMatch(/^https:\/\/eu-west-1\.console\.aws\.amazon\.com\/states\//);

    // The flag wins over the environment; the text output is the name and the console link.
    const other = ARN.replace("pourover-coffeeshop-release", "other-release");
    const text = await bin(["rollback", "v1.0.0", "--aws", "--state-machine-arn", other], env());
    expect(text.code, text.stderr).toBe(0);
    expect(sfn.callsOf("SFN.StartExecution")[1]?.input.stateMachineArn).toBe(other);
    expect(text.stdout).toMatch(
      /^started: rollback of coffeeshop to v1\.0\.0, execution coffeeshop-rollback-v1\.0\.0-\d{8}T\d{6}Z\n {2}https:\/\/eu-west-1\.console\.aws\.amazon\.com\/states\/home\?region=eu-west-1#\/v2\/executions\/details\/arn%3Aaws%3Astates%3Aeu-west-1%3A123456789012%3Aexecution%3Aother-release%3Acoffeeshop-rollback-v1\.0\.0-/,
    );

    // The name is taken (a closed execution, or an open one with other input): nothing started.
    sfn.on(
      "SFN.StartExecution",
      (input: { stateMachineArn: string; name: string }) =>
        new FakeAwsError(
          "ExecutionAlreadyExists",
          `Execution Already Exists: '${input.stateMachineArn.replace(":stateMachine:", ":execution:")}:${input.name}'`,
        ),
    );
    const taken = await bin(["rollback", "v1.0.0", "--aws"], env());
    expect(taken.code).toBe(1);
    expect(lines(taken.stderr)).toHaveLength(1);
    expect(lines(taken.stderr)[0]).toMatch(
      /^pourover: a rollback execution named coffeeshop-rollback-v1\.0\.0-\d{8}T\d{6}Z already exists \(Step Functions refuses a repeated name\); nothing was started: https:\/\/eu-west-1\.console\.aws\.amazon\.com\//,
    );
    expect(taken.stdout).toBe("");

    // Anything else Step Functions says (access, a deleted state machine): one line, exit 1.
    sfn.on(
      "SFN.StartExecution",
      new FakeAwsError("StateMachineDoesNotExist", `State Machine Does Not Exist: '${ARN}'`),
    );
    const missing = await bin(["rollback", "v1.0.0", "--aws"], env());
    expect(missing.code).toBe(1);
    expect(lines(missing.stderr)).toEqual([
      `pourover: rollback --aws: Step Functions said StateMachineDoesNotExist: State Machine Does Not Exist: '${ARN}'`,
    ]);
  });
});

describe("pourover rollback: usage, one line and exit 2, nothing written", () => {
  it("is in the command list, has its own help, and a near miss is suggested", async () => {
    const list = await cli(["--help"]);
    expect(list.stdout).toMatch(/\n {2}rollback {4}pin an earlier successful release's images again/);
    const help = await cli(["rollback", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: pourover rollback <tag> \[flags\]\n/);
    for (const flag of ["--aws", "--state-machine-arn <arn>", "--region <r>", "--state-dir <dir>", "--json"])
      expect(help.stdout).toContain(flag);
    expect((await cli(["help", "rollback"])).stdout).toBe(help.stdout);
    const typo = await cli(["rolback", "v1.0.0"]);
    expect(typo.code).toBe(2);
    expect(lines(typo.stderr)).toEqual(["pourover: unknown command 'rolback'; did you mean 'rollback'?"]);
  });

  it.each([
    [["rollback"], "pourover: rollback needs one tag: pourover rollback <tag> [flags]"],
    [
      ["rollback", "v1.0.0", "v2.0.0"],
      "pourover: rollback takes one tag; unexpected 'v2.0.0'; see 'pourover rollback --help'",
    ],
    [
      ["rollback", "latest"],
      'pourover: "latest" is not a release tag: expected vMAJOR.MINOR.PATCH or vMAJOR.MINOR.PATCH-PRERELEASE (numbers of at most 9 digits, at most 4 pre-release parts of 20 characters)',
    ],
    [
      ["rollback", "v1.0.0", "--force"],
      "pourover: unknown flag '--force' for rollback (it is a flag of release); see 'pourover rollback --help'",
    ],
    [
      ["release", "v1.0.0", "--aws"],
      "pourover: unknown flag '--aws' for release (it is a flag of rollback); see 'pourover release --help'",
    ],
    [
      ["rollback", "v1.0.0", "--state-machine-arn", ARN],
      "pourover: --state-machine-arn goes with --aws (a rollback in AWS); without --aws the rollback runs here",
    ],
    [
      ["rollback", "v1.0.0", "--aws"],
      "pourover: rollback --aws needs --state-machine-arn <arn> (or POUROVER_STATE_MACHINE_ARN): the stack output StateMachineArn",
    ],
    [
      [
        "rollback",
        "v1.0.0",
        "--aws",
        "--state-machine-arn",
        "arn:aws:lambda:eu-west-1:123456789012:function:x",
      ],
      'pourover: --state-machine-arn: "arn:aws:lambda:eu-west-1:123456789012:function:x" is not a Step Functions state machine ARN',
    ],
    [
      ["rollback", "v1.0.0", "--aws", "--state-machine-arn", ARN, "--region", "Mars"],
      'pourover: --region: "Mars" is not an AWS region',
    ],
    [
      ["rollback", "v1.0.0", "--aws", "--state-machine-arn", ARN, "--state-dir", "x"],
      "pourover: --aws rolls back in AWS: --state-dir and --manifests are for a local rollback",
    ],
  ])("%j", async (args, line) => {
    vi.stubEnv("POUROVER_STATE_MACHINE_ARN", "");
    try {
      const res = await cli(args);
      expect(res.code).toBe(2);
      expect(lines(res.stderr)).toEqual([line]);
      expect(res.stdout).toBe("");
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("a rollback with no local release at all is refused without creating the state dir", async () => {
    const stateDir = join(dir.path, "never");
    const res = await cli(["rollback", "v1.0.0", "--state-dir", stateDir]);
    expect(res.code).toBe(2);
    expect(lines(res.stderr)).toEqual([
      `pourover: cannot roll back coffeeshop to v1.0.0: no release was ever recorded in ${stateDir}`,
    ]);
    expect(existsSync(stateDir)).toBe(false);
  });
});
