import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import "../shared/polyfills.js";
import type { StateMachine } from "aws-local-stepfunctions";
import { stateDirLayout } from "../shared/adapters/local/file-stores.js";
import type { GitManifestRepository } from "../shared/adapters/local/git-manifest-repository.js";
import { SqliteDevLock } from "../shared/adapters/local/sqlite-dev-lock.js";
import { describeClaim, type SqliteLedger } from "../shared/adapters/local/sqlite-ledger.js";
import { localSettings } from "../shared/config/local-env.js";
import { parseVersion } from "../shared/contracts/release.js";
import type { ReleaseState } from "../shared/contracts/release-state.js";
import { attemptOf, ledgerTag, releaseExecutionName } from "../shared/domain/release-naming.js";
import { compareVersions } from "../shared/domain/release-version.js";
import type { DevLock, Mailer } from "../shared/ports/index.js";
import { freeExecution, ownsClaim, recoverAbandonedRuns } from "./claim-recovery.js";
import { awaitExecution, type RunningExecution } from "./engine-execution.js";
import type { EventLog } from "./event-log.js";
import { executionHistory, writeExecutionRecord } from "./execution-records.js";
import { ReleaseInterrupts } from "./interrupts.js";
import type { LocalTools } from "./local-build.js";
import { type DeployRunner, LocalImageRegistry } from "./local-tasks.js";
import { PROJECT_ROOT } from "./paths.js";
import {
  deployNotes,
  pullRequestOf,
  type ReleaseFailure,
  type ReleaseOptions,
  type ReleaseOutcome,
  readEnding,
  stateTimeline,
} from "./release-outcome.js";
import type { LocalRuntimeOptions } from "./runtime-options.js";
import { startAdapters } from "./runtime-start.js";
import { localStateMachine } from "./state-machine-definition.js";
import {
  guardTaskHandlers,
  localStandIns,
  localTaskHandlers,
  type TaskHandler,
  type TaskHandlerDeps,
} from "./task-handlers.js";

export { listExecutions } from "./execution-records.js";
export { signalExitCode } from "./interrupts.js";
export { ASL_PATH, PROJECT_ROOT } from "./paths.js";
export { type ReleaseOptions, type ReleaseOutcome, stateTimeline } from "./release-outcome.js";
export type { LocalRuntimeOptions } from "./runtime-options.js";
export { loadDefinition, localSubstitutions } from "./state-machine-definition.js";
export type { TaskHandler } from "./task-handlers.js";

