import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmod, copyFile, mkdir, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { SCANNER_ERROR_EXIT_CODE } from "../functions/describe-build-failure/describe-build-failure.js";
import type { AppConfig } from "../shared/contracts/app-config.js";
import { InvalidInputError } from "../shared/domain/errors.js";
import { parseTrivyReport, reportDigest } from "../shared/domain/trivy-report.js";
import type {
  Clock,
  DeployCommandView,
  DeployStatusReader,
  DevHost,
  DevHosts,
  ImageRegistry,
  InstanceDeployStatus,
} from "../shared/ports/index.js";
import {
  buildAndScanLocally,
  type LocalTools,
  planBuilds,
  TRIVY_VULN_EXIT_CODE,
  whyNoRealBuild,
} from "./local-build.js";

const run = promisify(execFile);

/** A CodeBuild `.sync` result, as the ASL's ResultSelector reads it. */
export interface BuildOutput {
  Build: { Id: string; BuildStatus: string; ExportedEnvironmentVariables: { Name: string; Value: string }[] };
}

type BuildParams = { EnvironmentVariablesOverride?: { Name: string; Value: string }[] };

/** Test knobs of the stand-in, per service: the exit code its "scanner" reports. */
export interface LocalBuildOverride {
  /** 0 passes, 10 is Trivy's policy exit code; anything else is a scanner crash and the build FAILS. */
  scannerExitCode: number;
}

/**
 * A failed CodeBuild `.sync` task carries the Build JSON in its Cause; the stand-in fails the same way,
 * saying in the phase context that nothing ran in CodeBuild.
 */
function failedBuild(service: string, phase: "BUILD", message: string): Error {
  const cause = {
    Id: `local:${randomUUID()}`,
    BuildStatus: "FAILED",
    Phases: [
      {
        PhaseType: phase,
        PhaseStatus: "FAILED",
        Contexts: [{ StatusCode: "COMMAND_EXECUTION_ERROR", Message: message }],
      },
    ],
    Environment: { EnvironmentVariables: [{ Name: "POUROVER_SERVICE", Value: service }] },
    Logs: {},
  };
  return Object.assign(new Error(JSON.stringify(cause)), { name: "States.TaskFailed" });
}

/**
 * Stands in for CodeBuild's build+scan. With a docker engine, trivy and a --source checkout, a service
 * without a --scan-report is built and scanned on this machine (nothing is pushed); otherwise the verdict
 * comes from the Trivy report given with --scan-report or the example's labelled sample report, and the
 * output says which (see `planBuilds`).
 */
export function localBuildAndScan(opts: {
  config: AppConfig;
  configDir: string;
  reportsDir: string;
  scanReports: Record<string, string>;
  overrides?: Record<string, LocalBuildOverride>;
  /** Detected once per runtime; without it nothing is built. */
  tools?: LocalTools;
  /** A local clone of the app's source repository: without it nothing is built. */
  source?: string;
}) {
  const tools = opts.tools ?? { docker: false, trivy: false };
  const plans = new Map(
    planBuilds(opts.config, opts.scanReports, tools, opts.source).map((p) => [p.service, p]),
  );
  return async (params: BuildParams): Promise<BuildOutput> => {
    const env = new Map((params.EnvironmentVariablesOverride ?? []).map((v) => [v.Name, v.Value]));
    const service = env.get("POUROVER_SERVICE") ?? "";
    const target = join(
      opts.reportsDir,
      env.get("POUROVER_APP") ?? "",
      env.get("POUROVER_TAG") ?? "",
      service,
      "trivy.json",
    );
    // Only ScanImage passes IMAGE_DIGEST: that image is in ECR, not on this machine, so it is never built here.
    const scansEcrImage = env.has("IMAGE_DIGEST");
    const configured = opts.config.services.find((s) => s.name === service);
    if (plans.get(service)?.mode === "trivy-local" && !scansEcrImage && configured && opts.source) {
      return realBuild(service, env, configured, opts.source, tools, target);
    }
    const given = opts.scanReports[service];
    const sample = configured?.sampleScanReport;
    const source = given ? resolve(given) : sample ? resolve(opts.configDir, sample) : null;
    if (!source) {
      throw Object.assign(
        new Error(
          `${service}: nothing to scan with (${whyNoRealBuild(tools, opts.source) ?? "an ECR image is not on this machine"}) and no --scan-report ${service}=<file>`,
        ),
        { name: "States.TaskFailed" },
      );
    }
    const exitCode = opts.overrides?.[service]?.scannerExitCode ?? 0;
    if (exitCode !== 0 && exitCode !== TRIVY_VULN_EXIT_CODE) {
      // As the buildspecs do: a scanner failure exits SCANNER_ERROR_EXIT_CODE and fails the build.
      throw failedBuild(
        service,
        "BUILD",
        `local stand-in (nothing was scanned): the scanner exit code was overridden to ${exitCode}, a scanner error. Reason: exit status ${SCANNER_ERROR_EXIT_CODE}`,
      );
    }
    await mkdir(dirname(target), { recursive: true });
    await copyFile(source, target);
    // copyFile keeps the source's mode; reports stay owner-only like the rest of the state dir.
    await chmod(target, 0o600);
    const digest = reportDigest(parseTrivyReport(await readFile(target, "utf8"), source));
    return succeeded([
      { Name: "REPORT_URI", Value: pathToFileURL(target).href },
      { Name: "SCAN_EXIT_CODE", Value: exitCode === TRIVY_VULN_EXIT_CODE ? "1" : "0" },
      { Name: "SCANNED_BY", Value: given ? "report-file" : "sample-report" },
      ...(digest ? [{ Name: "IMAGE_DIGEST", Value: digest }] : []),
    ]);
  };
}

