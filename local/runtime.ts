import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import "../shared/polyfills.js";
import { StateMachine } from "aws-local-stepfunctions";
import { acquireDevLock } from "../functions/acquire-dev-lock/acquire-dev-lock.js";
import { claimRelease } from "../functions/claim-release/claim-release.js";
import { describeBuildFailure } from "../functions/describe-build-failure/describe-build-failure.js";
import { evaluateScan } from "../functions/evaluate-scan/evaluate-scan.js";
import { gateOnScan } from "../functions/gate-on-scan/gate-on-scan.js";
import { planRelease } from "../functions/plan-release/plan-release.js";
import { recordOutcome } from "../functions/record-outcome/record-outcome.js";
import { releaseDevLock } from "../functions/release-dev-lock/release-dev-lock.js";
import { sendNotification } from "../functions/send-notification/send-notification.js";
import { updateManifests } from "../functions/update-manifests/update-manifests.js";
import { verifyDevDeploy } from "../functions/verify-dev-deploy/verify-dev-deploy.js";
import { wakeDevHost } from "../functions/wake-dev-host/wake-dev-host.js";
import {
  DirectoryArtifactStore,
  FileReportStore,
  JsonLinesEventPublisher,
  stateDirLayout,
} from "../shared/adapters/local/file-stores.js";
import { GitManifestRepository, initManifestRepo } from "../shared/adapters/local/git-manifest-repository.js";
import { SqliteDevLock } from "../shared/adapters/local/sqlite-dev-lock.js";
import { SqliteLedger } from "../shared/adapters/local/sqlite-ledger.js";
import type { AppConfig } from "../shared/contracts/app-config.js";
import type { Trigger } from "../shared/contracts/release.js";
import type { ReleaseState } from "../shared/contracts/release-state.js";
import type { DevHosts, DevLock, Mailer } from "../shared/ports/index.js";
import type { EventLog } from "./event-log.js";
import { type ExecutionRecord, toExecutionHistory } from "./history.js";
import { describeBuildStandIn, detectTools, type LocalTools, planBuilds } from "./local-build.js";
import {
  type DeployRunner,
  type LocalBuildOverride,
  LocalDeployCommands,
  LocalImageRegistry,
  localBuildAndScan,
  scriptDeployRunner,
} from "./local-tasks.js";
import { ASL_PATH, PROJECT_ROOT } from "./paths.js";
import { OutboxMailer, startSesLocal } from "./ses-local.js";

export { ASL_PATH, PROJECT_ROOT } from "./paths.js";

/** Values the local engine puts where the CDK construct puts real ARNs and names. */
export function localSubstitutions(region: string): Record<string, string> {
  const fn = (name: string) => `arn:aws:lambda:${region}:000000000000:function:pourover-local-${name}`;
  return {
    ClaimReleaseFunctionArn: fn("claim-release"),
    PlanReleaseFunctionArn: fn("plan-release"),
    EvaluateScanFunctionArn: fn("evaluate-scan"),
    GateOnScanFunctionArn: fn("gate-on-scan"),
    DescribeBuildFailureFunctionArn: fn("describe-build-failure"),
    UpdateManifestsFunctionArn: fn("update-manifests"),
    VerifyDevFunctionArn: fn("verify-dev-deploy"),
    AcquireDevLockFunctionArn: fn("acquire-dev-lock"),
    WakeDevHostFunctionArn: fn("wake-dev-host"),
    ReleaseDevLockFunctionArn: fn("release-dev-lock"),
    SendNotificationFunctionArn: fn("send-notification"),
    RecordOutcomeFunctionArn: fn("record-outcome"),
    BuildProjectName: "pourover-local-build-scan-push",
    ScanProjectName: "pourover-local-scan-image",
    DeployDocumentName: "pourover-local-deploy-dev",
    DeployLogGroupName: "/pourover/local/deploy-dev",
  };
}

/** Reads the ASL file and fills `${Name}` placeholders; an unfilled one is an error, as in the construct. */
export function loadDefinition(
  substitutions: Record<string, string>,
  path = ASL_PATH,
): Record<string, unknown> {
  const text = readFileSync(path, "utf8").replace(/\$\{(\w+)\}/g, (_, name: string) => {
    const value = substitutions[name];
    if (value === undefined) throw new Error(`ASL placeholder \${${name}} has no local value`);
    return value;
  });
  return JSON.parse(text);
}

