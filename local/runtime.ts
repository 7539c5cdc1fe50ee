import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { chmod, mkdir, readdir, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import "../shared/polyfills.js";
import { StateMachine } from "aws-local-stepfunctions";
import { acquireDevLock } from "../functions/acquire-dev-lock/acquire-dev-lock.js";
import { claimRelease } from "../functions/claim-release/claim-release.js";
import { describeBuildFailure } from "../functions/describe-build-failure/describe-build-failure.js";
import { evaluateScan } from "../functions/evaluate-scan/evaluate-scan.js";
import { gateOnScan } from "../functions/gate-on-scan/gate-on-scan.js";
import { planRelease } from "../functions/plan-release/plan-release.js";
import { recordOutcome } from "../functions/record-outcome/record-outcome.js";
import { reportDevResult } from "../functions/report-dev-result/report-dev-result.js";
import { sendNotification } from "../functions/send-notification/send-notification.js";
import { updateManifests } from "../functions/update-manifests/update-manifests.js";
import { verifyDevDeploy } from "../functions/verify-dev-deploy/verify-dev-deploy.js";
import { refuseSymlink, writeFileAtomic } from "../shared/adapters/local/atomic-file.js";
import { DirectoryFindingsStore } from "../shared/adapters/local/directory-findings-store.js";
import {
  DirectoryArtifactStore,
  FileReportStore,
  JsonLinesEventPublisher,
  stateDirLayout,
} from "../shared/adapters/local/file-stores.js";
import { GitManifestRepository, initManifestRepo } from "../shared/adapters/local/git-manifest-repository.js";
import { currentProcessOwner, isOwnerAlive } from "../shared/adapters/local/process-owner.js";
import { SqliteDevLock } from "../shared/adapters/local/sqlite-dev-lock.js";
import { describeClaim, SqliteLedger } from "../shared/adapters/local/sqlite-ledger.js";
import { localSettings } from "../shared/config/local-env.js";
import type { AppConfig } from "../shared/contracts/app-config.js";
import { parseVersion, type Trigger } from "../shared/contracts/release.js";
import type { ReleaseState } from "../shared/contracts/release-state.js";
import { attemptOf, ledgerTag, releaseExecutionName } from "../shared/domain/release-naming.js";
import { compareVersions } from "../shared/domain/release-version.js";
import type { ImagePresence } from "../shared/domain/rollback.js";
import type { Clock, DevHosts, DevLock, Mailer } from "../shared/ports/index.js";
import type { EventLog } from "./event-log.js";
import { type ExecutionRecord, toExecutionHistory } from "./history.js";
import { describeBuildStandIn, detectTools, type LocalTools, planBuilds } from "./local-build.js";
import {
  type DeployRunner,
  type LocalBuildOverride,
  LocalDeployCommands,
  LocalImageRegistry,
  localBuildAndScan,
  localDevHostTasks,
  localDevLockRelease,
  scriptDeployRunner,
} from "./local-tasks.js";
import { ASL_PATH, PROJECT_ROOT } from "./paths.js";
import { PullRecordReporter } from "./pull-record-reporter.js";
import { OutboxMailer, startSesLocal } from "./ses-local.js";
import { GitSourceHistory } from "./source-history.js";
import { loadTestPause, type TestPause } from "./test-hooks.js";

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
    LedgerTableName: "pourover-local-ledger",
    SendNotificationFunctionArn: fn("send-notification"),
    RecordOutcomeFunctionArn: fn("record-outcome"),
    ReportDevResultFunctionArn: fn("report-dev-result"),
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
  /** Replace the clock (tests: a dev deploy that outlives its timeout). Default: the system clock. */
  clock?: Clock;
  /** What build+scan may use; what is not given is detected once at start (`docker info`, `trivy --version`) on `path`. */
  tools?: Partial<LocalTools>;
  /** Where one-line notices go (recovered claims, an interrupted release). Default: stderr. */
  log?: (line: string) => void;
  /** Test only: stop at a state until the release is interrupted. Default: POUROVER_TEST_PAUSE. */
  testPause?: TestPause | null;
  /** Whether a rollback's images are still in the registry (tests: one is gone). Default: they are. */
  imagePresence?: ImagePresence;
}