function succeeded(exported: { Name: string; Value: string }[]): BuildOutput {
  return {
    Build: { Id: `local:${randomUUID()}`, BuildStatus: "SUCCEEDED", ExportedEnvironmentVariables: exported },
  };
}

/** docker build + trivy on this machine; a crash fails the task with the Build JSON CodeBuild would give. */
async function realBuild(
  service: string,
  env: Map<string, string>,
  configured: AppConfig["services"][number],
  sourceDir: string,
  tools: LocalTools,
  target: string,
): Promise<BuildOutput> {
  const tag = env.get("POUROVER_TAG") ?? "";
  const image = `${env.get("IMAGE_REPOSITORY") || configured.repository}:${tag}`;
  const result = await buildAndScanLocally({
    tools,
    source: sourceDir,
    dockerfile: env.get("DOCKERFILE") || configured.dockerfile,
    context: env.get("BUILD_CONTEXT") || configured.context,
    image,
    tag,
    severity: env.get("TRIVY_SEVERITY") || "CRITICAL,HIGH",
    ignoreUnfixed: env.get("TRIVY_IGNORE_UNFIXED") === "true",
    reportPath: target,
    scannerErrorExitCode: SCANNER_ERROR_EXIT_CODE,
  });
  if (!result.ok) throw failedBuild(service, "BUILD", result.message);
  try {
    parseTrivyReport(await readFile(target, "utf8"), target);
  } catch (error) {
    throw failedBuild(
      service,
      "BUILD",
      `local trivy left no usable report (${(error as Error).message.slice(0, 200)}): this is a scanner error, not a verdict. Reason: exit status ${SCANNER_ERROR_EXIT_CODE}`,
    );
  }
  // No IMAGE_DIGEST: nothing is pushed locally, and a local image id is not a registry digest, so
  // pinning it would name an image no cluster can pull. The manifests get the tag only.
  return succeeded([
    { Name: "REPORT_URI", Value: pathToFileURL(target).href },
    { Name: "SCAN_EXIT_CODE", Value: String(result.scanExitCode) },
    { Name: "SCANNED_BY", Value: "trivy-local" },
  ]);
}

export interface DeployRunner {
  /**
   * Runs the deploy for one release; resolves with the per-host result the SSM API would report
   * (`output` is the host's stdout). null when no host matched: the command resolves to 0 targets.
   */
  run(input: {
    app: string;
    tag: string;
    composeFile: string;
    healthUrls: string;
    workdir: string;
    /** ExecutionTimeout (dev.timeoutSeconds). */
    timeoutSeconds?: number;
  }): Promise<InstanceDeployStatus | null>;
  /** Stops a deploy still running (what CancelCommand asks of the SSM agent). */
  cancel?(): Promise<void>;
  readonly mode: "docker" | "dry-run" | "custom";
  /** Why a dry run, said in the stand-in list and the summary. */
  readonly dryRunReason?: string;
}

