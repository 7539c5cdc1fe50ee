import "../shared/polyfills.js";
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadConfigFile } from "../shared/config/load-config-file.js";
import { localSettings, quietSdkNodeVersionWarning } from "../shared/config/local-env.js";
import type { AppConfig } from "../shared/contracts/app-config.js";
import { parseVersion, tagPolicyProblem } from "../shared/contracts/release.js";
import { InvalidInputError } from "../shared/domain/errors.js";
import { MAX_SCAN_REPORT_BYTES, parseTrivyReport } from "../shared/domain/trivy-report.js";
import type { EventLog } from "./event-log.js";
import { LocalRuntime, listExecutions, PROJECT_ROOT, type ReleaseOutcome } from "./runtime.js";
import { PortBusyError, serveWebhook } from "./serve.js";
import { offerSesLocal, type SesLocal } from "./ses-local.js";

/** Bad usage or input: one line on stderr, exit code 2. */
class UsageError extends Error {
  override readonly name = "UsageError" as const;
}

/** Every flag of every command; each command accepts only the ones it lists. */
const options = {
  app: { type: "string" },
  config: { type: "string" },
  "scan-report": { type: "string", multiple: true },
  source: { type: "string" },
  manifests: { type: "string" },
  "state-dir": { type: "string" },
  json: { type: "boolean" },
  force: { type: "boolean" },
  next: { type: "boolean" },
  port: { type: "string" },
  region: { type: "string" },
  "state-machine-arn": { type: "string" },
  aws: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type FlagName = keyof typeof options;

interface CommandSpec {
  /** One line: what it does. */
  summary: string;
  /** The synopsis after `pourover <name>`. */
  synopsis: string;
  /** Positional arguments: at least `min`, at most `max`; `what` names them in errors. */
  args: { min: number; max: number; what: string };
  flags: readonly FlagName[];
  /** Flag descriptions (shown by --help). */
  details: readonly string[];
}

const FLAG_HELP: Record<FlagName, string> = {
  app: "--app <name>              the app under examples/<name> (default coffeeshop)",
  config: "--config <file>           a pourover.config.yaml instead of --app",
  "scan-report":
    "--scan-report <svc>=<file>  a Trivy JSON report for one service (repeatable; regular file, at most 64 MiB)",
  source: "--source <dir>            a checkout of the app's source to build from (docker + trivy)",
  manifests:
    "--manifests <dir>         a git repository holding the manifests (default: one seeded in the state dir)",
  "state-dir": "--state-dir <dir>         where local state lives (default .pourover)",
  json: "--json                    one JSON object on stdout",
  force: "--force                   allow moving an image back to an older version",
  next: "--next                    release the next patch version (v0.1.0 first)",
  port: "--port <n>                the loopback port (default 8787)",
  region: "--region <r>              the AWS region (default: the ARN's)",
  "state-machine-arn": "--state-machine-arn <arn>  the release state machine (or POUROVER_STATE_MACHINE_ARN)",
  aws: "--aws                     start it in AWS (StartExecution) instead of running it here",
  help: "-h, --help                this help",
};

const COMMANDS: Record<string, CommandSpec> = {
  release: {
    summary: "run one local release of a tag through the release workflow",
    synopsis: "release <tag> | --next [flags]",
    args: { min: 0, max: 1, what: "one tag" },
    flags: [
      "app",
      "config",
      "scan-report",
      "source",
      "manifests",
      "state-dir",
      "force",
      "next",
      "json",
      "help",
    ],
    details: ["Exit code 0 when SUCCEEDED or DUPLICATE, 1 when FAILED, 2 on bad usage or input."],
  },
  config: {
    summary: "check an app config and print what it configures",
    synopsis: "config [flags]",
    args: { min: 0, max: 0, what: "no arguments" },
    flags: ["app", "config", "json", "help"],
    details: [],
  },
  executions: {
    summary: "list local executions",
    synopsis: "executions [flags]",
    args: { min: 0, max: 0, what: "no arguments" },
    flags: ["state-dir", "json", "help"],
    details: [],
  },
  show: {
    summary: "inspect one local execution (GetExecutionHistory-shaped with --json)",
    synopsis: "show <executionId> [flags]",
    args: { min: 1, max: 1, what: "one execution id or name" },
    flags: ["state-dir", "json", "help"],
    details: [],
  },
  releases: {
    summary: "what is on dev now, lead times, what a release contained",
    synopsis: "releases [<tag>] [flags]",
    args: { min: 0, max: 1, what: "at most one tag" },
    flags: ["app", "state-dir", "json", "help"],
    details: [],
  },
  rollback: {
    summary: "pin an earlier successful release's images again and deploy dev (no build, no scan)",
    synopsis: "rollback <tag> [flags]",
    args: { min: 1, max: 1, what: "one tag" },
    flags: ["app", "config", "manifests", "state-dir", "aws", "state-machine-arn", "region", "json", "help"],
    details: [
      "Locally: refused with one line (exit 2) unless the ledger in the state dir holds <tag> as SUCCEEDED.",
      "With --aws: starts the execution <app>-rollback-<tag>-<time of request> on the deployed state",
      "machine (--state-machine-arn or POUROVER_STATE_MACHINE_ARN); its PlanRelease refuses a target",
      "that never succeeded or whose images are gone from ECR.",
      "Exit code 0 when SUCCEEDED (or started in AWS), 1 when FAILED, 2 on bad usage or a refused target.",
    ],
  },
  status: {
    summary: "the release's execution in AWS",
    synopsis: "status <tag> [flags]",
    args: { min: 1, max: 1, what: "one tag" },
    flags: ["app", "state-machine-arn", "region", "json", "help"],
    details: [],
  },
  event: {
    summary: "feed EventBridge event(s) from a file through the pipeline's rules",
    synopsis: "event <file> [flags]",
    args: { min: 1, max: 1, what: "one file" },
    flags: ["app", "config", "state-dir", "json", "help"],
    details: [],
  },
  serve: {
    summary: "the GitHub webhook endpoint on 127.0.0.1 (secret from POUROVER_WEBHOOK_SECRET)",
    synopsis: "serve [flags]",
    args: { min: 0, max: 0, what: "no arguments" },
    flags: ["port", "app", "config", "state-dir", "help"],
    details: [],
  },
  help: {
    summary: "help for a command",
    synopsis: "help [<command>]",
    args: { min: 0, max: 1, what: "at most one command" },
    flags: ["help"],
    details: [],
  },
};

const USAGE = [
  "usage: pourover <command> [arguments] [flags]",
  "",
  "commands:",
  ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`),
  "",
  "pourover <command> --help (or pourover help <command>) shows a command's flags; pourover --version its version.",
].join("\n");

function commandUsage(name: string): string {
  const c = COMMANDS[name] as CommandSpec;
  return [
    `usage: pourover ${c.synopsis}`,
    "",
    c.summary,
    "",
    "flags:",
    ...c.flags.map((f) => `  ${FLAG_HELP[f]}`),
    ...(c.details.length > 0 ? ["", ...c.details] : []),
  ].join("\n");
}

function version(): string {
  const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as { version?: string };
  return `pourover ${pkg.version ?? "unknown"} (node ${process.version})`;
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const here = row[j] as number;
      row[j] = Math.min(here + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = here;
    }
  }
  return row[b.length] as number;
}

function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of candidates) {
    const d = name.startsWith(word) && word.length >= 3 ? 1 : distance(word, name);
    if (d <= Math.max(1, Math.floor(name.length / 3)) && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}

/** Shown in one line, never the whole of a hostile value. */
function shown(value: string, max = 60): string {
  const clean = value.replace(/[\p{Cc}\p{Cf}]/gu, "?");
  return clean.length > max ? `${clean.slice(0, max)}… (${value.length} characters)` : clean;
}

type Flags = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>["values"];

export function resolveConfig(flags: Pick<Flags, "app" | "config">): {
  config: AppConfig;
  configDir: string;
} {
  const path = flags.config
    ? resolve(flags.config)
    : join(PROJECT_ROOT, "examples", flags.app ?? "coffeeshop", "pourover.config.yaml");
  if (!flags.config && !/^[a-z0-9-]+$/.test(flags.app ?? "coffeeshop"))
    throw new UsageError(`--app must be an app name, got "${flags.app}"`);
  if (!existsSync(path))
    throw new UsageError(`no config for app "${flags.app ?? "coffeeshop"}": ${path} does not exist`);
  const config = loadConfigFile(path);
  if (flags.app && config.app !== flags.app)
    throw new UsageError(`${path} configures app "${config.app}", not "${flags.app}"`);
  return { config, configDir: dirname(path) };
}

function parseScanReports(values: string[] | undefined, config: AppConfig): Record<string, string> {
  const reports: Record<string, string> = {};
  for (const value of values ?? []) {
    const eq = value.indexOf("=");
    if (eq <= 0) throw new UsageError(`--scan-report must be <service>=<file>, got "${shown(value)}"`);
    const service = value.slice(0, eq);
    const file = resolve(value.slice(eq + 1));
    if (!config.services.some((s) => s.name === service)) {
      throw new UsageError(
        `--scan-report: "${shown(service)}" is not a service of ${config.app} (${config.services.map((s) => s.name).join(", ")})`,
      );
    }
    const stat = statSync(file, { throwIfNoEntry: false });
    if (!stat) throw new UsageError(`--scan-report ${service}: ${file} does not exist`);
    // A device, FIFO or directory is refused before a byte is read: /dev/zero never ends.
    if (!stat.isFile()) throw new UsageError(`--scan-report ${service}: ${file} is not a regular file`);
    if (stat.size > MAX_SCAN_REPORT_BYTES)
      throw new UsageError(
        `--scan-report ${service}: ${file} is ${(stat.size / 1024 / 1024).toFixed(1)} MiB, over the ${MAX_SCAN_REPORT_BYTES / 1024 / 1024} MiB cap for a scan report`,
      );
    reports[service] = file;
  }
  return reports;
}

/** A release tag is also a docker image tag: at most 128 characters (docker's tag grammar). */
const MAX_TAG_LENGTH = 128;

function validateTag(tag: string | undefined, config: AppConfig): string {
  if (!tag) throw new UsageError("release needs a tag (e.g. v1.2.3) or --next");
  if (tag.length > MAX_TAG_LENGTH)
    throw new UsageError(
      `the tag is ${tag.length} characters; a release tag is at most ${MAX_TAG_LENGTH} (it is also a docker image tag)`,
    );
  const problem = tagPolicyProblem(tag);
  if (problem) throw new UsageError(problem);
  if (parseVersion(tag)?.pre && !config.tagPolicy.allowPrerelease) {
    throw new UsageError(`"${tag}" is a pre-release and ${config.app}'s tagPolicy.allowPrerelease is false`);
  }
  return tag;
}

