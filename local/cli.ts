import "../shared/polyfills.js";
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadConfigFile } from "../shared/config/load-config-file.js";
import type { AppConfig } from "../shared/contracts/app-config.js";
import { parseVersion, TAG_PATTERN } from "../shared/contracts/release.js";
import { InvalidInputError } from "../shared/domain/errors.js";
import { parseTrivyReport } from "../shared/domain/trivy-report.js";
import type { EventLog } from "./event-log.js";
import { LocalRuntime, listExecutions, PROJECT_ROOT, type ReleaseOutcome } from "./runtime.js";
import { serveWebhook } from "./serve.js";

const USAGE = `usage:
  pourover release <tag> [--app <name>] [--config <file>] [--scan-report <service>=<file>]... [--source <app source checkout>] [--manifests <git repo dir>] [--state-dir <dir>] [--force] [--json]
  pourover release --next [--app <name>] ...          release the next patch version (v0.1.0 first)
  pourover config [--app <name>] [--config <file>] [--json]
  pourover executions [--state-dir <dir>] [--json]
  pourover show <executionId> [--state-dir <dir>] [--json]
  pourover releases [<tag>] [--app <name>] [--state-dir <dir>] [--json]   what is on dev now, lead times, what a release contained
  pourover status <tag> [--app <name>] [--state-machine-arn <arn>] [--region <r>] [--json]   the release's execution in AWS
  pourover event <file> [--app <name>] [--state-dir <dir>] [--json]   feed EventBridge event(s) through the pipeline's rules
  pourover serve [--port <n>] [--app <name>] [--state-dir <dir>]   (secret from POUROVER_WEBHOOK_SECRET)`;

/** Bad usage or input: one line on stderr, exit code 2. */
class UsageError extends Error {
  override readonly name = "UsageError" as const;
}

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
  help: { type: "boolean", short: "h" },
} as const;

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
    if (eq <= 0) throw new UsageError(`--scan-report must be <service>=<file>, got "${value}"`);
    const service = value.slice(0, eq);
    const file = resolve(value.slice(eq + 1));
    if (!config.services.some((s) => s.name === service)) {
      throw new UsageError(
        `--scan-report: "${service}" is not a service of ${config.app} (${config.services.map((s) => s.name).join(", ")})`,
      );
    }
    if (!existsSync(file)) throw new UsageError(`--scan-report ${service}: ${file} does not exist`);
    reports[service] = file;
  }
  return reports;
}

function validateTag(tag: string | undefined, config: AppConfig): string {
  if (!tag) throw new UsageError("release needs a tag (e.g. v1.2.3) or --next");
  if (!TAG_PATTERN.test(tag))
    throw new UsageError(`"${tag}" is not a v-prefixed semantic version such as v1.2.3`);
  if (parseVersion(tag)?.pre && !config.tagPolicy.allowPrerelease) {
    throw new UsageError(`"${tag}" is a pre-release and ${config.app}'s tagPolicy.allowPrerelease is false`);
  }
  return tag;
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
    `  inspect: pourover show ${o.executionId.split(":").pop()} --state-dir ${stateDir}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

async function release(positionals: string[], flags: Flags): Promise<number> {
  const { config, configDir } = resolveConfig(flags);
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
  if (flags.next && positionals[0]) throw new UsageError("give either a tag or --next, not both");
  const stateDir = stateDirOf(flags);
  const runtime = await LocalRuntime.start({
    config,
    configDir,
    stateDir,
    ...(flags.manifests ? { manifestsDir: flags.manifests } : {}),
  });
  try {
    const tag = flags.next ? runtime.nextTag() : validateTag(positionals[0], config);
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
  const records = await listExecutions(stateDirOf(flags));
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
  const records = await listExecutions(stateDirOf(flags));
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

/** Routes each event of the file (one event or a list) through the deployed rule patterns. */
async function event(positionals: string[], flags: Flags): Promise<number> {
  const file = positionals[0];
  if (!file) throw new UsageError("event needs a file holding an EventBridge event (or a JSON list of them)");
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
  const runtime = await LocalRuntime.start({ config, configDir, stateDir: stateDirOf(flags) });
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

async function config(flags: Flags): Promise<number> {
  const { config } = resolveConfig(flags);
  process.stdout.write(
    flags.json
      ? `${JSON.stringify(config, null, 2)}\n`
      : `${config.app}: ${config.services.length} services (${config.services.map((s) => s.name).join(", ")}); manifests ${config.manifests.repo}@${config.manifests.baseBranch}\n`,
  );
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    process.stderr.write(`pourover: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const [command, ...rest] = parsed.positionals;
  const flags = parsed.values;
  try {
    switch (command) {
      case "release":
        return await release(rest, flags);
      case "config":
        return await config(flags);
      case "executions":
        return await executions(flags);
      case "show":
        return await show(rest, flags);
      case "event":
        return await event(rest, flags);
      case "releases":
        return await (await import("./releases.js")).releasesCommand(
          { stateDir: stateDirOf(flags), app: flags.app, tag: rest[0], json: flags.json ?? false },
          (text) => process.stdout.write(text),
        );
      case "status":
        return await (await import("./status.js")).statusCommand(rest, flags);
      case "serve":
        return await serveWebhook({ ...resolveConfig(flags), stateDir: stateDirOf(flags), port: flags.port });
      default:
        process.stdout.write(`${USAGE}\n`);
        return command === undefined || flags.help ? 0 : 2;
    }
  } catch (error) {
    if (error instanceof UsageError || error instanceof InvalidInputError) {
      process.stderr.write(`pourover: ${error.message.split("\n").join("\npourover: ")}\n`);
      return 2;
    }
    process.stderr.write(`pourover: unexpected error: ${(error as Error).stack ?? error}\n`);
    return 1;
  }
}

// `tsx local/cli.ts ...` runs it directly; the `pourover` bin imports the bundle and calls main().
if (process.argv[1]?.endsWith("cli.ts")) {
  process.exitCode = await main(process.argv.slice(2));
}