/**
 * Runs infra/scripts/deploy-dev.sh, the same script the SSM document runs: a dry run when asked
 * (`dryRun`, POUROVER_DRY_RUN_DEPLOY) or when this machine has no docker compose.
 */
export async function scriptDeployRunner(
  projectRoot: string,
  options: { dryRun?: boolean } = {},
): Promise<DeployRunner> {
  const hasCompose =
    !options.dryRun &&
    (await run("docker", ["compose", "version"], { timeout: 5000 }).then(
      () => true,
      () => false,
    ));
  const script = join(projectRoot, "infra", "scripts", "deploy-dev.sh");
  return {
    mode: hasCompose ? "docker" : "dry-run",
    ...(hasCompose
      ? {}
      : {
          dryRunReason: options.dryRun
            ? "POUROVER_DRY_RUN_DEPLOY is set"
            : "no docker compose on this machine",
        }),
    async run(input) {
      const args = [
        script,
        "--app",
        input.app,
        "--tag",
        input.tag,
        "--compose-file",
        input.composeFile,
        "--workdir",
        input.workdir,
        ...(input.healthUrls ? ["--health-urls", input.healthUrls] : []),
        ...(hasCompose ? [] : ["--dry-run"]),
      ];
      await mkdir(input.workdir, { recursive: true });
      try {
        const { stdout } = await run("bash", args, {
          timeout: (input.timeoutSeconds ?? 900) * 1000,
          maxBuffer: 16 * 1024 * 1024,
        });
        return { instanceId: "localhost", status: "Success", output: stdout };
      } catch (error) {
        // stdout only, as SSM's StandardOutputContent: the script's logs went to stderr.
        const e = error as { stdout?: string; killed?: boolean };
        return {
          instanceId: "localhost",
          status: e.killed ? "ExecutionTimedOut" : "Failed",
          output: e.stdout ?? "",
        };
      }
    },
  };
}

/** Keeps each local deploy's result under its command id, as SSM does, for VerifyDev to read. */
export class LocalDeployCommands implements DeployStatusReader {
  private readonly results = new Map<
    string,
    { runner: DeployRunner; requestedAt: Date; invocations: InstanceDeployStatus[] }
  >();

  constructor(private readonly clock: Clock = { now: () => new Date() }) {}

  async send(
    runner: DeployRunner,
    input: Parameters<DeployRunner["run"]>[0],
    deliveryTimeoutSeconds: number,
  ): Promise<{ Command: { CommandId: string; TimeoutSeconds: number } }> {
    const commandId = randomUUID();
    const requestedAt = this.clock.now();
    const result = await runner.run(input);
    this.results.set(commandId, { runner, requestedAt, invocations: result ? [result] : [] });
    return { Command: { CommandId: commandId, TimeoutSeconds: deliveryTimeoutSeconds } };
  }

  async read(commandId: string): Promise<DeployCommandView> {
    const sent = this.results.get(commandId);
    if (!sent) throw new InvalidInputError(`unknown command ${commandId}`);
    const running = sent.invocations.some((i) => ["Pending", "InProgress", "Delayed"].includes(i.status));
    return {
      // No host matched: SSM resolves the targets to 0 and ends the command ("No Instances In Tag").
      command: {
        status: sent.invocations.length === 0 ? "Success" : running ? "InProgress" : "Success",
        statusDetails: sent.invocations.length === 0 ? "No Instances In Tag" : "",
        targetCount: sent.invocations.length,
        requestedAt: sent.requestedAt,
        deliveryTimeoutSeconds: null,
      },
      invocations: sent.invocations,
    };
  }

  async cancel(commandId: string): Promise<void> {
    const sent = this.results.get(commandId);
    if (!sent) throw new InvalidInputError(`unknown command ${commandId}`);
    await sent.runner.cancel?.();
    sent.invocations = sent.invocations.map((i) =>
      ["Pending", "InProgress", "Delayed"].includes(i.status) ? { ...i, status: "Cancelled" } : i,
    );
  }
}