export type TaskHandler = (input: unknown) => Promise<unknown>;

/** Locally there is no EC2: the dev host is this machine, always running, nothing to start. */
const THIS_MACHINE: DevHosts = {
  list: async () => [{ instanceId: "localhost", state: "running", agent: "Online" }],
  start: async () => {},
};

export interface LocalRuntimeOptions {
  config: AppConfig;
  configDir: string;
  stateDir: string;
  /** A git repository holding the manifests; defaults to one seeded from the example in the state dir. */
  manifestsDir?: string;
  /** Replace a port for tests: a mailer that fails, a deploy runner that reports a failed host. */
  mailer?: Mailer;
  deployRunner?: DeployRunner;
  /** Replace the dev lock (tests): by default a table in the SQLite ledger file. */
  devLock?: DevLock;
  /** Per service, the exit code the build+scan stand-in's scanner reports (tests: a scanner crash). */
  buildOverrides?: Record<string, LocalBuildOverride>;
  /** Replace the dev hosts (tests: a host that is stopped, then starting). Default: this machine. */
  devHosts?: DevHosts;
  /** What build+scan may use; what is not given is detected once at start (`docker info`, `trivy --version`) on `path`. */
  tools?: Partial<LocalTools>;
}

export interface ReleaseOptions {
  tag: string;
  trigger?: Trigger;
  force?: boolean;
  scanReports?: Record<string, string>;
  /** A local clone of the app's source repository to build images from (with docker and trivy). */
  source?: string;
  onEvent?: (event: EventLog) => void;
}

export interface ReleaseOutcome {
  status: "SUCCEEDED" | "FAILED" | "DUPLICATE";
  executionId: string;
  tag: string;
  transitions: number;
  durationMs: number;
  states: {
    name: string;
    status: "SUCCEEDED" | "FAILED" | "CAUGHT";
    durationMs: number;
    iteration?: number;
  }[];
  pullRequest?: {
    branch: string;
    commit: string | null;
    changedFiles: string[];
    url: string | null;
    unchanged: boolean;
  };
  emails: string[];
  standIns: string[];
  error?: { error: string; cause: string };
  output: unknown;
}

/** One machine's worth of Pourover: the same ASL and cores, local adapters behind the same ports. */
export class LocalRuntime {
  private constructor(
    readonly options: LocalRuntimeOptions,
    readonly ledger: SqliteLedger,
    private readonly mailer: Mailer,
    private readonly deployRunner: DeployRunner,
    private readonly manifestsRepo: GitManifestRepository,
    private readonly manifestsDir: string,
    private readonly closeSes: () => Promise<void>,
    readonly sesEndpoint: string | null,
  ) {
    this.images = new LocalImageRegistry(options.config, options.configDir);
  }

  private sqliteDevLock: SqliteDevLock | undefined;

  /** The dev lock (`devlock#<app>` in DynamoDB): a table of the SQLite ledger file locally. */
  get devLock(): DevLock {
    if (this.options.devLock) return this.options.devLock;
    this.sqliteDevLock ??= new SqliteDevLock(stateDirLayout(this.options.stateDir).ledger);
    return this.sqliteDevLock;
  }

  /** ECR as seen locally: `pourover event` records the pushes it is fed. */
  readonly images: LocalImageRegistry;

