import { existsSync } from "node:fs";
import type { SFNClient } from "@aws-sdk/client-sfn";
import { SfnReleaseStarter } from "../shared/adapters/aws/sfn-release-starter.js";
import { stateDirLayout } from "../shared/adapters/local/file-stores.js";
import { SqliteLedger } from "../shared/adapters/local/sqlite-ledger.js";
import { inheritedEnv } from "../shared/config/local-env.js";
import type { AppConfig } from "../shared/contracts/app-config.js";
import { parseReleaseRequest, type ReleaseRequest } from "../shared/contracts/release.js";
import { executionConsoleUrl } from "../shared/domain/console-url.js";
import { InvalidInputError } from "../shared/domain/errors.js";
import { parseLedgerTag, releaseExecutionName } from "../shared/domain/release-naming.js";
import { rollbackProblem } from "../shared/domain/rollback.js";
import { LocalRuntime, type ReleaseOutcome } from "./runtime.js";

/** A Step Functions state machine ARN (the stack output StateMachineArn). */
const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/;

export interface RollbackTarget {
  /** Set with --aws: where to start the rollback execution. */
  aws: { stateMachineArn: string; region?: string } | null;
  /** Who asks: recorded in the request, the ledger and the email. */
  user: string;
}

/**
 * Where `pourover rollback` reads its environment (a copy, once): POUROVER_STATE_MACHINE_ARN (when
 * --state-machine-arn is not given) and USER. Bad combinations are refused before anything runs.
 */
export function rollbackTarget(
  flags: { aws?: boolean; "state-machine-arn"?: string; region?: string },
  env: NodeJS.ProcessEnv = inheritedEnv(),
): RollbackTarget {
  const user = env.USER || env.LOGNAME || "local";
  if (!flags.aws) {
    const stray = (["state-machine-arn", "region"] as const).filter((f) => flags[f] !== undefined);
    if (stray.length > 0)
      throw new InvalidInputError(
        `${stray.map((f) => `--${f}`).join(" and ")} ${stray.length > 1 ? "go" : "goes"} with --aws (a rollback in AWS); without --aws the rollback runs here`,
      );
    return { aws: null, user };
  }
  const arn = flags["state-machine-arn"] ?? env.POUROVER_STATE_MACHINE_ARN;
  if (!arn)
    throw new InvalidInputError(
      "rollback --aws needs --state-machine-arn <arn> (or POUROVER_STATE_MACHINE_ARN): the stack output StateMachineArn",
    );
  if (!STATE_MACHINE_ARN.test(arn))
    throw new InvalidInputError(
      `--state-machine-arn: "${arn.slice(0, 200)}" is not a Step Functions state machine ARN`,
    );
  if (flags.region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(flags.region))
    throw new InvalidInputError(`--region: "${flags.region.slice(0, 40)}" is not an AWS region`);
  return { aws: { stateMachineArn: arn, ...(flags.region ? { region: flags.region } : {}) }, user };
}

export interface RollbackOptions {
  tag: string;
  config: AppConfig;
  configDir: string;
  stateDir: string;
  manifestsDir?: string;
  json: boolean;
  /** Start the rollback in AWS (StartExecution) instead of running it here. */
  aws?: { stateMachineArn: string; region?: string; client?: SFNClient };
  /** Who asks (the CLI passes $USER; default "local"). */
  requestedBy?: string;
  now?: () => Date;
}

/** The release request of a rollback to `tag`: the workflow input, locally and in AWS. */
export function rollbackRequest(
  app: string,
  tag: string,
  requestedBy: string,
  requestedAt: Date,
  from: string | null,
): ReleaseRequest {
  return parseReleaseRequest({
    app,
    tag,
    trigger: { source: "cli", pusher: requestedBy },
    // The dev lock's newest-wins and the editor's downgrade refusal order by tag: a rollback is the
    // newest by time of request, so it goes back on purpose.
    force: true,
    rollback: { requestedAt: requestedAt.toISOString(), requestedBy, from },
  });
}

/**
 * `pourover rollback <tag>`: no build, no scan; the digests the ledger recorded for the earlier
 * SUCCEEDED release `tag` are pinned again with one commit on rollback/<app>/<tag> and a PR, dev is
 * deployed, and the email says "rolled back to <tag>". Refused with one line (exit 2) when `tag` was
 * never released successfully (or, in the workflow, when its images are gone from the registry).
 * With `aws`: StartExecution of the same request on the deployed state machine.
 */
export async function rollbackCommand(opts: RollbackOptions, io: RollbackIo): Promise<number> {
  const requestedBy = opts.requestedBy ?? "local";
  const now = (opts.now ?? (() => new Date()))();
  if (opts.aws) return rollbackInAws(opts, opts.aws, io, requestedBy, now);
  // Refused before anything is touched: no claim, no commit, no email.
  const checked = await checkLocalTarget(opts, io);
  if ("refused" in checked) return checked.refused;
  const { from } = checked;
  const { config, tag } = opts;
  const runtime = await LocalRuntime.start({
    config,
    configDir: opts.configDir,
    stateDir: opts.stateDir,
    ...(opts.manifestsDir ? { manifestsDir: opts.manifestsDir } : {}),
  });
  let outcome: ReleaseOutcome;
  try {
    const say = opts.json ? io.err : io.out;
    say(`pourover: local rollback of ${config.app} to ${tag}${from ? ` (dev runs ${from})` : ""}`);
    outcome = await runtime.release({
      tag,
      force: true,
      rollback: { requestedAt: now.toISOString(), requestedBy, from },
    });
  } finally {
    await runtime.close();
  }
  return reportLocalRollback(opts, outcome, from, io);
}