/**
 * Stands in for ECR: digests of images pushed in ECR events fed to `pourover event`, else the digest
 * recorded in the service's labelled sample report (no registry is asked).
 */
export class LocalImageRegistry implements ImageRegistry {
  private readonly pushed = new Map<string, string>();

  constructor(
    private readonly config: AppConfig,
    private readonly configDir: string,
  ) {}

  record(repository: string, tag: string, digest: string): void {
    this.pushed.set(`${repository}:${tag}`, digest);
  }

  async digestOf(repository: string, tag: string): Promise<string | null> {
    const pushed = this.pushed.get(`${repository}:${tag}`);
    if (pushed) return pushed;
    const sample = this.config.services.find((s) => s.repository === repository)?.sampleScanReport;
    if (!sample) return null;
    return (
      reportDigest(parseTrivyReport(await readFile(resolve(this.configDir, sample), "utf8"), sample)) ?? null
    );
  }
}

/** The request ReleaseDevLock sends to DynamoDB UpdateItem (the ASL's Parameters, resolved). */
interface DevLockUpdateItem {
  TableName: string;
  Key: { pk: { S: string } };
  UpdateExpression: string;
  ConditionExpression: string;
  ExpressionAttributeValues: { ":me": { S: string }; ":one": { N: string } };
}

/** What the ASL's ReleaseDevLock UpdateItem says; anything else is a change this stand-in must follow. */
const DEV_LOCK_RELEASE = {
  UpdateExpression: "REMOVE holder, heldUntil SET rev = rev + :one",
  ConditionExpression: "holder = :me",
};

/**
 * Stands in for the `dynamodb:updateItem` integration of ReleaseDevLock(AfterFailure) on the SQLite dev
 * lock: the same conditional release (only while `:me` holds `devlock#<app>`). As the integration
 * does, it resolves with UpdateItem's response (no ReturnValues: no attributes) and fails with
 * `DynamoDB.ConditionalCheckFailedException` when the condition does not hold.
 */
export function localDevLockRelease(lock: { release(app: string, executionId: string): Promise<boolean> }) {
  return async (params: unknown): Promise<Record<string, never>> => {
    const p = params as DevLockUpdateItem;
    const key = p?.Key?.pk?.S ?? "";
    const holder = p?.ExpressionAttributeValues?.[":me"]?.S ?? "";
    if (
      !key.startsWith("devlock#") ||
      !holder ||
      p.UpdateExpression !== DEV_LOCK_RELEASE.UpdateExpression ||
      p.ConditionExpression !== DEV_LOCK_RELEASE.ConditionExpression
    ) {
      throw Object.assign(
        new Error(`the local dev lock does not model this UpdateItem: ${JSON.stringify(params)}`),
        {
          name: "DynamoDB.ValidationException",
        },
      );
    }
    if (!(await lock.release(key.slice("devlock#".length), holder))) {
      // DynamoDB's own message for a failed ConditionExpression.
      throw Object.assign(new Error("The conditional request failed"), {
        name: "DynamoDB.ConditionalCheckFailedException",
      });
    }
    return {};
  };
}

