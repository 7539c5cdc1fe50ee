import {
  BatchGetBuildsCommand,
  type Build,
  type BuildPhaseType,
  CodeBuildClient,
  type StatusType,
} from "@aws-sdk/client-codebuild";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import {
  buildFromCause,
  describeBuildFailure,
} from "../../functions/describe-build-failure/describe-build-failure.js";
import { CodeBuildBuildReader } from "../../shared/adapters/aws/codebuild-build-reader.js";

const BUILD_ID = "pourover-build-scan-push:0f4c1f0e-2b1a-4a57-9c58-0a1b2c3d4e5f";
const ARN = `arn:aws:codebuild:eu-west-1:123456789012:build/${BUILD_ID}`;
const LOGS = "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/x";

/** The Build JSON a failed `codebuild:startBuild.sync` task puts in its Cause (PascalCase). */
const cause = (phases: unknown[]) =>
  JSON.stringify({ Arn: ARN, Id: BUILD_ID, BuildStatus: "FAILED", Phases: phases, Logs: { DeepLink: LOGS } });

/** BatchGetBuilds' answer (camelCase, as the SDK returns it). */
const sdkBuild = (phase: BuildPhaseType, status: StatusType, message: string): Build => ({
  id: BUILD_ID,
  arn: ARN,
  projectName: "pourover-build-scan-push",
  buildStatus: "FAILED",
  phases: [
    { phaseType: "SUBMITTED", phaseStatus: "SUCCEEDED" },
    { phaseType: phase, phaseStatus: status, contexts: [{ statusCode: "COMMAND_EXECUTION_ERROR", message }] },
    { phaseType: "COMPLETED" },
  ],
  logs: { deepLink: LOGS },
});

describe("describeBuildFailure", () => {
  const cb = mockClient(CodeBuildClient);
  afterEach(() => cb.reset());
  const deps = () => ({ builds: new CodeBuildBuildReader(new CodeBuildClient({ region: "eu-west-1" })) });
  const run = (triggerSource = "github", Cause = cause([])) =>
    describeBuildFailure(
      { service: "kitchen", triggerSource, error: { Error: "States.TaskFailed", Cause } },
      deps(),
    );

  it("a failed docker build: BuildFailedError naming the phase, CodeBuild's message and the logs link", async () => {
    cb.on(BatchGetBuildsCommand, { ids: [BUILD_ID] }).resolves({
      builds: [
        sdkBuild("BUILD", "FAILED", "Error while executing command: docker build. Reason: exit status 1"),
      ],
    });
    const error = await run().catch((e: Error) => e);
    expect(error).toMatchObject({ name: "BuildFailedError" });
    expect((error as Error).message).toBe(
      `kitchen: BUILD phase failed: COMMAND_EXECUTION_ERROR: Error while executing command: docker build. Reason: exit status 1 — logs: ${LOGS}`,
    );
    expect(cb.commandCalls(BatchGetBuildsCommand)).toHaveLength(1);
  });

  it("the scanner's exit code in the BUILD phase, the INSTALL phase (DB cache) or any ScanImage failure: ScanFailedError", async () => {
    cb.on(BatchGetBuildsCommand).resolves({
      builds: [sdkBuild("BUILD", "FAILED", "Error while executing command: ... Reason: exit status 75")],
    });
    await expect(run()).rejects.toMatchObject({
      name: "ScanFailedError",
      message: expect.stringMatching(/^kitchen: BUILD phase failed/),
    });
    cb.reset();
    cb.on(BatchGetBuildsCommand).resolves({
      builds: [sdkBuild("INSTALL", "FAILED", "Reason: exit status 75")],
    });
    await expect(run()).rejects.toMatchObject({
      name: "ScanFailedError",
      message: expect.stringMatching(/^kitchen: INSTALL phase failed/),
    });
    cb.reset();
    cb.on(BatchGetBuildsCommand).resolves({
      builds: [sdkBuild("PRE_BUILD", "FAILED", "Reason: exit status 1")],
    });
    await expect(run("ecr")).rejects.toMatchObject({ name: "ScanFailedError" });
  });

  it("a timed-out phase says so", async () => {
    cb.on(BatchGetBuildsCommand).resolves({ builds: [sdkBuild("BUILD", "TIMED_OUT", "Build timed out")] });
    await expect(run()).rejects.toMatchObject({
      message: expect.stringMatching(/^kitchen: BUILD phase timed out: /),
    });
  });

  it("when BatchGetBuilds fails, reports from the Build JSON in the Cause and says the lookup failed", async () => {
    cb.on(BatchGetBuildsCommand).rejects(
      Object.assign(new Error("denied"), { name: "AccessDeniedException" }),
    );
    const error = (await run(
      "github",
      cause([{ PhaseType: "PRE_BUILD", PhaseStatus: "FAILED", Contexts: [{ Message: "git fetch failed" }] }]),
    ).catch((e: Error) => e)) as Error;
    expect(error.name).toBe("BuildFailedError");
    expect(error.message).toBe(
      `kitchen: PRE_BUILD phase failed: git fetch failed — logs: ${LOGS} (BatchGetBuilds failed: AccessDeniedException)`,
    );
  });

  it("a Cause with no build at all still ends in a named error, not a crash of its own", async () => {
    await expect(run("github", "Task timed out")).rejects.toMatchObject({
      name: "BuildFailedError",
      message: "kitchen: build failed before CodeBuild reported a build: States.TaskFailed: Task timed out",
    });
    expect(cb.commandCalls(BatchGetBuildsCommand)).toHaveLength(0);
  });

  it("rejects input that is not a caught error", async () => {
    await expect(describeBuildFailure({ service: "" }, deps())).rejects.toMatchObject({
      name: "InvalidInputError",
    });
  });
});

describe("buildFromCause", () => {
  it("reads the Build at the top or under Build, or just the id from an ARN in text", () => {
    expect(buildFromCause(JSON.stringify({ Build: { Arn: ARN } }))?.id).toBe(BUILD_ID);
    expect(buildFromCause(cause([]))?.logsUrl).toBe(LOGS);
    expect(buildFromCause(`build ${ARN} failed`)).toEqual({ id: BUILD_ID, phases: [] });
    expect(buildFromCause("nothing here")).toBeNull();
  });
});
