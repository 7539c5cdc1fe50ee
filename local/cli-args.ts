import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PROJECT_ROOT } from "./runtime.js";
/** The CLI's commands and flags: what each accepts, its help, and parsing one command line. */

/** Bad usage or input: one line on stderr, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError" as const;
}

/** The machine, not the input: a read-only or full disk, a corrupt ledger. One line, exit code 1. */
export class EnvironmentError extends Error {
  override readonly name = "EnvironmentError" as const;
}

/** Every flag of every command; each command accepts only the ones it lists. */
export const options = {
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

export type FlagName = keyof typeof options;

export interface CommandSpec {
  /** One line: what it does. */
  summary: string;
  /** The synopsis after `pourover <name>`. */
  synopsis: string;
  /** Positional arguments: at least `min`, at most `max`; `what` names them in errors. */
  args: { min: number; max: number; what: string };
  flags: readonly FlagName[];
  /** More lines for --help, after the flags. */
  details?: readonly string[];
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

export const COMMANDS: Record<string, CommandSpec> = {
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
  },
  executions: {
    summary: "list local executions",
    synopsis: "executions [flags]",
    args: { min: 0, max: 0, what: "no arguments" },
    flags: ["state-dir", "json", "help"],
  },
  show: {
    summary: "inspect one local execution (GetExecutionHistory-shaped with --json)",
    synopsis: "show <executionId> [flags]",
    args: { min: 1, max: 1, what: "one execution id or name" },
    flags: ["state-dir", "json", "help"],
  },
  releases: {
    summary: "what is on dev now, lead times, what a release contained",
    synopsis: "releases [<tag>] [flags]",
    args: { min: 0, max: 1, what: "at most one tag" },
    flags: ["app", "state-dir", "json", "help"],
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
  },
  event: {
    summary: "feed EventBridge event(s) from a file through the pipeline's rules",
    synopsis: "event <file> [flags]",
    args: { min: 1, max: 1, what: "one file" },
    flags: ["app", "config", "state-dir", "json", "help"],
  },
  serve: {
    summary: "the GitHub webhook endpoint on 127.0.0.1 (secret from POUROVER_WEBHOOK_SECRET)",
    synopsis: "serve [flags]",
    args: { min: 0, max: 0, what: "no arguments" },
    flags: ["port", "app", "config", "state-dir", "help"],
  },
  help: {
    summary: "help for a command",
    synopsis: "help [<command>]",
    args: { min: 0, max: 1, what: "at most one command" },
    flags: ["help"],
  },
};

export const USAGE = [
  "usage: pourover <command> [arguments] [flags]",
  "",
  "commands:",
  ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`),
  "",
  "pourover <command> --help (or pourover help <command>) shows a command's flags; pourover --version its version.",
].join("\n");

export function commandUsage(name: string): string {
  const c = COMMANDS[name] as CommandSpec;
  return [
    `usage: pourover ${c.synopsis}`,
    "",
    c.summary,
    "",
    "flags:",
    ...c.flags.map((f) => `  ${FLAG_HELP[f]}`),
    ...(c.details?.length ? ["", ...c.details] : []),
  ].join("\n");
}

export function version(): string {
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

export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of candidates) {
    const d = name.startsWith(word) && word.length >= 3 ? 1 : distance(word, name);
    if (d <= Math.max(1, Math.floor(name.length / 3)) && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}

/** Shown in one line, never the whole of a hostile value. */
export function shown(value: string, max = 60): string {
  const clean = value.replace(/[\p{Cc}\p{Cf}]/gu, "?");
  return clean.length > max ? `${clean.slice(0, max)}… (${value.length} characters)` : clean;
}

export type Flags = ReturnType<
  typeof parseArgs<{ options: typeof options; allowPositionals: true }>
>["values"];

export type Parsed = { positionals: string[]; flags: Flags };

/** Parses one command's arguments with only its own flags; a UsageError names what is wrong. */
export function parseCommandArgs(name: string, args: string[]): Parsed {
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
export function asksForHelp(args: string[]): boolean {
  for (const a of args) {
    if (a === "--") return false;
    if (a === "--help" || a === "-h") return true;
  }
  return false;
}