/** Seeded manifests repositories kept per seed, copied into new state dirs (see initManifestRepo). */
const SEED_TEMPLATES = join(PROJECT_ROOT, "node_modules", ".cache", "pourover-seeds");

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
    const started = await startAdapters(options, SEED_TEMPLATES);
    const { sesStarting } = started;
    const runtime = new LocalRuntime(
      options,
      started.ledger,
      started.mailer,
      started.deployRunner,
      started.repo,
      started.manifestsDir,
      started.closeSes,
      null,
    );
    runtime.tools = started.tools;
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
    // The runtime itself holds them: its dev lock opens only if a run is to be freed.
    return recoverAbandonedRuns(this, {
      region: this.options.config.registry.region,
      log: (line) => this.log(line),
    });
  }

  /** SIGINT/SIGTERM while releases run: they are stopped, then this runtime closes and the process exits. */
  private readonly interrupts = new ReleaseInterrupts(() => this.close());

  /** What build+scan can use on this machine, detected once per runtime. */
  tools: LocalTools = { docker: false, trivy: false };

  /** The adapters this runtime's Task handlers use. */
  private handlerDeps(): TaskHandlerDeps {
    return {
      options: this.options,
      ledger: this.ledger,
      mailer: this.mailer,
      deployRunner: this.deployRunner,
      manifestsRepo: this.manifestsRepo,
      manifestsDir: this.manifestsDir,
      devLock: () => this.devLock,
      images: this.images,
      tools: this.tools,
      sesEndpoint: this.sesEndpoint,
    };
  }

  /** What this runtime stands in for, said on every run. */
  standIns(scanReports: Record<string, string>, source?: string): string[] {
    return localStandIns(this.handlerDeps(), scanReports, source);
  }

  /** The local handler of every Task state, by state name (the contract test checks the set). */
  taskHandlers(
    scanReports: Record<string, string>,
    emails: string[],
    source?: string,
  ): Record<string, TaskHandler> {
    return localTaskHandlers(this.handlerDeps(), { scanReports, emails, ...(source ? { source } : {}) });
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
    const handlers = guardTaskHandlers(this.taskHandlers(scanReports, emails, opts.source), {
      interrupted: interrupt.signal,
      inflight,
      testPause: this.options.testPause,
      log: (line) => this.log(line),
    });
    const machine = this.stateMachine();
    // Retries keep their order and count; only the pauses shrink, so a local run stays fast.
    const retryIntervalOverrides = Object.fromEntries(Object.keys(handlers).map((k) => [k, 5]));
    // Likewise the wake loop's 15 s pause between polls of the dev hosts.
    const waitTimeOverrides = { WaitForDevHosts: 5 };
    const startedAt = new Date();
    const execution = machine.run(input, {
      overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides, waitTimeOverrides },
      context: {
        Execution: { Id: executionId, Name: name, StartTime: startedAt.toISOString(), Input: input },
      },
    });
    let finished: () => void = () => {};
    const untrack = this.interrupts.track({
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

  private async runExecution(r: RunningExecution): Promise<ReleaseOutcome> {
    const { config, stateDir } = this.options;
    const { opts, name, executionId, startedAt } = r;
    const ended = await awaitExecution(r);
    const { log, aborted } = ended;
    const durationMs = Date.now() - startedAt.getTime();
    // The ledger's key: a rollback is its own record, apart from the release it goes back to.
    const ledgerKeyTag = ledgerTag({ tag: opts.tag, rollback: opts.rollback });
    const settled = aborted
      ? await this.settleAborted(ledgerKeyTag, r)
      : await this.settleFinished(ledgerKeyTag, log, ended);
    const { status, failure, output, notes } = settled;
    // The stand-ins say where the emulator listens: it has started by now (emails went through it).
    await this.sesReady;
    const finalState = output as ReleaseState | null;
    notes.push(...deployNotes(finalState, status, this.deployRunner.dryRunReason));
    const outcome: ReleaseOutcome = {
      status,
      executionId,
      tag: opts.tag,
      transitions: log.filter((e) => e.type === "StateEntered").length,
      durationMs,
      states: stateTimeline(log),
      ...pullRequestOf(finalState),
      emails: r.emails,
      standIns: this.standIns(r.scanReports, opts.source),
      ...(failure ? { error: failure } : {}),
      ...(settled.duplicateOf ? { duplicateOf: settled.duplicateOf } : {}),
      notes,
      output,
    };
    await writeExecutionRecord(stateDir, {
      executionArn: executionId,
      name,
      stateMachine: `pourover-${config.app}-release`,
      input: r.input,
      startDate: startedAt.toISOString(),
      stopDate: new Date(startedAt.getTime() + durationMs).toISOString(),
      outcome,
      history: executionHistory(log, aborted ? (failure?.cause ?? "") : null),
    });
    return outcome;
  }

  /** An interrupted execution: its claim and dev lock are given back, and one line says so. */
  private async settleAborted(ledgerKeyTag: string, r: RunningExecution): Promise<Settled> {
    const { config } = this.options;
    const signal = this.interrupts.signalled ?? "an interrupt";
    // Only a claim this process wrote is given back: another process's run may share the name.
    const freed = ownsClaim(this.ledger, config.app, ledgerKeyTag, r.executionId)
      ? await freeExecution(this, {
          app: config.app,
          tag: ledgerKeyTag,
          executionId: r.executionId,
          error: "ExecutionAborted",
          message: `stopped by ${signal}`,
        })
      : { claim: false, lock: false };
    const line = `pourover: ${signal}: ${config.app} ${r.opts.tag} ABORTED (execution ${r.name}); ${freed.claim ? "claim freed" : "no claim held"}, ${freed.lock ? "dev lock freed" : "no dev lock held"}; run it again to release it`;
    this.log(line);
    return {
      status: "ABORTED",
      failure: { error: "ExecutionAborted", cause: `stopped by ${signal}` },
      output: null,
      notes: [line.replace(/^pourover: /, "")],
    };
  }

  /** An execution that ran to its end: SUCCEEDED, FAILED, or a DUPLICATE of the release holding the tag. */
  private async settleFinished(
    ledgerKeyTag: string,
    log: EventLog[],
    result: { output: unknown; failure?: ReleaseFailure | undefined },
  ): Promise<Settled> {
    const { app } = this.options.config;
    const { output, failure, duplicate } = readEnding(log, result);
    const status = failure ? "FAILED" : duplicate ? "DUPLICATE" : "SUCCEEDED";
    const notes: string[] = [];
    let duplicateOf: ReleaseOutcome["duplicateOf"];
    const held = duplicate ? await this.ledger.get(app, ledgerKeyTag) : null;
    if (held) {
      const owner = this.ledger.ownerOf(app, ledgerKeyTag);
      duplicateOf = {
        executionId: held.executionId,
        status: held.status,
        claimedAt: held.claimedAt,
        finishedAt: held.finishedAt ?? null,
        pid: owner?.pid ?? null,
      };
      notes.push(`duplicate: ${describeClaim(held, owner)}`);
    }
    return { status, failure, output, notes, ...(duplicateOf ? { duplicateOf } : {}) };
  }

  private machine: StateMachine | undefined;

  /** The workflow, validated once per runtime: every execution of this runtime runs the same file. */
  private stateMachine(): StateMachine {
    this.machine ??= localStateMachine(this.options.config.registry.region);
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

/** How one release ended, before its outcome is put together. */
interface Settled {
  status: ReleaseOutcome["status"];
  failure?: ReleaseFailure | undefined;
  output: unknown;
  notes: string[];
  duplicateOf?: ReleaseOutcome["duplicateOf"];
}

export function nextPatch(tags: string[]): string {
  let best: ReturnType<typeof parseVersion> = null;
  for (const tag of tags) {
    const v = parseVersion(tag);
    if (v && !v.pre && (!best || compareVersions(v, best) > 0)) best = v;
  }
  return best ? `v${best.major}.${best.minor}.${best.patch + 1}` : "v0.1.0";
}