/** A release of this runtime in progress: what an interrupt (SIGINT/SIGTERM) stops and waits for. */
interface ActiveRelease {
  abort(): void;
  done: Promise<void>;
}

/** The conventional exit code of a process ended by a signal: 128 + its number. */
export const signalExitCode = (signal: NodeJS.Signals): number => (signal === "SIGINT" ? 130 : 143);

export interface ReleaseOptions {
  tag: string;
  trigger?: Trigger;
  force?: boolean;
  scanReports?: Record<string, string>;
  /** A local clone of the app's source repository to build images from (with docker and trivy). */
  source?: string;
  onEvent?: (event: EventLog) => void;
  /** A rollback to the earlier SUCCEEDED release `tag` (see local/rollback.ts). */
  rollback?: { requestedAt: string; requestedBy: string; from: string | null };
}

export interface ReleaseOutcome {
  /** ABORTED: interrupted (SIGINT/SIGTERM); its claim and dev lock were given back. */
  status: "SUCCEEDED" | "FAILED" | "DUPLICATE" | "ABORTED";
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
  /** For a DUPLICATE: the release that already holds the tag. */
  duplicateOf?: {
    executionId: string;
    status: string;
    claimedAt: string;
    finishedAt: string | null;
    pid: number | null;
  };
  /** One line each, for the terminal summary: what the duplicate is, superseded, dry run, not recorded. */
  notes: string[];
  /** What could not be written under the state dir (disk full, permissions); the outcome stands. */
  notRecorded?: string[];
  output: unknown;
}

/** One machine's worth of Pourover: the same ASL and cores, local adapters behind the same ports. */
/** Seeded manifests repositories kept per seed, copied into new state dirs (see initManifestRepo). */
const SEED_TEMPLATES = join(PROJECT_ROOT, "node_modules", ".cache", "pourover-seeds");

export class LocalRuntime {
  private constructor(
    readonly options: LocalRuntimeOptions,
    readonly ledger: SqliteLedger,
    private readonly mailer: Mailer,
    private readonly deployRunner: DeployRunner,
    private readonly manifestsRepo: GitManifestRepository,
    private readonly manifestsDir: string,
    private readonly closeSes: () => Promise<void>,
    /** Set once the SES emulator listens (it starts beside the first release). */
    public sesEndpoint: string | null,
  ) {
    this.images = new LocalImageRegistry(options.config, options.configDir);
  }

  private sqliteDevLock: SqliteDevLock | undefined;

