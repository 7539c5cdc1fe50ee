import { chmod, mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { refuseSymlink } from "../shared/adapters/local/atomic-file.js";
import { stateDirLayout } from "../shared/adapters/local/file-stores.js";
import { GitManifestRepository, initManifestRepo } from "../shared/adapters/local/git-manifest-repository.js";
import { currentProcessOwner } from "../shared/adapters/local/process-owner.js";
import { SqliteLedger } from "../shared/adapters/local/sqlite-ledger.js";
import { localSettings } from "../shared/config/local-env.js";
import type { Mailer } from "../shared/ports/index.js";
import { detectTools, type LocalTools } from "./local-build.js";
import { type DeployRunner, scriptDeployRunner } from "./local-tasks.js";
import { PROJECT_ROOT } from "./paths.js";
import type { LocalRuntimeOptions } from "./runtime-options.js";
import { OutboxMailer, type SesLocal, startSesLocal } from "./ses-local.js";

/** What a local runtime is made of, once its state dir, manifests repo and tools are ready. */
export interface StartedAdapters {
  ledger: SqliteLedger;
  mailer: Mailer;
  deployRunner: DeployRunner;
  repo: GitManifestRepository;
  manifestsDir: string;
  closeSes: () => Promise<void>;
  tools: LocalTools;
  /** The SES emulator starting, unless a mailer was given. */
  sesStarting: Promise<SesLocal> | null;
}

/**
 * Prepares the state dir and starts the local adapters; on a failure, what had started is closed.
 * `seedTemplates`: where seeded manifests repositories are kept per seed (see initManifestRepo).
 */
export async function startAdapters(
  options: LocalRuntimeOptions,
  seedTemplates: string,
): Promise<StartedAdapters> {
  const layout = stateDirLayout(options.stateDir);
  // Private to the user: it holds emails, reports and the ledger. Only a dir made here is chmod-ed.
  const created = await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  if (created) await chmod(options.stateDir, 0o700);
  for (const path of Object.values(layout)) await refuseSymlink(path);
  const ledger = new SqliteLedger(layout.ledger, { owner: currentProcessOwner() });
  let manifestsDir = options.manifestsDir
    ? resolve(options.manifestsDir)
    : join(layout.repos, `${options.config.app}-manifests`);
  const seed = options.config.manifests.localSeed;
  if (!options.manifestsDir && !seed)
    throw new Error(`${options.config.app}: no --manifests given and the config has no manifests.localSeed`);
  // Independent start-up work runs side by side (git seeding, the SES emulator's thread, the
  // docker/trivy checks are other processes or threads): start-up costs the slowest, not the sum.
  // The SES emulator's thread is not waited for here: it starts beside the engine, and the first
  // email waits for it (its failure is that email's, recorded as such, as any failed email is).
  const sesStarting = options.mailer ? null : startSesLocal();
  sesStarting?.catch(() => {});
  const [seeded, runnerFound, toolsFound] = await Promise.allSettled([
    options.manifestsDir || !seed
      ? Promise.resolve(null)
      : initManifestRepo(
          manifestsDir,
          resolve(options.configDir, seed),
          options.config.manifests.baseBranch,
          { templateCache: seedTemplates },
        ),
    options.deployRunner
      ? Promise.resolve(options.deployRunner)
      : scriptDeployRunner(PROJECT_ROOT, { dryRun: localSettings().dryRunDeploy }),
    detectTools(options.tools),
  ]);
  const failedStart = [seeded, runnerFound, toolsFound].find((r) => r.status === "rejected");
  if (failedStart) {
    await sesStarting?.then((ses) => ses.close()).catch(() => {});
    ledger.close();
    throw (failedStart as PromiseRejectedResult).reason;
  }
  manifestsDir = resolve(manifestsDir);
  const repo = new GitManifestRepository({ repoDir: manifestsDir, pullsDir: layout.pulls });
  let mailer = options.mailer;
  let closeSes = async () => {};
  if (!mailer && sesStarting) {
    closeSes = () => sesStarting.then((ses) => ses.close()).catch(() => {});
    mailer = new OutboxMailer(
      sesStarting.then((ses) => ses.endpoint),
      layout.outbox,
      options.config.registry.region,
    );
  }
  const deployRunner = (runnerFound as PromiseFulfilledResult<DeployRunner>).value;
  const tools = (toolsFound as PromiseFulfilledResult<LocalTools>).value;
  return { ledger, mailer: mailer as Mailer, deployRunner, repo, manifestsDir, closeSes, tools, sesStarting };
}
