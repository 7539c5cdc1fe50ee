import "../shared/polyfills.js";
import { localSettings, quietSdkNodeVersionWarning } from "../shared/config/local-env.js";
import {
  asksForHelp,
  COMMANDS,
  commandUsage,
  type Flags,
  type Parsed,
  parseCommandArgs,
  shown,
  suggest,
  USAGE,
  UsageError,
  version,
} from "./cli-args.js";
import { readableStateDir, resolveConfig, writableStateDir } from "./cli-checks.js";
import { config, event, executions, release, rollback, show } from "./cli-commands.js";
import { describeFailure, nodeNotice, say } from "./cli-report.js";
import { serveWebhook } from "./serve.js";
import { offerSesLocal, type SesLocal } from "./ses-local.js";

export { resolveConfig } from "./cli-checks.js";

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
  const answered = answerTopLevel(first);
  if (answered !== null || first === undefined) return answered ?? 0;
  const command = first;
  if (asksForHelp(rest)) {
    process.stdout.write(`${commandUsage(command)}\n`);
    return 0;
  }
  let parsed: Parsed | undefined;
  try {
    parsed = parseCommandArgs(command, rest);
    return await runCommand(command, parsed);
  } catch (error) {
    const { line, code } = describeFailure(error, command, parsed?.flags ?? {});
    say(line);
    return code;
  }
}

/** What the first word alone answers (the usage, the version, a misplaced flag or an unknown command); null for a command. */
function answerTopLevel(first: string | undefined): number | null {
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
  return null;
}

async function runCommand(command: string, { positionals, flags }: Parsed): Promise<number> {
  switch (command) {
    case "help":
      return help(positionals[0]);
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
    default:
      return await serve(flags);
  }
}

/** `pourover help [<command>]`. */
function help(topic: string | undefined): number {
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

/** `pourover serve`: the webhook endpoint, once its flags and secret are checked. */
async function serve(flags: Flags): Promise<number> {
  const resolved = resolveConfig(flags);
  if (flags.port !== undefined && !/^\d{1,5}$/.test(flags.port))
    throw new UsageError(`--port must be a port number, got "${shown(flags.port, 20)}"`);
  if (!localSettings().webhookSecret)
    throw new UsageError("serve needs the webhook secret in POUROVER_WEBHOOK_SECRET");
  const stateDir = writableStateDir(flags);
  nodeNotice();
  return await serveWebhook({ ...resolved, stateDir, port: flags.port });
}

// `tsx local/cli.ts ...` runs it directly; the `pourover` bin imports the bundle and calls main().
if (process.argv[1]?.endsWith("cli.ts")) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