/** EC2's instance state codes, as DescribeInstances and StartInstances report them with the name. */
const EC2_STATE_CODES: Record<DevHost["state"] | "terminated", number> = {
  pending: 0,
  running: 16,
  "shutting-down": 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

/** A DescribeInstances request's Filters; only the filter names the stand-in models. */
function ec2Filters(params: unknown): { Name: string; Values: string[] }[] {
  const filters = (params as { Filters?: { Name?: string; Values?: string[] }[] })?.Filters ?? [];
  for (const f of filters)
    if (!(f.Name?.startsWith("tag:") || f.Name === "instance-state-name") || !f.Values?.length)
      throw sdkError(
        "Ec2.InvalidParameterValueException",
        `the local dev host stand-in models only tag:<key> and instance-state-name filters: ${JSON.stringify(params)}`,
      );
  return filters as { Name: string; Values: string[] }[];
}

const stateMatches = (filters: { Name: string; Values: string[] }[], state: DevHost["state"]): boolean =>
  filters.filter((f) => f.Name === "instance-state-name").every((f) => f.Values.includes(state));

/** DescribeInstances' response: one reservation per host here (EC2 groups by launch request). */
const describeInstancesOutput = (hosts: DevHost[]) => ({
  Reservations: hosts.map((h) => ({
    ReservationId: `r-${h.instanceId.replace(/^i-/, "")}`,
    Instances: [{ InstanceId: h.instanceId, State: { Code: EC2_STATE_CODES[h.state], Name: h.state } }],
  })),
});

/** An error named as Step Functions names an AWS SDK integration's errors (ServiceName.ErrorName). */
const sdkError = (name: string, message: string): Error => Object.assign(new Error(message), { name });

/**
 * Stands in for the `aws-sdk:ec2` and `aws-sdk:ssm` integrations of the wake loop (WakeDevHost,
 * CheckDevHostAgents, FindStoppedDevHosts, StartDevHosts) over the DevHosts port: each takes the request the ASL builds
 * and answers in the shape of the AWS API's response, so the same JSONPath selects from it. One
 * WakeDevHost lists the hosts; the CheckDevHostAgents after it reads the agents of that same listing.
 */
export function localDevHostTasks(hosts: DevHosts) {
  let listed: DevHost[] = [];
  return {
    /** EC2 DescribeInstances with `tag:<key>` and `instance-state-name` Filters. */
    WakeDevHost: async (params: unknown) => {
      const filters = ec2Filters(params);
      const tags = filters.filter((f) => f.Name.startsWith("tag:"));
      listed = (await hosts.list(tags.map((f) => ({ Key: f.Name, Values: f.Values })))).filter((h) =>
        stateMatches(filters, h.state),
      );
      return describeInstancesOutput(listed);
    },
    /** EC2 DescribeInstances of the listed hosts' ids with an `instance-state-name` filter. */
    FindStoppedDevHosts: async (params: unknown) => {
      const ids = (params as { InstanceIds?: string[] })?.InstanceIds ?? [];
      const filters = ec2Filters(params);
      return describeInstancesOutput(
        listed.filter((h) => ids.includes(h.instanceId) && stateMatches(filters, h.state)),
      );
    },
    /** SSM DescribeInstanceInformation with InstanceIds and PingStatus filters. */
    CheckDevHostAgents: async (params: unknown) => {
      const filters = (params as { Filters?: { Key?: string; Values?: string[] }[] })?.Filters ?? [];
      const values = (key: string) => filters.find((f) => f.Key === key)?.Values;
      const ids = values("InstanceIds");
      // InstanceInformationStringFilter.Values takes 1 to 100 values: no host matched, nothing to ask.
      // Which error name SSM gives this is not documented; the ASL catches every error of this state.
      if (!ids || ids.length === 0 || ids.length > 100)
        throw sdkError(
          "Ssm.InvalidInstanceInformationFilterValueException",
          `the InstanceIds filter takes 1 to 100 values, not ${ids?.length ?? 0}`,
        );
      const ping = values("PingStatus");
      return {
        // Stopped or terminated nodes are not returned (DescribeInstanceInformation).
        InstanceInformationList: listed
          .filter((h) => ids.includes(h.instanceId) && h.agent !== null && h.state !== "stopped")
          .filter((h) => !ping || ping.includes(h.agent as string))
          .map((h) => ({
            InstanceId: h.instanceId,
            PingStatus: h.agent as NonNullable<DevHost["agent"]>,
            ResourceType: "EC2Instance" as const,
          })),
      };
    },
    /** EC2 StartInstances. */
    StartDevHosts: async (params: unknown) => {
      const ids = (params as { InstanceIds?: string[] })?.InstanceIds ?? [];
      await hosts.start(ids);
      return {
        StartingInstances: ids.map((id) => ({
          InstanceId: id,
          CurrentState: { Code: EC2_STATE_CODES.pending, Name: "pending" as const },
          PreviousState: { Code: EC2_STATE_CODES.stopped, Name: "stopped" as const },
        })),
      };
    },
  };
}
