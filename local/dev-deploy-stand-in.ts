import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { InvalidInputError } from "../shared/domain/errors.js";
import type {
  Clock,
  DeployCommandView,
  DeployStatusReader,
  InstanceDeployStatus,
} from "../shared/ports/index.js";
import { onPath } from "./local-build.js";

const run = promisify(execFile);

export interface DeployRunner {
  /**
   * Runs the deploy for one release; resolves with the per-host result the SSM API would report
   * (`output` is the host's stdout). null when no host matched: the command resolves to 0 targets.
   */
  run(input: {
    app: string;
    tag: string;
    composeFile: string;
    healthUrls: string;
    workdir: string;
    /** ExecutionTimeout (dev.timeoutSeconds). */
    timeoutSeconds?: number;
  }): Promise<InstanceDeployStatus | null>;
  /** Stops a deploy still running (what CancelCommand asks of the SSM agent). */
  cancel?(): Promise<void>;
  readonly mode: "docker" | "dry-run" | "custom";
  /** Why a dry run, said in the stand-in list and the summary. */
  readonly dryRunReason?: string;
}

/**
 * Runs infra/scripts/deploy-dev.sh, the same script the SSM document runs: a dry run when asked
 * (`dryRun`, POUROVER_DRY_RUN_DEPLOY) or when this machine has no docker compose.
 */
export async function scriptDeployRunner(
  projectRoot: string,
  options: { dryRun?: boolean } = {},
): Promise<DeployRunner> {
  const hasCompose =
    !options.dryRun &&
    onPath("docker") &&
    (await run("docker", ["compose", "version"], { timeout: 5000 }).then(
      () => true,
      () => false,
    ));
  const script = join(projectRoot, "infra", "scripts", "deploy-dev.sh");
  return {
    mode: hasCompose ? "docker" : "dry-run",
    ...(hasCompose
      ? {}
      : {
          dryRunReason: options.dryRun
            ? "POUROVER_DRY_RUN_DEPLOY is set"
            : "no docker compose on this machine",
        }),
    async run(input) {
      const args = [
        script,
        "--app",
        input.app,
        "--tag",
        input.tag,
        "--compose-file",
        input.composeFile,
        "--workdir",
        input.workdir,
        ...(input.healthUrls ? ["--health-urls", input.healthUrls] : []),
        ...(hasCompose ? [] : ["--dry-run"]),
      ];
      await mkdir(input.workdir, { recursive: true });
      try {
        const { stdout } = await run("bash", args, {
          timeout: (input.timeoutSeconds ?? 900) * 1000,
          maxBuffer: 16 * 1024 * 1024,
        });
        return { instanceId: "localhost", status: "Success", output: stdout };
      } catch (error) {
        // stdout only, as SSM's StandardOutputContent: the script's logs went to stderr.
        const e = error as { stdout?: string; killed?: boolean };
        return {
          instanceId: "localhost",
          status: e.killed ? "ExecutionTimedOut" : "Failed",
          output: e.stdout ?? "",
        };
      }
    },
  };
}

/** Keeps each local deploy's result under its command id, as SSM does, for VerifyDev to read. */
export class LocalDeployCommands implements DeployStatusReader {
  private readonly results = new Map<
    string,
    { runner: DeployRunner; requestedAt: Date; invocations: InstanceDeployStatus[] }
  >();

  constructor(private readonly clock: Clock = { now: () => new Date() }) {}

  async send(
    runner: DeployRunner,
    input: Parameters<DeployRunner["run"]>[0],
    deliveryTimeoutSeconds: number,
  ): Promise<{ Command: { CommandId: string; TimeoutSeconds: number } }> {
    const commandId = randomUUID();
    const requestedAt = this.clock.now();
    const result = await runner.run(input);
    this.results.set(commandId, { runner, requestedAt, invocations: result ? [result] : [] });
    return { Command: { CommandId: commandId, TimeoutSeconds: deliveryTimeoutSeconds } };
  }

  async read(commandId: string): Promise<DeployCommandView> {
    const sent = this.results.get(commandId);
    if (!sent) throw new InvalidInputError(`unknown command ${commandId}`);
    const running = sent.invocations.some((i) => ["Pending", "InProgress", "Delayed"].includes(i.status));
    return {
      // No host matched: SSM resolves the targets to 0 and ends the command ("No Instances In Tag").
      command: {
        status: sent.invocations.length === 0 ? "Success" : running ? "InProgress" : "Success",
        statusDetails: sent.invocations.length === 0 ? "No Instances In Tag" : "",
        targetCount: sent.invocations.length,
        requestedAt: sent.requestedAt,
        deliveryTimeoutSeconds: null,
      },
      invocations: sent.invocations,
    };
  }

  async cancel(commandId: string): Promise<void> {
    const sent = this.results.get(commandId);
    if (!sent) throw new InvalidInputError(`unknown command ${commandId}`);
    await sent.runner.cancel?.();
    sent.invocations = sent.invocations.map((i) =>
      ["Pending", "InProgress", "Delayed"].includes(i.status) ? { ...i, status: "Cancelled" } : i,
    );
  }
}
