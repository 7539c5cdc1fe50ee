import { join } from "node:path";
import type { RunOptions, StateMachine } from "aws-local-stepfunctions";
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
import { DirectoryFindingsStore } from "../shared/adapters/local/directory-findings-store.js";
import {
  DirectoryArtifactStore,
  FileReportStore,
  JsonLinesEventPublisher,
  stateDirLayout,
} from "../shared/adapters/local/file-stores.js";
import type { GitManifestRepository } from "../shared/adapters/local/git-manifest-repository.js";
import type { SqliteLedger } from "../shared/adapters/local/sqlite-ledger.js";
import type { Clock, DevHosts, DevLock, Mailer } from "../shared/ports/index.js";
import { describeBuildStandIn, type LocalTools, planBuilds } from "./local-build.js";
import {
  type DeployRunner,
  LocalDeployCommands,
  type LocalImageRegistry,
  localBuildAndScan,
  localDevHostTasks,
  localDevLockRelease,
} from "./local-tasks.js";
import { PullRecordReporter } from "./pull-record-reporter.js";
import type { LocalRuntimeOptions } from "./runtime-options.js";
import { OutboxMailer } from "./ses-local.js";
import { GitSourceHistory } from "./source-history.js";
import { loadTestPause, type TestPause } from "./test-hooks.js";

export type TaskHandler = (input: unknown) => Promise<unknown>;

/** The engine's map of Task state to local handler. */
type EngineHandlers = NonNullable<NonNullable<RunOptions["overrides"]>["taskResourceLocalHandlers"]>;
/** What the engine passes around: JSON. */
type JsonValue = Parameters<StateMachine["run"]>[0];

/** Locally there is no EC2: the dev host is this machine, always running, nothing to start. */
const THIS_MACHINE: DevHosts = {
  list: async () => [{ instanceId: "localhost", state: "running", agent: "Online" }],
  start: async () => {},
};

/** The local adapters a runtime holds, behind the same ports the Lambdas use in AWS. */
export interface TaskHandlerDeps {
  options: LocalRuntimeOptions;
  ledger: SqliteLedger;
  mailer: Mailer;
  deployRunner: DeployRunner;
  manifestsRepo: GitManifestRepository;
  manifestsDir: string;
  /** Read at each call: the SQLite dev lock opens on first use. */
  devLock: () => DevLock;
  images: LocalImageRegistry;
  tools: LocalTools;
  /** Where the SES emulator listens, once it does. */
  sesEndpoint: string | null;
}

/** What one release gives its handlers. */
export interface ReleaseInputs {
  scanReports: Record<string, string>;
  /** Filled with each email sent (its .eml path, or the test mailer's message id). */
  emails: string[];
  source?: string;
}

/** The local handler of every Task state, by state name (the contract test checks the set). */
export function localTaskHandlers(
  deps: TaskHandlerDeps,
  release: ReleaseInputs,
): Record<string, TaskHandler> {
  return { ...coreHandlers(deps, release), ...serviceHandlers(deps, release) };
}

/** The Task states that invoke a Lambda in AWS: the same cores, called in process. */
function coreHandlers(deps: TaskHandlerDeps, release: ReleaseInputs): Record<string, TaskHandler> {
  const { config, stateDir } = deps.options;
  const layout = stateDirLayout(stateDir);
  const clock = clockOf(deps);
  const { ledger } = deps;
  const findings = new DirectoryFindingsStore(layout.reports);
  const events = new JsonLinesEventPublisher(layout.events);
  const executionUrl = (id: string) => `pourover show ${id.split(":").pop()} --state-dir ${stateDir}`;
  const mailer = recordingMailer(deps.mailer, release.emails);
  const notify: TaskHandler = (input) => sendNotification(input, { config, mailer, executionUrl });
  const evaluate: TaskHandler = (input) =>
    evaluateScan(input, { reports: new FileReportStore(), findings, clock });
  // No CodeBuild here: the caught Cause (the stand-in's Build JSON) is all there is to describe.
  const describe: TaskHandler = (input) =>
    describeBuildFailure(input, { builds: { describe: async () => null } });
  return {
    ClaimRelease: (input) => claimRelease(input, { ledger, clock }),
    PlanRelease: (input) =>
      planRelease(input, config, {
        registry: deps.images,
        rollback: {
          ledger,
          // Nothing deletes images from the local stand-in for ECR.
          images: deps.options.imagePresence ?? { exists: async () => true },
        },
      }),
    // Findings go next to the local reports, as they go next to the reports in S3.
    EvaluateScan: evaluate,
    // The same function for an ECR push's scan (the ScanPushedImages Map).
    EvaluatePushedScan: evaluate,
    GateOnScan: async (input) => gateOnScan(input),
    DescribeBuildFailure: describe,
    DescribeScanFailure: describe,
    UpdateManifests: (input) =>
      updateManifests(input, {
        config,
        repo: deps.manifestsRepo,
        artifacts: new DirectoryArtifactStore(layout.artifacts),
        executionUrl,
        // The changelog comes from the --source checkout when there is one.
        ...(release.source ? { history: new GitSourceHistory(release.source) } : {}),
      }),
    AcquireDevLock: (input) => acquireDevLock(input, { lock: deps.devLock(), clock }),
    NotifySuccess: notify,
    NotifyFailure: notify,
    RecordOutcome: (input) => recordOutcome(input, { ledger, events, clock }),
    ReportDevResult: (input) =>
      reportDevResult(input, { reporter: new PullRecordReporter(layout.pulls), executionUrl }),
  };
}

