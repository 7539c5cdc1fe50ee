import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { tagPolicyProblem } from "../shared/contracts/release.js";
import { parseTrivyReport } from "../shared/domain/trivy-report.js";
import { type Flags, UsageError } from "./cli-args.js";
import {
  MAX_TAG_LENGTH,
  parseScanReports,
  readableStateDir,
  resolveConfig,
  stateDirOf,
  validateTag,
  writableStateDir,
} from "./cli-checks.js";
import { nodeNotice, printOutcome, progressPrinter } from "./cli-report.js";
import { LocalRuntime, listExecutions } from "./runtime.js";

export async function release(positionals: string[], flags: Flags): Promise<number> {
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

export async function executions(flags: Flags): Promise<number> {
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

export async function show(positionals: string[], flags: Flags): Promise<number> {
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
export async function event(positionals: string[], flags: Flags): Promise<number> {
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
export async function rollback(positionals: string[], flags: Flags): Promise<number> {
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

export async function config(flags: Flags): Promise<number> {
  const { config } = resolveConfig(flags);
  process.stdout.write(
    flags.json
      ? `${JSON.stringify(config, null, 2)}\n`
      : `${config.app}: ${config.services.length} services (${config.services.map((s) => s.name).join(", ")}); manifests ${config.manifests.repo}@${config.manifests.baseBranch}\n`,
  );
  return 0;
}