/**
 * The state dir a command will write: a directory (or nothing yet) that this user can write. Checked
 * before anything is created, so a bad --state-dir writes nothing.
 */
function writableStateDir(flags: Flags): string {
  const dir = stateDirOf(flags);
  const stat = statSync(dir, { throwIfNoEntry: false });
  if (stat && !stat.isDirectory()) throw new UsageError(`--state-dir ${dir} is a file, not a directory`);
  // The nearest existing folder must be writable (the state dir itself, or where it will be made).
  let probe = dir;
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
  if (!statSync(probe).isDirectory())
    throw new UsageError(`--state-dir ${dir}: ${probe} is a file, not a directory`);
  try {
    accessSync(probe, constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "EACCES";
    const why = code === "EROFS" ? "is on a read-only file system" : "is read-only for this user";
    throw new EnvironmentError(
      `cannot write the state dir ${dir}: ${probe} ${why} (${code}); give a writable --state-dir`,
    );
  }
  return dir;
}

/**
 * The state dir a command only reads (executions, show, releases): absent is fine (nothing released
 * yet), but a file or a folder this user cannot read is said in one line instead of "nothing here".
 */
function readableStateDir(flags: Flags): string {
  const dir = stateDirOf(flags);
  const stat = statSync(dir, { throwIfNoEntry: false });
  if (!stat) return dir;
  if (!stat.isDirectory()) throw new UsageError(`--state-dir ${dir} is a file, not a directory`);
  try {
    accessSync(dir, constants.R_OK | constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "EACCES";
    throw new EnvironmentError(`cannot read the state dir ${dir} (${code}); give a readable --state-dir`);
  }
  return dir;
}

/** The machine, not the input: a read-only or full disk, a corrupt ledger. One line, exit code 1. */
class EnvironmentError extends Error {
  override readonly name = "EnvironmentError" as const;
}

const stateDirOf = (flags: Flags) => resolve(flags["state-dir"] ?? ".pourover");

function progressPrinter(write: (line: string) => void): (event: EventLog) => void {
  return (event) => {
    if (
      event.type !== "StateExited" &&
      event.type !== "StateFailed" &&
      event.type !== "StateCaught" &&
      event.type !== "StateRetried"
    )
      return;
    if (!("state" in event)) return;
    const input = event.state.input as { service?: { name?: string } } | null;
    const label = `${event.state.name}${input?.service?.name ? ` [${input.service.name}]` : ""}`;
    const marks: Record<string, string> = {
      StateExited: "✓",
      StateFailed: "✗",
      StateCaught: "↪",
      StateRetried: "↻",
    };
    const mark = marks[event.type];
    const note =
      event.type === "StateFailed"
        ? ` ${event.Error}`
        : event.type === "StateRetried"
          ? ` retry ${event.retry.attempt}`
          : "";
    write(`  ${mark} ${label}${note}`);
  };
}

function printOutcome(o: ReleaseOutcome, stateDir: string): void {
  const lines = [
    "",
    `${o.status}  ${o.tag}  ${o.transitions} transitions  ${o.durationMs} ms`,
    ...(o.error ? [`  error: ${o.error.error}: ${o.error.cause}`] : []),
    ...(o.pullRequest
      ? [
          `  pull request: ${o.pullRequest.branch} @ ${o.pullRequest.commit?.slice(0, 12) ?? "(no commit)"}${o.pullRequest.unchanged ? " (unchanged)" : ""}`,
          ...o.pullRequest.changedFiles.map((f) => `    ${f}`),
        ]
      : []),
    ...o.emails.map((e) => `  email: ${e}`),
    ...(o.notes ?? []).map((n) => `  ${n}`),
    `  inspect: pourover show ${o.executionId.split(":").pop()} --state-dir ${stateDir}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

async function release(positionals: string[], flags: Flags): Promise<number> {
  const { config, configDir } = resolveConfig(flags);
  if (flags.next && positionals[0]) throw new UsageError("give either a tag or --next, not both");
  // Everything given is checked before the state dir, the ledger or the manifests repo is touched.
  const given = flags.next ? undefined : validateTag(positionals[0], config);
  const scanReports = parseScanReports(flags["scan-report"], config);
  for (const [service, file] of Object.entries(scanReports)) {
    try {
      parseTrivyReport(await readFile(file, "utf8"), file);
    } catch (error) {
      throw new UsageError(`--scan-report ${service}: ${(error as Error).message}`);
    }
  }
  const source = flags.source ? resolve(flags.source) : undefined;
  if (source && !statSync(source, { throwIfNoEntry: false })?.isDirectory())
    throw new UsageError(`--source ${flags.source} is not a directory (a checkout of the app's source)`);
  if (flags.manifests && !existsSync(join(resolve(flags.manifests), ".git"))) {
    throw new UsageError(`--manifests ${flags.manifests} is not a git repository`);
  }
  const stateDir = writableStateDir(flags);
  nodeNotice();
  const runtime = await LocalRuntime.start({
    config,
    configDir,
    stateDir,
    ...(flags.manifests ? { manifestsDir: flags.manifests } : {}),
  });
  try {
    const tag = given ?? runtime.nextTag();
    const out = flags.json
      ? (line: string) => process.stderr.write(`${line}\n`)
      : (line: string) => process.stdout.write(`${line}\n`);
    out(`pourover: local release of ${config.app} ${tag}`);
    out("stood in for (local mode):");
    for (const line of runtime.standIns(scanReports, source)) out(`  - ${line}`);
    const outcome = await runtime.release({
      tag,
      scanReports,
      ...(source ? { source } : {}),
      force: flags.force ?? false,
      ...(flags.json ? {} : { onEvent: progressPrinter(out) }),
    });
    if (flags.json) {
      const { output: _output, ...rest } = outcome;
      process.stdout.write(`${JSON.stringify(rest, null, 2)}\n`);
    } else printOutcome(outcome, stateDir);
    return outcome.status === "FAILED" ? 1 : 0;
  } finally {
    await runtime.close();
  }
}

async function executions(flags: Flags): Promise<number> {
  const records = await listExecutions(readableStateDir(flags));
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify(
        records.map((r) => ({
          executionId: r.executionArn,
          name: r.name,
          tag: r.outcome.tag,
          status: r.outcome.status,
          startDate: r.startDate,
          durationMs: r.outcome.durationMs,
        })),
        null,
        2,
      )}\n`,
    );
    return 0;
  }
  if (records.length === 0) process.stdout.write(`no local executions in ${stateDirOf(flags)}\n`);
  for (const r of records)
    process.stdout.write(
      `${r.startDate}  ${r.outcome.status.padEnd(9)} ${r.outcome.tag.padEnd(10)} ${r.name}\n`,
    );
  return 0;
}

async function show(positionals: string[], flags: Flags): Promise<number> {
  const id = positionals[0];
  if (!id) throw new UsageError("show needs an execution id or name");
  const records = await listExecutions(readableStateDir(flags));
  const record = records.find((r) => r.executionArn === id || r.name === id);
  if (!record) throw new UsageError(`no local execution "${id}" in ${stateDirOf(flags)}`);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
    return 0;
  }
  const o = record.outcome;
  process.stdout.write(
    `${record.name}\n  ${o.status} ${o.tag}, ${o.transitions} transitions, ${o.durationMs} ms, started ${record.startDate}\n`,
  );
  for (const s of o.states) {
    process.stdout.write(
      `  ${s.status.padEnd(9)} ${`${s.name}${s.iteration !== undefined ? `[${s.iteration}]` : ""}`.padEnd(22)} ${s.durationMs} ms\n`,
    );
  }
  if (o.error) process.stdout.write(`  error: ${o.error.error}: ${o.error.cause}\n`);
  process.stdout.write(
    `  history: ${record.history.events.length} events (pourover show ${record.name} --json)\n`,
  );
  return 0;
}

/** EventBridge caps an event at 256 KB; a file of many is still small. */
const MAX_EVENT_FILE_BYTES = 16 * 1024 * 1024;

/** Routes each event of the file (one event or a list) through the deployed rule patterns. */
async function event(positionals: string[], flags: Flags): Promise<number> {
  const file = positionals[0];
  if (!file) throw new UsageError("event needs a file holding an EventBridge event (or a JSON list of them)");
  const stat = statSync(resolve(file), { throwIfNoEntry: false });
  if (!stat?.isFile() || stat.size > MAX_EVENT_FILE_BYTES)
    throw new UsageError(
      `${file}: ${stat ? (stat.isFile() ? `over the ${MAX_EVENT_FILE_BYTES / 1024 / 1024} MiB cap` : "not a regular file") : "does not exist"}`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(resolve(file), "utf8"));
  } catch (error) {
    throw new UsageError(`${file}: not a readable JSON file (${(error as Error).message})`);
  }
  const { config, configDir } = resolveConfig(flags);
  const events = Array.isArray(parsed) ? parsed : [parsed];
  const { routeEvent } = await import("./event-rules.js");
  const routed = events.map((e) => routeEvent(e, config));
  const stateDir = writableStateDir(flags);
  nodeNotice();
  const runtime = await LocalRuntime.start({ config, configDir, stateDir });
  try {
    for (const r of routed) {
      const t = r?.request.trigger;
      if (t?.source === "ecr") runtime.images.record(t.repository, r?.request.tag ?? "", t.digest);
    }
    const outcomes = await Promise.all(
      routed.map((r) => (r ? runtime.release({ tag: r.request.tag, trigger: r.request.trigger }) : null)),
    );
    const results = outcomes.map((o, i) =>
      o
        ? { rule: routed[i]?.rule, status: o.status, executionId: o.executionId, tag: o.tag }
        : { rule: null, status: "NO_RULE_MATCHED" },
    );
    if (flags.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    else
      for (const r of results)
        process.stdout.write(
          `${r.status.padEnd(16)} ${r.rule ?? "(no rule matched: nothing started)"} ${"tag" in r ? r.tag : ""}\n`,
        );
    return outcomes.some((o) => o?.status === "FAILED") ? 1 : 0;
  } finally {
    await runtime.close();
  }
}

/** `pourover rollback <tag>`: here through the local workflow, or in AWS with --aws. */
async function rollback(positionals: string[], flags: Flags): Promise<number> {
  const { rollbackCommand, rollbackTarget } = await import("./rollback.js");
  const { config, configDir } = resolveConfig(flags);
  const tag = positionals[0] ?? "";
  if (tag.length > MAX_TAG_LENGTH)
    throw new UsageError(`the tag is ${tag.length} characters; a release tag is at most ${MAX_TAG_LENGTH}`);
  const problem = tagPolicyProblem(tag);
  if (problem) throw new UsageError(problem);
  const target = rollbackTarget(flags);
  if (target.aws && (flags["state-dir"] !== undefined || flags.manifests !== undefined))
    throw new UsageError("--aws rolls back in AWS: --state-dir and --manifests are for a local rollback");
  if (flags.manifests && !existsSync(join(resolve(flags.manifests), ".git")))
    throw new UsageError(`--manifests ${flags.manifests} is not a git repository`);
  const stateDir = target.aws ? stateDirOf(flags) : writableStateDir(flags);
  nodeNotice();
  return await rollbackCommand(
    {
      tag,
      config,
      configDir,
      stateDir,
      json: flags.json ?? false,
      requestedBy: target.user,
      ...(flags.manifests ? { manifestsDir: flags.manifests } : {}),
      ...(target.aws ? { aws: target.aws } : {}),
    },
    {
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
      json: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    },
  );
}

async function config(flags: Flags): Promise<number> {
  const { config } = resolveConfig(flags);
  process.stdout.write(
    flags.json
      ? `${JSON.stringify(config, null, 2)}\n`
      : `${config.app}: ${config.services.length} services (${config.services.map((s) => s.name).join(", ")}); manifests ${config.manifests.repo}@${config.manifests.baseBranch}\n`,
  );
  return 0;
}

const say = (line: string) => process.stderr.write(`pourover: ${line}\n`);

/** The SDK's own Node-version warning is nine lines on every command; ours is one, once. */
let nodeNoticeShown = false;
function nodeNotice(): void {
  const major = Number(process.versions.node.split(".")[0]);
  if (major >= 22 || nodeNoticeShown || localSettings().noNodeNotice) return;
  nodeNoticeShown = true;
  say(
    `note: Node ${process.version} still works, but Pourover supports Node 22 and 24 (24 is the Lambda runtime; AWS SDK releases after early January 2027 need Node 22)`,
  );
}

/** The one line a command's failure prints, and its exit code. */
function describeFailure(
  error: unknown,
  command: string,
  flags: Partial<Flags>,
): { line: string; code: number } {
  if (error instanceof UsageError || error instanceof InvalidInputError || error instanceof PortBusyError)
    return { line: error.message.split("\n").join("\npourover: "), code: 2 };
  if (error instanceof EnvironmentError) return { line: error.message, code: 1 };
  const e = error as NodeJS.ErrnoException & { code?: string };
  const stateDir = stateDirOf(flags as Flags);
  const ledger = join(stateDir, "ledger.sqlite");
  const code = typeof e?.code === "string" ? e.code : "";
  if (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT"))
    return {
      line: `the ledger ${ledger} is corrupt or not a SQLite database (${code}); move it aside (mv ${ledger} ${ledger}.broken) and run again to start a fresh ledger`,
      code: 1,
    };
  if (code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_CANTOPEN"))
    return { line: `cannot write the ledger ${ledger} (${code}): give a writable --state-dir`, code: 1 };
  if (code === "SQLITE_FULL")
    return { line: `no space left on the disk of ${ledger} (SQLITE_FULL)`, code: 1 };
  if (code.startsWith("SQLITE_IOERR"))
    return { line: `the disk failed under ${ledger} (${code}): free space or check the disk`, code: 1 };
  const where = typeof e?.path === "string" ? e.path : stateDir;
  const errno: Record<string, string> = {
    ENOSPC: `no space left on the device holding the state dir ${stateDir} (ENOSPC); free some space or give another --state-dir`,
    EDQUOT: `disk quota exceeded under the state dir ${stateDir} (EDQUOT)`,
    EACCES: `permission denied on ${where} (EACCES): give a --state-dir this user can write`,
    EPERM: `operation not permitted on ${where} (EPERM): give a --state-dir this user can write`,
    EROFS: `${where} is on a read-only file system (EROFS): give a writable --state-dir`,
    ENOTDIR: `${where}: a path component is a file, not a directory (ENOTDIR)`,
    EMFILE: "too many open files (EMFILE): raise the limit (ulimit -n) or run fewer pourovers at once",
    EADDRINUSE: `the port is already in use (EADDRINUSE)`,
  };
  const known = errno[code];
  if (known) return { line: known, code: 1 };
  const message = e instanceof Error ? `${e.name}: ${e.message.split("\n")[0]}` : String(error);
  return {
    line: `${command} failed: ${message} (POUROVER_DEBUG=1 shows the stack)${localSettings().debug ? `\n${(e as Error)?.stack}` : ""}`,
    code: 1,
  };
}

type Parsed = { positionals: string[]; flags: Flags };

/** Parses one command's arguments with only its own flags; a UsageError names what is wrong. */
function parseCommandArgs(name: string, args: string[]): Parsed {
  const spec = COMMANDS[name] as CommandSpec;
  const own = Object.fromEntries(spec.flags.map((f) => [f, options[f]]));
  let parsed: { positionals: string[]; values: Record<string, unknown> };
  try {
    parsed = parseArgs({ args, options: own, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (error) {
    const e = error as Error & { code?: string };
    const flag = /'(-[^' ]+)/.exec(e.message)?.[1] ?? "";
    if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const bare = flag.replace(/^-+/, "").split("=")[0] ?? "";
      const elsewhere = Object.entries(COMMANDS)
        .filter(([, c]) => c.flags.includes(bare as FlagName))
        .map(([n]) => n);
      const close = suggest(bare, spec.flags);
      const hint =
        elsewhere.length > 0
          ? ` (it is a flag of ${elsewhere.join(", ")})`
          : close
            ? `; did you mean '--${close}'?`
            : "";
      throw new UsageError(
        `unknown flag '${shown(flag, 40)}' for ${name}${hint}; see 'pourover ${name} --help'`,
      );
    }
    if (e.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE")
      throw new UsageError(
        `${flag || "a flag"} ${/argument missing/.test(e.message) ? "needs a value" : "takes no value"}; see 'pourover ${name} --help'`,
      );
    throw new UsageError(`${e.message.split("\n")[0]}; see 'pourover ${name} --help'`);
  }
  const positionals = parsed.positionals;
  if (positionals.length < spec.args.min || positionals.length > spec.args.max) {
    const extra = positionals.slice(spec.args.max);
    throw new UsageError(
      extra.length > 0
        ? `${name} takes ${spec.args.what}; unexpected ${extra.map((a) => `'${shown(a, 40)}'`).join(" ")}; see 'pourover ${name} --help'`
        : `${name} needs ${spec.args.what}: pourover ${spec.synopsis}`,
    );
  }
  return { positionals, flags: parsed.values as Flags };
}

/** `--help`/`-h` anywhere before a `--`: the command's help wins over everything else on the line. */
function asksForHelp(args: string[]): boolean {
  for (const a of args) {
    if (a === "--") return false;
    if (a === "--help" || a === "-h") return true;
  }
  return false;
}

/**
 * `options.sesLocal`: an SES emulator thread the caller already started (the bin does, for the
 * commands that send email, so it loads beside the CLI); the first local runtime uses it.
 */
export async function main(argv: string[], options: { sesLocal?: Promise<SesLocal> } = {}): Promise<number> {
  if (options.sesLocal) offerSesLocal(options.sesLocal);
  // The AWS SDK reads this before its own multi-line warning (emitWarningIfUnsupportedVersion in
  // @aws-sdk/core); `nodeNotice` says the same in one line, once, where it matters.
  quietSdkNodeVersionWarning();
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (first === "--version" || first === "-V") {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (first.startsWith("-")) {
    say(`a command comes first, then its flags (got '${shown(first, 40)}'); see 'pourover --help'`);
    return 2;
  }
  if (!Object.hasOwn(COMMANDS, first)) {
    const close = suggest(first, Object.keys(COMMANDS));
    say(
      `unknown command '${shown(first, 40)}'${close ? `; did you mean '${close}'?` : "; see 'pourover --help' for the commands"}`,
    );
    return 2;
  }
  const command = first;
  if (asksForHelp(rest)) {
    process.stdout.write(`${commandUsage(command)}\n`);
    return 0;
  }
  let parsed: Parsed | undefined;
  try {
    parsed = parseCommandArgs(command, rest);
    const { positionals, flags } = parsed;
    if (command === "help") {
      const topic = positionals[0];
      if (topic === undefined) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
      }
      if (!Object.hasOwn(COMMANDS, topic)) {
        const close = suggest(topic, Object.keys(COMMANDS));
        throw new UsageError(
          `unknown command '${shown(topic, 40)}'${close ? `; did you mean '${close}'?` : "; see 'pourover --help' for the commands"}`,
        );
      }
      process.stdout.write(`${commandUsage(topic)}\n`);
      return 0;
    }
    switch (command) {
      case "release":
        return await release(positionals, flags);
      case "config":
        return await config(flags);
      case "executions":
        return await executions(flags);
      case "show":
        return await show(positionals, flags);
      case "event":
        return await event(positionals, flags);
      case "releases":
        return await (await import("./releases.js")).releasesCommand(
          {
            stateDir: readableStateDir(flags),
            app: flags.app,
            tag: positionals[0],
            json: flags.json ?? false,
          },
          (text) => process.stdout.write(text),
        );
      case "status":
        nodeNotice();
        return await (await import("./status.js")).statusCommand(positionals, flags);
      case "rollback":
        return await rollback(positionals, flags);
      default: {
        const resolved = resolveConfig(flags);
        if (flags.port !== undefined && !/^\d{1,5}$/.test(flags.port))
          throw new UsageError(`--port must be a port number, got "${shown(flags.port, 20)}"`);
        if (!localSettings().webhookSecret)
          throw new UsageError("serve needs the webhook secret in POUROVER_WEBHOOK_SECRET");
        const stateDir = writableStateDir(flags);
        nodeNotice();
        return await serveWebhook({ ...resolved, stateDir, port: flags.port });
      }
    }
  } catch (error) {
    const { line, code } = describeFailure(error, command, parsed?.flags ?? {});
    say(line);
    return code;
  }
}

// `tsx local/cli.ts ...` runs it directly; the `pourover` bin imports the bundle and calls main().
if (process.argv[1]?.endsWith("cli.ts")) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
