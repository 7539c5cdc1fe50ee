import { accessSync, constants, existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { loadConfigFile } from "../shared/config/load-config-file.js";
import type { AppConfig } from "../shared/contracts/app-config.js";
import { parseVersion, tagPolicyProblem } from "../shared/contracts/release.js";
import { MAX_SCAN_REPORT_BYTES } from "../shared/domain/trivy-report.js";
import { EnvironmentError, type Flags, shown, UsageError } from "./cli-args.js";
import { PROJECT_ROOT } from "./runtime.js";

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

export function parseScanReports(values: string[] | undefined, config: AppConfig): Record<string, string> {
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
export const MAX_TAG_LENGTH = 128;

export function validateTag(tag: string | undefined, config: AppConfig): string {
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
export function writableStateDir(flags: Flags): string {
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
export function readableStateDir(flags: Flags): string {
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

export const stateDirOf = (flags: Flags) => resolve(flags["state-dir"] ?? ".pourover");