type RollbackIo = {
  out: (line: string) => void;
  err: (line: string) => void;
  json: (value: unknown) => void;
};

/**
 * In AWS the ledger is in DynamoDB: the workflow's PlanRelease checks the target and its images, and
 * a refused rollback fails there with RollbackRefusedError (one line, in the email and the console).
 */
async function rollbackInAws(
  opts: RollbackOptions,
  aws: NonNullable<RollbackOptions["aws"]>,
  io: RollbackIo,
  requestedBy: string,
  now: Date,
): Promise<number> {
  const { config, tag } = opts;
  const request = rollbackRequest(config.app, tag, requestedBy, now, null);
  const name = releaseExecutionName(request, 1);
  const region = aws.region ?? aws.stateMachineArn.split(":")[3];
  const client = aws.client ?? new (await import("@aws-sdk/client-sfn")).SFNClient(region ? { region } : {});
  let started: { started: boolean; executionId: string | null };
  try {
    started = await new SfnReleaseStarter(client, aws.stateMachineArn).start(name, request);
  } catch (error) {
    // Credentials, access, a deleted state machine, the network: one line, no stack.
    const e = error as Error;
    io.err(`pourover: rollback --aws: Step Functions said ${e.name}: ${(e.message ?? "").split("\n")[0]}`);
    return 1;
  }
  const executionArn =
    started.executionId ?? `${aws.stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
  if (!started.started) {
    // ExecutionAlreadyExists: the name is taken by a closed execution, or by an open one with other
    // input (same name and input is idempotent and answers 200). The name carries the second of the
    // request, so this is another rollback to the same tag asked for in the same second.
    io.err(
      `pourover: a rollback execution named ${name} already exists (Step Functions refuses a repeated name); nothing was started: ${executionConsoleUrl(executionArn)}`,
    );
    return 1;
  }
  if (opts.json)
    io.json({ started: true, name, executionArn, consoleUrl: executionConsoleUrl(executionArn), request });
  else
    io.out(
      `started: rollback of ${config.app} to ${tag}, execution ${name}\n  ${executionConsoleUrl(executionArn)}`,
    );
  return 0;
}

/** The local ledger's word on the target: refused (exit 2, one line said), or what dev runs now. */
async function checkLocalTarget(
  opts: RollbackOptions,
  io: RollbackIo,
): Promise<{ refused: number } | { from: string | null }> {
  const { config, tag } = opts;
  const file = stateDirLayout(opts.stateDir).ledger;
  if (!existsSync(file)) {
    io.err(
      `pourover: cannot roll back ${config.app} to ${tag}: no release was ever recorded in ${opts.stateDir}`,
    );
    return { refused: 2 };
  }
  const ledger = new SqliteLedger(file);
  try {
    const problem = rollbackProblem(config.app, tag, await ledger.get(config.app, tag));
    if (problem) {
      io.err(`pourover: ${problem}`);
      return { refused: 2 };
    }
    const onDev = await ledger.latestSucceeded(config.app);
    return { from: onDev ? parseLedgerTag(onDev.tag).tag : null };
  } finally {
    ledger.close();
  }
}

/** Prints a local rollback's outcome; its exit code: 2 refused by the workflow, 1 failed, else 0. */
function reportLocalRollback(
  opts: RollbackOptions,
  outcome: ReleaseOutcome,
  from: string | null,
  io: RollbackIo,
): number {
  const { config, tag } = opts;
  const refused = outcome.error?.error === "RollbackRefusedError";
  if (opts.json) {
    const { output: _output, ...rest } = outcome;
    io.json({ ...rest, rollback: { to: tag, from } });
  }
  if (refused) {
    io.err(`pourover: ${outcome.error?.cause ?? `cannot roll back ${config.app} to ${tag}`}`);
  } else if (!opts.json) {
    io.out(
      [
        `${outcome.status}  rolled back ${config.app} to ${tag}${from ? ` from ${from}` : ""}  ${outcome.transitions} transitions  ${outcome.durationMs} ms`,
        ...(outcome.error ? [`  error: ${outcome.error.error}: ${outcome.error.cause}`] : []),
        ...(outcome.pullRequest
          ? [
              `  pull request: ${outcome.pullRequest.branch} @ ${outcome.pullRequest.commit?.slice(0, 12) ?? "(no commit)"}`,
            ]
          : []),
        ...outcome.emails.map((e) => `  email: ${e}`),
        ...outcome.notes.map((n) => `  ${n}`),
      ].join("\n"),
    );
  }
  if (refused) return 2;
  return outcome.status === "FAILED" ? 1 : 0;
}

/** Thrown for a malformed request: the CLI maps it to exit code 2. */
export function requireTag(tag: string | undefined): string {
  if (!tag)
    throw new InvalidInputError(
      "rollback needs the tag of an earlier release, e.g. pourover rollback v1.2.2",
    );
  return tag;
}