  static async start(options: LocalRuntimeOptions): Promise<LocalRuntime> {
    const layout = stateDirLayout(options.stateDir);
    await mkdir(options.stateDir, { recursive: true });
    const ledger = new SqliteLedger(layout.ledger);
    let manifestsDir = options.manifestsDir
      ? resolve(options.manifestsDir)
      : join(layout.repos, `${options.config.app}-manifests`);
    if (!options.manifestsDir) {
      const seed = options.config.manifests.localSeed;
      if (!seed)
        throw new Error(
          `${options.config.app}: no --manifests given and the config has no manifests.localSeed`,
        );
      await initManifestRepo(
        manifestsDir,
        resolve(options.configDir, seed),
        options.config.manifests.baseBranch,
      );
    }
    manifestsDir = resolve(manifestsDir);
    const repo = new GitManifestRepository({ repoDir: manifestsDir, pullsDir: layout.pulls });
    let mailer = options.mailer;
    let closeSes = async () => {};
    let endpoint: string | null = null;
    if (!mailer) {
      const ses = await startSesLocal();
      endpoint = ses.endpoint;
      closeSes = ses.close;
      mailer = new OutboxMailer(ses.endpoint, layout.outbox, options.config.registry.region);
    }
    const deployRunner = options.deployRunner ?? (await scriptDeployRunner(PROJECT_ROOT));
    const runtime = new LocalRuntime(
      options,
      ledger,
      mailer,
      deployRunner,
      repo,
      manifestsDir,
      closeSes,
      endpoint,
    );
    runtime.tools = await detectTools(options.tools);
    return runtime;
  }

  /** What build+scan can use on this machine, detected once per runtime. */
  tools: LocalTools = { docker: false, trivy: false };

  /** What this runtime stands in for, said on every run. */
  standIns(scanReports: Record<string, string>, source?: string): string[] {
    return [
      "Step Functions → aws-local-stepfunctions running state-machines/release.asl.json",
      "Lambda functions → the same cores, called in process",
      `DynamoDB release ledger → SQLite ${stateDirLayout(this.options.stateDir).ledger}`,
      describeBuildStandIn(planBuilds(this.options.config, scanReports, this.tools, source), source),
      `GitHub manifests repo → local git repository ${this.manifestsDir} (PR records in ${stateDirLayout(this.options.stateDir).pulls})`,
      this.deployRunner.mode === "dry-run"
        ? "SSM Run Command dev deploy → DRY RUN of infra/scripts/deploy-dev.sh (no docker compose on this machine): commands printed, nothing deployed"
        : this.deployRunner.mode === "docker"
          ? "SSM Run Command dev deploy → infra/scripts/deploy-dev.sh run on this machine with docker compose"
          : "SSM Run Command dev deploy → a test deploy runner",
      this.sesEndpoint
        ? `SES → aws-ses-v2-local on ${this.sesEndpoint}; copies in ${stateDirLayout(this.options.stateDir).outbox}`
        : "SES → a test mailer",
      `EventBridge → the pipeline's rule patterns matched in process; outcome events appended to ${stateDirLayout(this.options.stateDir).events}`,
      "ECR (ECR-triggered releases) → digests from the ECR events given to `pourover event`, else from the sample reports",
      this.options.devHosts
        ? "EC2 dev host → a test stand-in for EC2 and the SSM agent"
        : "EC2 dev host → this machine; nothing to start",
    ];
  }