/** The Task states that call an AWS service directly: stand-ins answering as that service does. */
function serviceHandlers(deps: TaskHandlerDeps, release: ReleaseInputs): Record<string, TaskHandler> {
  const { config, configDir, stateDir } = deps.options;
  const layout = stateDirLayout(stateDir);
  const clock = clockOf(deps);
  const artifacts = new DirectoryArtifactStore(layout.artifacts);
  const deploys = new LocalDeployCommands(clock);
  const build = localBuildAndScan({
    config,
    configDir,
    reportsDir: layout.reports,
    scanReports: release.scanReports,
    ...(deps.options.buildOverrides ? { overrides: deps.options.buildOverrides } : {}),
    tools: deps.tools,
    ...(release.source ? { source: release.source } : {}),
  });
  return {
    BuildScanPush: build,
    ScanImage: build,
    DeployDev: (input) => {
      const p = input as { Parameters: Record<string, string[]>; TimeoutSeconds: number };
      const first = (key: string) => p.Parameters[key]?.[0] ?? "";
      const timeout = Number(first("ExecutionTimeout"));
      return deploys.send(
        deps.deployRunner,
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
    VerifyDev: (input) => verifyDevDeploy(input, { reader: deploys, clock }),
    // aws-sdk:ec2 / aws-sdk:ssm integrations in AWS (the wake loop): the same requests and
    // responses over the dev host stand-in (this machine unless a test gives one).
    ...localDevHostTasks(deps.options.devHosts ?? THIS_MACHINE),
    // dynamodb:updateItem integrations in AWS: the same conditional release on the SQLite lock.
    ReleaseDevLock: (input) => localDevLockRelease(deps.devLock())(input),
    ReleaseDevLockAfterFailure: (input) => localDevLockRelease(deps.devLock())(input),
  };
}

function clockOf(deps: TaskHandlerDeps): Clock {
  return deps.options.clock ?? { now: () => new Date() };
}

/** The runtime's mailer, noting each email sent for the release's outcome. */
function recordingMailer(mailer: Mailer, emails: string[]): Mailer {
  return {
    send: async (message) => {
      const result = await mailer.send(message);
      if (mailer instanceof OutboxMailer) emails.push(mailer.sent[mailer.sent.length - 1] ?? "");
      else emails.push(result.messageId);
      return result;
    },
  };
}

/**
 * Every Task handler, wrapped for the engine: an interrupt stops a test pause, and what is in flight
 * is tracked so an interrupted release waits for it (a git commit, an email) before giving back its
 * claim.
 */
export function guardTaskHandlers(
  handlers: Record<string, TaskHandler>,
  guard: {
    interrupted: AbortSignal;
    inflight: Set<Promise<unknown>>;
    testPause: TestPause | null | undefined;
    log: (line: string) => void;
  },
): EngineHandlers {
  const { interrupted, inflight } = guard;
  const pause = guard.testPause === undefined ? loadTestPause() : guard.testPause;
  const pauseAt = async (state: string, when: TestPause["when"]) => {
    if (!pause || pause.state !== state || pause.when !== when) return;
    guard.log(`pourover: test pause ${when} ${state} (pid ${process.pid})`);
    await new Promise((_, reject) => {
      const stop = () => reject(new Error(`interrupted during the test pause ${when} ${state}`));
      if (interrupted.aborted) stop();
      else interrupted.addEventListener("abort", stop, { once: true });
    });
  };
  const guarded = (state: string, handler: TaskHandler) => (input: unknown) => {
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
    // What a core returns crosses Lambda's JSON boundary in AWS: it is JSON by contract.
    return run as Promise<JsonValue>;
  };
  return Object.fromEntries(
    Object.entries(handlers).map(([state, handler]) => [state, guarded(state, handler)]),
  );
}

/** What this runtime stands in for, said on every run. */
export function localStandIns(
  deps: TaskHandlerDeps,
  scanReports: Record<string, string>,
  source?: string,
): string[] {
  const layout = stateDirLayout(deps.options.stateDir);
  const { deployRunner } = deps;
  return [
    "Step Functions → aws-local-stepfunctions running state-machines/release.asl.json",
    "Lambda functions → the same cores, called in process",
    `DynamoDB release ledger → SQLite ${layout.ledger}`,
    describeBuildStandIn(planBuilds(deps.options.config, scanReports, deps.tools, source), source),
    `GitHub manifests repo → local git repository ${deps.manifestsDir} (PR records in ${layout.pulls})`,
    deployRunner.mode === "dry-run"
      ? `SSM Run Command dev deploy → DRY RUN of infra/scripts/deploy-dev.sh (${deployRunner.dryRunReason ?? "no docker compose on this machine"}): commands printed, nothing deployed`
      : deployRunner.mode === "docker"
        ? "SSM Run Command dev deploy → infra/scripts/deploy-dev.sh run on this machine with docker compose"
        : "SSM Run Command dev deploy → a test deploy runner",
    deps.sesEndpoint
      ? `SES → aws-ses-v2-local on ${deps.sesEndpoint}; copies in ${layout.outbox}`
      : "SES → a test mailer",
    `EventBridge → the pipeline's rule patterns matched in process; outcome events appended to ${layout.events}`,
    "ECR (ECR-triggered releases) → digests from the ECR events given to `pourover event`, else from the sample reports",
    deps.options.devHosts
      ? "EC2 dev host → a test stand-in for EC2 and the SSM agent"
      : "EC2 dev host → this machine; nothing to start",
  ];
}