  /** Settles once the SES emulator listens or failed to start; never rejects. */
  private sesReady: Promise<void> = Promise.resolve();

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
    // Private to the user: it holds emails, reports and the ledger. Only a dir made here is chmod-ed.
    const created = await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
    if (created) await chmod(options.stateDir, 0o700);
    for (const path of Object.values(layout)) await refuseSymlink(path);
    const ledger = new SqliteLedger(layout.ledger, { owner: currentProcessOwner() });
    let manifestsDir = options.manifestsDir
      ? resolve(options.manifestsDir)
      : join(layout.repos, `${options.config.app}-manifests`);
    const seed = options.config.manifests.localSeed;
    if (!options.manifestsDir && !seed)
      throw new Error(
        `${options.config.app}: no --manifests given and the config has no manifests.localSeed`,
      );
    // Independent start-up work runs side by side (git seeding, the SES emulator's thread, the
    // docker/trivy checks are other processes or threads): start-up costs the slowest, not the sum.
    // The SES emulator's thread is not waited for here: it starts beside the engine, and the first
    // email waits for it (its failure is that email's, recorded as such, as any failed email is).
    const sesStarting = options.mailer ? null : startSesLocal();
    sesStarting?.catch(() => {});
    const [seeded, runnerFound, toolsFound] = await Promise.allSettled([
      options.manifestsDir || !seed
        ? Promise.resolve(null)
        : initManifestRepo(
            manifestsDir,
            resolve(options.configDir, seed),
            options.config.manifests.baseBranch,
            { templateCache: SEED_TEMPLATES },
          ),
      options.deployRunner
        ? Promise.resolve(options.deployRunner)
        : scriptDeployRunner(PROJECT_ROOT, { dryRun: localSettings().dryRunDeploy }),
      detectTools(options.tools),
    ]);
    const failedStart = [seeded, runnerFound, toolsFound].find((r) => r.status === "rejected");
    if (failedStart) {
      await sesStarting?.then((ses) => ses.close()).catch(() => {});
      ledger.close();
      throw (failedStart as PromiseRejectedResult).reason;
    }
    manifestsDir = resolve(manifestsDir);
    const repo = new GitManifestRepository({ repoDir: manifestsDir, pullsDir: layout.pulls });
    let mailer = options.mailer;
    let closeSes = async () => {};
    if (!mailer && sesStarting) {
      closeSes = () => sesStarting.then((ses) => ses.close()).catch(() => {});
      mailer = new OutboxMailer(
        sesStarting.then((ses) => ses.endpoint),
        layout.outbox,
        options.config.registry.region,
      );
    }
    const deployRunner = (runnerFound as PromiseFulfilledResult<DeployRunner>).value;
    const runtime = new LocalRuntime(
      options,
      ledger,
      mailer as Mailer,
      deployRunner,
      repo,
      manifestsDir,
      closeSes,
      null,
    );
    runtime.tools = (toolsFound as PromiseFulfilledResult<LocalTools>).value;
    if (sesStarting)
      runtime.sesReady = sesStarting.then(
        (ses) => {
          runtime.sesEndpoint = ses.endpoint;
        },
        () => {},
      );
    await runtime.recoverAbandoned();
    return runtime;
  }

  private log(line: string): void {
    (this.options.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(line);
  }

  /**
   * Releases left RUNNING by a process that no longer exists (kill -9, a crash, a reboot): their
   * dev lock and claim are given back, one line each says so, and the tag may be released again.
   */
  async recoverAbandoned(): Promise<string[]> {
    const lines: string[] = [];
    // A claim that kept no owner (an older Pourover) is dead once older than the workflow's own limit.
    const timeoutSeconds = Number(
      (loadDefinition(localSubstitutions(this.options.config.registry.region)) as { TimeoutSeconds?: number })
        .TimeoutSeconds ?? 21_600,
    );
    const ownerlessBefore = new Date(Date.now() - timeoutSeconds * 1000);
    for (const run of this.ledger.abandonedRuns(isOwnerAlive, ownerlessBefore)) {
      const why = run.owner
        ? `its process (pid ${run.owner.pid}, since ${run.owner.since}) ended without finishing the release`
        : `claimed ${run.claimedAt} by a process not recorded, longer ago than the workflow's TimeoutSeconds (${timeoutSeconds} s)`;
      const freed = await this.freeExecution(
        run.app,
        run.tag,
        run.executionId,
        "ABORTED",
        "ExecutionAbandoned",
        why,
      );
      if (!freed.claim) continue;
      const execution = run.executionId.split(":").pop();
      const line = run.owner
        ? `pourover: recovered ${run.app} ${run.tag}: its release (execution ${execution}, pid ${run.owner.pid}) was interrupted and that process is gone; claim freed${freed.lock ? ", dev lock freed" : ""}; it may be released again`
        : `pourover: recovered ${run.app} ${run.tag}: its release (execution ${execution}, claimed ${run.claimedAt}) never finished and is past the ${timeoutSeconds} s limit; claim freed${freed.lock ? ", dev lock freed" : ""}; it may be released again`;
      lines.push(line);
      this.log(line);
    }
    return lines;
  }

  /** Whether `app#tag` is claimed by `executionId` from this very process (pid and start time). */
  private ownsClaim(app: string, tag: string, executionId: string): boolean {
    const owner = this.ledger.ownerOf(app, tag);
    const me = currentProcessOwner();
    return (
      owner !== null &&
      owner.pid === me.pid &&
      owner.start === me.start &&
      owner.host === me.host &&
      this.ledger.executionOf(app, tag) === executionId
    );
  }

  /** Gives back the dev lock and the claim of an execution that will not finish; each only if it holds it. */
  private async freeExecution(
    app: string,
    tag: string,
    executionId: string,
    status: "ABORTED",
    error: string,
    message: string,
  ): Promise<{ claim: boolean; lock: boolean }> {
    const lock = await this.devLock.release(app, executionId).catch(() => false);
    const claim = await this.ledger.finishAbandoned({
      app,
      tag,
      executionId,
      status,
      finishedAt: new Date().toISOString(),
      summary: { abandoned: true, error: { name: error, message }, deploy: null, notified: false },
    });
    return { claim, lock };
  }

  private readonly active = new Set<ActiveRelease>();
  private signalled: NodeJS.Signals | null = null;
  private readonly onSignal = (signal: NodeJS.Signals) => {
    void this.stopOnSignal(signal);
  };

  /**
   * SIGINT/SIGTERM while releases run: each is aborted and gives back its claim and dev lock (its
   * own release() does that and prints one line), then the process exits 130/143. A second signal
   * exits at once.
   */
  private async stopOnSignal(signal: NodeJS.Signals): Promise<void> {
    if (this.signalled) process.exit(signalExitCode(signal));
    this.signalled = signal;
    const runs = [...this.active];
    for (const run of runs) run.abort();
    await Promise.race([
      Promise.allSettled(runs.map((r) => r.done)),
      new Promise((r) => setTimeout(r, 15_000).unref()),
    ]);
    await this.close().catch(() => {});
    process.exit(signalExitCode(signal));
  }

  private track(run: ActiveRelease): () => void {
    if (this.active.size === 0) {
      process.on("SIGINT", this.onSignal);
      process.on("SIGTERM", this.onSignal);
    }
    this.active.add(run);
    return () => {
      this.active.delete(run);
      if (this.active.size === 0) {
        process.off("SIGINT", this.onSignal);
        process.off("SIGTERM", this.onSignal);
      }
    };
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
        ? `SSM Run Command dev deploy → DRY RUN of infra/scripts/deploy-dev.sh (${this.deployRunner.dryRunReason ?? "no docker compose on this machine"}): commands printed, nothing deployed`
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
    const clock = this.options.clock ?? { now: () => new Date() };
    const artifacts = new DirectoryArtifactStore(layout.artifacts);
    const findings = new DirectoryFindingsStore(layout.reports);
    const deploys = new LocalDeployCommands(clock);
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
      PlanRelease: (input) =>
        planRelease(input, config, {
          registry: this.images,
          rollback: {
            ledger: this.ledger,
            // Nothing deletes images from the local stand-in for ECR.
            images: this.options.imagePresence ?? { exists: async () => true },
          },
        }),
      BuildScanPush: (input) => build(input as never),
      ScanImage: (input) => build(input as never),
      // Findings go next to the local reports, as they go next to the reports in S3.
      EvaluateScan: (input) => evaluateScan(input, { reports: new FileReportStore(), findings, clock }),
      // The same function for an ECR push's scan (the ScanPushedImages Map).
      EvaluatePushedScan: (input) => evaluateScan(input, { reports: new FileReportStore(), findings, clock }),
      GateOnScan: async (input) => gateOnScan(input as never),
      // No CodeBuild here: the caught Cause (the stand-in's Build JSON) is all there is to describe.
      DescribeBuildFailure: (input) =>
        describeBuildFailure(input, { builds: { describe: async () => null } }),
      DescribeScanFailure: (input) => describeBuildFailure(input, { builds: { describe: async () => null } }),
      UpdateManifests: (input) =>
        updateManifests(input, {
          config,
          repo: this.manifestsRepo,
          artifacts,
          executionUrl,
          // The changelog comes from the --source checkout when there is one.
          ...(source ? { history: new GitSourceHistory(source) } : {}),
        }),
      DeployDev: (input) => {
        const p = input as { Parameters: Record<string, string[]>; TimeoutSeconds: number };
        const first = (key: string) => p.Parameters[key]?.[0] ?? "";
        const timeout = Number(first("ExecutionTimeout"));
        return deploys.send(
          this.deployRunner,
          {
            app: first("App"),
            tag: first("Tag"),
            composeFile: artifacts.path(first("ComposeObject")),
            healthUrls: first("HealthUrls"),
            workdir: join(layout.deploys, first("App")),
            ...(timeout > 0 ? { timeoutSeconds: timeout } : {}),
          },
          p.TimeoutSeconds,
        );
      },
      VerifyDev: (input) => verifyDevDeploy(input as never, { reader: deploys, clock }),
      AcquireDevLock: (input) => acquireDevLock(input, { lock: this.devLock, clock }),
      // aws-sdk:ec2 / aws-sdk:ssm integrations in AWS (the wake loop): the same requests and
      // responses over the dev host stand-in (this machine unless a test gives one).
      ...localDevHostTasks(this.options.devHosts ?? THIS_MACHINE),
      // dynamodb:updateItem integrations in AWS: the same conditional release on the SQLite lock.
      ReleaseDevLock: (input) => localDevLockRelease(this.devLock)(input),
      ReleaseDevLockAfterFailure: (input) => localDevLockRelease(this.devLock)(input),
      NotifySuccess: notify,
      NotifyFailure: notify,
      RecordOutcome: (input) => recordOutcome(input as never, { ledger: this.ledger, events, clock }),
      ReportDevResult: (input) =>
        reportDevResult(input as never, { reporter: new PullRecordReporter(layout.pulls), executionUrl }),
    };
  }

  async release(opts: ReleaseOptions): Promise<ReleaseOutcome> {
    const { config } = this.options;
    const region = config.registry.region;
    const name = await this.executionNameFor(opts);
    const executionId = `arn:aws:states:${region}:000000000000:execution:pourover-${config.app}-release:${name}`;
    const input = {
      app: config.app,
      tag: opts.tag,
      trigger: opts.trigger ?? { source: "cli" as const, pusher: localSettings().user ?? "local" },
      // A rollback deploys an older version on purpose: the dev lock's newest-wins does not refuse it.
      force: (opts.force ?? false) || opts.rollback !== undefined,
      ...(opts.rollback ? { rollback: opts.rollback } : {}),
    };
    const scanReports = opts.scanReports ?? {};
    const emails: string[] = [];
    const interrupt = new AbortController();
    const inflight = new Set<Promise<unknown>>();
    const handlers = this.guardHandlers(
      this.taskHandlers(scanReports, emails, opts.source),
      interrupt.signal,
      inflight,
    );
    const machine = this.stateMachine();
    // Retries keep their order and count; only the pauses shrink, so a local run stays fast.
    const retryIntervalOverrides = Object.fromEntries(Object.keys(handlers).map((k) => [k, 5]));
    // Likewise the wake loop's 15 s pause between polls of the dev hosts.
    const waitTimeOverrides = { WaitForDevHosts: 5 };
    const startedAt = new Date();
    const execution = machine.run(input, {
      overrides: { taskResourceLocalHandlers: handlers as never, retryIntervalOverrides, waitTimeOverrides },
      context: {
        Execution: { Id: executionId, Name: name, StartTime: startedAt.toISOString(), Input: input },
      },
    });
    let finished: () => void = () => {};
    const untrack = this.track({
      abort: () => {
        interrupt.abort();
        execution.abort();
      },
      done: new Promise<void>((r) => {
        finished = r;
      }),
    });
    try {
      return await this.runExecution({
        opts,
        name,
        executionId,
        input,
        startedAt,
        execution,
        interrupt,
        inflight,
        emails,
        scanReports,
      });
    } finally {
      untrack();
      finished();
    }
  }

  /**
   * `<app>-<tag>-<attempt>` as in AWS (attempt 1, or one more than a failed attempt's); a run the
   * ledger will refuse as a duplicate gets a suffix, so it never overwrites the record of the one it
   * duplicates.
   */
  private async executionNameFor(opts: ReleaseOptions): Promise<string> {
    const request = { app: this.options.config.app, tag: opts.tag, rollback: opts.rollback };
    const held = opts.rollback ? null : await this.ledger.get(request.app, opts.tag);
    const attempt = held ? (attemptOf(held.executionId) ?? 1) + 1 : 1;
    let name = releaseExecutionName(request, attempt);
    // Step Functions would refuse a name already used; locally the run goes ahead (ClaimRelease
    // ends it as a duplicate) under a name of its own, so no execution record overwrites another.
    const taken =
      held?.status === "RUNNING" ||
      held?.status === "SUCCEEDED" ||
      this.namesInUse.has(name) ||
      existsSync(join(stateDirLayout(this.options.stateDir).executions, `${name}.json`));
    if (taken) name = `${name}-duplicate-${randomBytes(3).toString("hex")}`;
    this.namesInUse.add(name);
    return name;
  }

  /** Execution names given by this runtime (concurrent releases in one process). */
  private readonly namesInUse = new Set<string>();

  /**
   * Every Task handler, wrapped: an interrupt stops a test pause, and what is in flight is tracked so
   * an interrupted release waits for it (a git commit, an email) before giving back its claim.
   */
  private guardHandlers(
    handlers: Record<string, TaskHandler>,
    interrupted: AbortSignal,
    inflight: Set<Promise<unknown>>,
  ): Record<string, TaskHandler> {
    const pause = this.options.testPause === undefined ? loadTestPause() : this.options.testPause;
    const pauseAt = async (state: string, when: TestPause["when"]) => {
      if (!pause || pause.state !== state || pause.when !== when) return;
      this.log(`pourover: test pause ${when} ${state} (pid ${process.pid})`);
      await new Promise((_, reject) => {
        const stop = () => reject(new Error(`interrupted during the test pause ${when} ${state}`));
        if (interrupted.aborted) stop();
        else interrupted.addEventListener("abort", stop, { once: true });
      });
    };
    return Object.fromEntries(
      Object.entries(handlers).map(([state, handler]) => [
        state,
        (input: unknown) => {
          if (interrupted.aborted) return Promise.reject(new Error("the release was interrupted"));
          const run = (async () => {
            await pauseAt(state, "before");
            const result = await handler(input);
            await pauseAt(state, "after");
            return result;
          })();
          inflight.add(run);
          const forget = () => {
            inflight.delete(run);
          };
          run.then(forget, forget);
          return run;
        },
      ]),
    );
  }

  private async runExecution(r: {
    opts: ReleaseOptions;
    name: string;
    executionId: string;
    input: {
      app: string;
      tag: string;
      trigger: Trigger;
      force: boolean;
      rollback?: ReleaseOptions["rollback"];
    };
    startedAt: Date;
    execution: ReturnType<StateMachine["run"]>;
    interrupt: AbortController;
    inflight: Set<Promise<unknown>>;
    emails: string[];
    scanReports: Record<string, string>;
  }): Promise<ReleaseOutcome> {
    const { config, stateDir } = this.options;
    const { opts, name, executionId, input, startedAt, execution } = r;
    const log: EventLog[] = [];
    const collecting = (async () => {
      for await (const event of execution.eventLogs) {
        log.push(event);
        opts.onEvent?.(event);
      }
    })();
    let output: unknown = null;
    let failure: { error: string; cause: string } | undefined;
    // Only an execution that the interrupt actually stopped is ABORTED; one that had finished stands.
    let aborted = false;
    try {
      output = await execution.result;
    } catch (error) {
      const e = error as Error & { cause?: unknown };
      if (r.interrupt.signal.aborted) aborted = true;
      else failure = { error: e.name, cause: e.message };
    }
    if (aborted) {
      // What was running when the interrupt came (a commit, an email) finishes or fails first.
      await Promise.race([
        Promise.allSettled([...r.inflight]),
        new Promise((res) => setTimeout(res, 10_000).unref()),
      ]);
      await Promise.race([collecting, new Promise((res) => setTimeout(res, 200).unref())]);
    } else await collecting;
    const durationMs = Date.now() - startedAt.getTime();
    const notes: string[] = [];
    let status: ReleaseOutcome["status"];
    let duplicateOf: ReleaseOutcome["duplicateOf"];
    // The ledger's key: a rollback is its own record, apart from the release it goes back to.
    const ledgerKeyTag = ledgerTag({ tag: opts.tag, rollback: opts.rollback });
    if (aborted) {
      const signal = this.signalled ?? "an interrupt";
      // Only a claim this process wrote is given back: another process's run may share the name.
      const freed = this.ownsClaim(config.app, ledgerKeyTag, executionId)
        ? await this.freeExecution(
            config.app,
            ledgerKeyTag,
            executionId,
            "ABORTED",
            "ExecutionAborted",
            `stopped by ${signal}`,
          )
        : { claim: false, lock: false };
      status = "ABORTED";
      failure = { error: "ExecutionAborted", cause: `stopped by ${signal}` };
      const line = `pourover: ${signal}: ${config.app} ${opts.tag} ABORTED (execution ${name}); ${freed.claim ? "claim freed" : "no claim held"}, ${freed.lock ? "dev lock freed" : "no dev lock held"}; run it again to release it`;
      notes.push(line.replace(/^pourover: /, ""));
      this.log(line);
    } else {
      // A release that reached the Fail state carries its caught error (and everything it did) in the
      // state; the engine only reports a generic ExecutionError for it.
      const failedState = log.find((e) => e.type === "StateEntered" && e.state.name === "ReleaseFailed");
      if (failedState && "state" in failedState) {
        output = failedState.state.input;
        const caught = (output as ReleaseState).error;
        if (caught) failure = { error: caught.Error, cause: caught.Cause ?? "" };
      }
      const duplicate = log.some((e) => e.type === "StateEntered" && e.state.name === "Duplicate");
      status = failure ? "FAILED" : duplicate ? "DUPLICATE" : "SUCCEEDED";
      if (duplicate) {
        const held = await this.ledger.get(config.app, ledgerKeyTag);
        if (held) {
          const owner = this.ledger.ownerOf(config.app, ledgerKeyTag);
          duplicateOf = {
            executionId: held.executionId,
            status: held.status,
            claimedAt: held.claimedAt,
            finishedAt: held.finishedAt ?? null,
            pid: owner?.pid ?? null,
          };
          notes.push(`duplicate: ${describeClaim(held, owner)}`);
        }
      }
    }
    // The stand-ins say where the emulator listens: it has started by now (emails went through it).
    await this.sesReady;
    const finalState = output as ReleaseState | null;
    const deployed = finalState?.deploy?.result;
    if (deployed?.superseded) notes.push(`superseded by ${deployed.by ?? "a newer release"}, not deployed`);
    else if (deployed?.dryRun && status === "SUCCEEDED")
      notes.push(
        `dev deploy was a DRY RUN (${this.deployRunner.dryRunReason ?? "no docker compose here"}): pinned, nothing deployed`,
      );
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
      emails: r.emails,
      standIns: this.standIns(r.scanReports, opts.source),
      ...(failure ? { error: failure } : {}),
      ...(duplicateOf ? { duplicateOf } : {}),
      notes,
      output,
    };
    const history = toExecutionHistory(log);
    if (aborted && !history.events.some((e) => e.type === "ExecutionAborted")) {
      const last = history.events.length;
      history.events.push({
        id: last + 1,
        previousEventId: last,
        timestamp: new Date().toISOString(),
        type: "ExecutionAborted",
        executionAbortedEventDetails: { error: "ExecutionAborted", cause: failure?.cause ?? "" },
      });
    }
    const record: ExecutionRecord = {
      executionArn: executionId,
      name,
      stateMachine: `pourover-${config.app}-release`,
      input,
      startDate: startedAt.toISOString(),
      stopDate: new Date(startedAt.getTime() + durationMs).toISOString(),
      outcome,
      history,
    };
    try {
      await writeFileAtomic(
        join(stateDirLayout(stateDir).executions, `${name}.json`),
        `${JSON.stringify(record, null, 2)}\n`,
      );
    } catch (error) {
      // Disk full, permissions: the release happened; say what is missing rather than lose the outcome.
      const what = `execution record ${name}.json (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
      outcome.notRecorded = [what];
      notes.push(`NOT RECORDED: ${what}; \`pourover executions\` will not list it`);
    }
    return outcome;
  }

  private machine: StateMachine | undefined;

  /**
   * The workflow, validated once per runtime: validating the ASL costs the engine a second or two of
   * CPU, and every execution of this runtime runs the same file.
   */
  private stateMachine(): StateMachine {
    if (this.machine) return this.machine;
    const definition = loadDefinition(localSubstitutions(this.options.config.registry.region));
    // Validation is most of a short run's CPU; the same definition under the same engine validates
    // the same way, so a marker per (definition, engine version) lets later processes skip it.
    const marker = validatedMarker(definition);
    const known = marker !== null && existsSync(marker);
    this.machine = new StateMachine(definition as never, {
      validationOptions: known ? { noValidate: true } : { checkArn: true, checkPaths: true },
    });
    if (!known && marker) {
      try {
        mkdirSync(dirname(marker), { recursive: true });
        writeFileSync(marker, "");
      } catch {
        // A read-only checkout validates every time; nothing else changes.
      }
    }
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

/** Where a passed validation of this exact definition is remembered (under the CLI bundle's cache). */
function validatedMarker(definition: unknown): string | null {
  let engine = "unknown";
  try {
    engine = (
      JSON.parse(
        readFileSync(join(PROJECT_ROOT, "node_modules", "aws-local-stepfunctions", "package.json"), "utf8"),
      ) as { version: string }
    ).version;
  } catch {
    return null;
  }
  const digest = createHash("sha256")
    .update(`${engine}\n${JSON.stringify(definition)}`)
    .digest("hex");
  return join(PROJECT_ROOT, "node_modules", ".cache", "pourover", `asl-validated-${digest.slice(0, 32)}`);
}

export function nextPatch(tags: string[]): string {
  let best: ReturnType<typeof parseVersion> = null;
  for (const tag of tags) {
    const v = parseVersion(tag);
    if (v && !v.pre && (!best || compareVersions(v, best) > 0)) best = v;
  }
  return best ? `v${best.major}.${best.minor}.${best.patch + 1}` : "v0.1.0";
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

export async function listExecutions(
  stateDir: string,
  warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<ExecutionRecord[]> {
  const dir = stateDirLayout(stateDir).executions;
  if (!existsSync(dir)) return [];
  const files = (await readdir(dir)).filter((f) => f.endsWith(".json") && !f.startsWith("."));
  const records = await Promise.all(
    files.map(async (f) => {
      try {
        const record = JSON.parse(await readFile(join(dir, f), "utf8")) as ExecutionRecord;
        if (typeof record?.startDate !== "string" || typeof record.outcome?.status !== "string")
          throw new Error("not an execution record");
        return record;
      } catch (error) {
        // A record cut short (a crash, a full disk) must not hide every other execution.
        warn(`pourover: skipped ${join(dir, f)}: unreadable execution record (${(error as Error).message})`);
        return null;
      }
    }),
  );
  return records
    .filter((r): r is ExecutionRecord => r !== null)
    .sort((a, b) => a.startDate.localeCompare(b.startDate));
}