  /** The local handler of every Task state, by state name (the contract test checks the set). */
  taskHandlers(
    scanReports: Record<string, string>,
    emails: string[],
    source?: string,
  ): Record<string, TaskHandler> {
    const { config, configDir, stateDir } = this.options;
    const layout = stateDirLayout(stateDir);
    const clock = { now: () => new Date() };
    const artifacts = new DirectoryArtifactStore(layout.artifacts);
    const deploys = new LocalDeployCommands();
    const executionUrl = (id: string) => `pourover show ${id.split(":").pop()} --state-dir ${stateDir}`;
    const build = localBuildAndScan({
      config,
      configDir,
      reportsDir: layout.reports,
      scanReports,
      ...(this.options.buildOverrides ? { overrides: this.options.buildOverrides } : {}),
      tools: this.tools,
      ...(source ? { source } : {}),
    });
    const events = new JsonLinesEventPublisher(layout.events);
    const mailer: Mailer = {
      send: async (message) => {
        const result = await this.mailer.send(message);
        if (this.mailer instanceof OutboxMailer)
          emails.push(this.mailer.sent[this.mailer.sent.length - 1] ?? "");
        else emails.push(result.messageId);
        return result;
      },
    };
    const notify: TaskHandler = (input) => sendNotification(input as never, { config, mailer, executionUrl });
    return {
      ClaimRelease: (input) => claimRelease(input as never, { ledger: this.ledger, clock }),
      PlanRelease: (input) => planRelease(input, config, { registry: this.images }),
      BuildScanPush: (input) => build(input as never),
      ScanImage: (input) => build(input as never),
      EvaluateScan: (input) => evaluateScan(input, { reports: new FileReportStore(), clock }),
      GateOnScan: async (input) => gateOnScan(input as never),
      // No CodeBuild here: the caught Cause (the stand-in's Build JSON) is all there is to describe.
      DescribeBuildFailure: (input) =>
        describeBuildFailure(input, { builds: { describe: async () => null } }),
      UpdateManifests: (input) =>
        updateManifests(input, { config, repo: this.manifestsRepo, artifacts, executionUrl }),
      DeployDev: (input) => {
        const p = input as { Parameters: Record<string, string[]> };
        const first = (key: string) => p.Parameters[key]?.[0] ?? "";
        return deploys.send(this.deployRunner, {
          app: first("App"),
          tag: first("Tag"),
          composeFile: artifacts.path(first("ComposeObject")),
          healthUrls: first("HealthUrls"),
          workdir: join(layout.deploys, first("App")),
        });
      },
      VerifyDev: (input) => verifyDevDeploy(input as never, { reader: deploys }),
      AcquireDevLock: (input) => acquireDevLock(input, { lock: this.devLock, clock }),
      WakeDevHost: (input) => wakeDevHost(input, { hosts: this.options.devHosts ?? THIS_MACHINE }),
      ReleaseDevLock: (input) => releaseDevLock(input, { lock: this.devLock }),
      ReleaseDevLockAfterFailure: (input) => releaseDevLock(input, { lock: this.devLock }),
      NotifySuccess: notify,
      NotifyFailure: notify,
      RecordOutcome: (input) => recordOutcome(input as never, { ledger: this.ledger, events, clock }),
    };
  }

