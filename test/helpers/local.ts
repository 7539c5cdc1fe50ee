import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalRuntime, type LocalRuntimeOptions, PROJECT_ROOT } from "../../local/runtime.js";
import { loadConfigFile } from "../../shared/config/load-config-file.js";
import type { AppConfig } from "../../shared/contracts/app-config.js";

export const EXAMPLE_DIR = join(PROJECT_ROOT, "examples", "coffeeshop");
export const CRITICAL_REPORT = join(PROJECT_ROOT, "test", "fixtures", "trivy", "web-critical.json");

export function exampleConfig(): AppConfig {
  return loadConfigFile(join(EXAMPLE_DIR, "pourover.config.yaml"));
}

export function tempDir(prefix = "pourover-test-"): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** A runtime on a fresh state dir; the real SES emulator unless a mailer is given. */
export async function startRuntime(overrides: Partial<LocalRuntimeOptions> = {}) {
  const dir = tempDir();
  const runtime = await LocalRuntime.start({
    config: exampleConfig(),
    configDir: EXAMPLE_DIR,
    stateDir: join(dir.path, "state"),
    ...overrides,
  });
  return {
    runtime,
    dir: dir.path,
    async stop() {
      await runtime.close();
      dir.cleanup();
    },
  };
}

/** A copy of the example manifests with every image already at `tag`, as a seed folder. */
export function manifestsSeedAt(tag: string, into: string): string {
  const seed = join(into, "seed");
  cpSync(join(EXAMPLE_DIR, "manifests"), seed, { recursive: true });
  for (const file of [
    "docker-compose.yml",
    ...["proxy", "product", "counter", "barista", "kitchen", "web"].map((s) => `k8s/${s}/deployment.yaml`),
  ]) {
    const path = join(seed, file);
    writeFileSync(path, readFileSync(path, "utf8").replaceAll(":v0.0.1", `:${tag}`));
  }
  return seed;
}
