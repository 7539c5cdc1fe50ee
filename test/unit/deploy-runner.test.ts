import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { scriptDeployRunner } from "../../local/local-tasks.js";
import { PROJECT_ROOT } from "../../local/paths.js";
import { localSettings } from "../../shared/config/local-env.js";
import { tempDir } from "../helpers/local.js";

/** A machine where `docker compose version` works: a fake docker first on PATH. */
describe("the local dev deploy: docker compose when the machine has it, a dry run when asked", () => {
  const dir = tempDir("pourover-deploy-runner-");
  const bin = join(dir.path, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, "docker"),
    '#!/bin/sh\n[ "$1" = compose ] && [ "$2" = version ] && exit 0\nexit 1\n',
  );
  chmodSync(join(bin, "docker"), 0o755);
  const path = process.env.PATH;
  afterEach(() => {
    process.env.PATH = path;
  });
  afterAll(() => dir.cleanup());

  it("deploys with docker compose where it works", async () => {
    process.env.PATH = `${bin}:${path}`;
    const runner = await scriptDeployRunner(PROJECT_ROOT);
    expect(runner.mode).toBe("docker");
    expect(runner.dryRunReason).toBeUndefined();
  });

  it("POUROVER_DRY_RUN_DEPLOY makes it a dry run there, and says why", async () => {
    process.env.PATH = `${bin}:${path}`;
    const runner = await scriptDeployRunner(PROJECT_ROOT, { dryRun: true });
    expect(runner.mode).toBe("dry-run");
    expect(runner.dryRunReason).toBe("POUROVER_DRY_RUN_DEPLOY is set");
  });

  it("the test suite sets POUROVER_DRY_RUN_DEPLOY, so no test deploys to this machine's docker", () => {
    expect(localSettings().dryRunDeploy).toBe(true);
  });

  it("no docker compose: a dry run, saying so", async () => {
    process.env.PATH = join(dir.path, "empty");
    const runner = await scriptDeployRunner(PROJECT_ROOT);
    expect(runner).toMatchObject({ mode: "dry-run", dryRunReason: "no docker compose on this machine" });
  });
});