  async release(opts: ReleaseOptions): Promise<ReleaseOutcome> {
    const { config, stateDir } = this.options;
    const region = config.registry.region;
    const name = `${config.app}-${opts.tag}-${randomBytes(4).toString("hex")}`.replace(
      /[^A-Za-z0-9._-]/g,
      "-",
    );
    const executionId = `arn:aws:states:${region}:000000000000:execution:pourover-${config.app}-release:${name}`;
    const input = {
      app: config.app,
      tag: opts.tag,
      trigger: opts.trigger ?? { source: "cli", pusher: process.env.USER ?? "local" },
      force: opts.force ?? false,
    };
    const scanReports = opts.scanReports ?? {};
    const emails: string[] = [];
    const handlers = this.taskHandlers(scanReports, emails, opts.source);
    const machine = this.stateMachine();
    // Retries keep their order and count; only the pauses shrink, so a local run stays fast.
    const retryIntervalOverrides = Object.fromEntries(Object.keys(handlers).map((k) => [k, 5]));
    const startedAt = new Date();
    const execution = machine.run(input, {
      overrides: { taskResourceLocalHandlers: handlers as never, retryIntervalOverrides },
      context: {
        Execution: { Id: executionId, Name: name, StartTime: startedAt.toISOString(), Input: input },
      },
    });
    const log: EventLog[] = [];
    const collecting = (async () => {
      for await (const event of execution.eventLogs) {
        log.push(event);
        opts.onEvent?.(event);
      }
    })();
    let output: unknown = null;
    let failure: { error: string; cause: string } | undefined;
    try {
      output = await execution.result;
    } catch (error) {
      const e = error as Error & { cause?: unknown };
      failure = { error: e.name, cause: e.message };
    }
    await collecting;
    const durationMs = Date.now() - startedAt.getTime();
    // A release that reached the Fail state carries its caught error (and everything it did) in the
    // state; the engine only reports a generic ExecutionError for it.
    const failedState = log.find((e) => e.type === "StateEntered" && e.state.name === "ReleaseFailed");
    if (failedState && "state" in failedState) {
      output = failedState.state.input;
      const caught = (output as ReleaseState).error;
      if (caught) failure = { error: caught.Error, cause: caught.Cause ?? "" };
    }
    const finalState = output as ReleaseState | null;
    const duplicate = log.some((e) => e.type === "StateEntered" && e.state.name === "Duplicate");
    const status = failure ? "FAILED" : duplicate ? "DUPLICATE" : "SUCCEEDED";
    const pr = finalState?.pullRequest;
    const outcome: ReleaseOutcome = {
      status,
      executionId,
      tag: opts.tag,
      transitions: log.filter((e) => e.type === "StateEntered").length,
      durationMs,
      states: stateTimeline(log),
      ...(pr
        ? {
            pullRequest: {
              branch: pr.branch,
              commit: pr.commit,
              changedFiles: pr.changedFiles,
              url: pr.url,
              unchanged: pr.unchanged,
            },
          }
        : {}),
      emails,
      standIns: this.standIns(scanReports, opts.source),
      ...(failure ? { error: failure } : {}),
      output,
    };
    const record: ExecutionRecord = {
      executionArn: executionId,
      name,
      stateMachine: `pourover-${config.app}-release`,
      input,
      startDate: startedAt.toISOString(),
      stopDate: new Date(startedAt.getTime() + durationMs).toISOString(),
      outcome,
      history: toExecutionHistory(log),
    };
    const dir = stateDirLayout(stateDir).executions;
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${name}.json`), `${JSON.stringify(record, null, 2)}\n`);
    return outcome;
  }

  private machine: StateMachine | undefined;

  /**
   * The workflow, validated once per runtime: validating the ASL costs the engine a second or two of
   * CPU, and every execution of this runtime runs the same file.
   */
  private stateMachine(): StateMachine {
    this.machine ??= new StateMachine(
      loadDefinition(localSubstitutions(this.options.config.registry.region)) as never,
      {
        validationOptions: { checkArn: true, checkPaths: true },
      },
    );
    return this.machine;
  }

  /** The next patch version after every tag this machine has released: v0.1.0 first. */
  nextTag(): string {
    return nextPatch(this.ledger.tags(this.options.config.app));
  }

  async close(): Promise<void> {
    this.ledger.close();
    this.sqliteDevLock?.close();
    await this.closeSes();
  }
}

export function nextPatch(tags: string[]): string {
  let best: [number, number, number] | null = null;
  for (const tag of tags) {
    const m = /^v(\d+)\.(\d+)\.(\d+)$/.exec(tag);
    if (!m) continue;
    const v: [number, number, number] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (
      !best ||
      v[0] > best[0] ||
      (v[0] === best[0] && (v[1] > best[1] || (v[1] === best[1] && v[2] > best[2])))
    )
      best = v;
  }
  return best ? `v${best[0]}.${best[1]}.${best[2] + 1}` : "v0.1.0";
}

/** Per state (and per Map iteration), how long it ran and how it ended, from the engine's event log. */
export function stateTimeline(log: EventLog[]): ReleaseOutcome["states"] {
  const open = new Map<string, number>();
  const states: ReleaseOutcome["states"] = [];
  for (const e of log) {
    if (!("state" in e)) continue;
    const key = `${e.state.name}#${e.index ?? ""}`;
    if (e.type === "StateEntered") open.set(key, e.timestamp);
    else if (e.type === "StateExited" || e.type === "StateFailed" || e.type === "StateCaught") {
      if (
        e.type === "StateExited" &&
        states.some((s) => s.name === e.state.name && s.iteration === e.index && s.status === "CAUGHT")
      )
        continue;
      const started = open.get(key) ?? e.timestamp;
      open.delete(key);
      states.push({
        name: e.state.name,
        status: e.type === "StateExited" ? "SUCCEEDED" : e.type === "StateCaught" ? "CAUGHT" : "FAILED",
        durationMs: e.timestamp - started,
        ...(e.index !== undefined ? { iteration: e.index } : {}),
      });
    }
  }
  return states;
}

export async function listExecutions(stateDir: string): Promise<ExecutionRecord[]> {
  const dir = stateDirLayout(stateDir).executions;
  if (!existsSync(dir)) return [];
  const files = (await readdir(dir)).filter((f) => f.endsWith(".json"));
  const records = await Promise.all(
    files.map(async (f) => JSON.parse(await readFile(join(dir, f), "utf8")) as ExecutionRecord),
  );
  return records.sort((a, b) => a.startDate.localeCompare(b.startDate));
}
