import type { AppConfig } from "../shared/contracts/app-config.js";
import type { ImagePresence } from "../shared/domain/rollback.js";
import type { Clock, DevHosts, DevLock, Mailer } from "../shared/ports/index.js";
import type { LocalTools } from "./local-build.js";
import type { DeployRunner, LocalBuildOverride } from "./local-tasks.js";
import type { TestPause } from "./test-hooks.js";

export interface LocalRuntimeOptions {
  config: AppConfig;
  configDir: string;
  stateDir: string;
  /** A git repository holding the manifests; defaults to one seeded from the example in the state dir. */
  manifestsDir?: string;
  /** Replace a port for tests: a mailer that fails, a deploy runner that reports a failed host. */
  mailer?: Mailer;
  deployRunner?: DeployRunner;
  /** Replace the dev lock (tests): by default a table in the SQLite ledger file. */
  devLock?: DevLock;
  /** Per service, the exit code the build+scan stand-in's scanner reports (tests: a scanner crash). */
  buildOverrides?: Record<string, LocalBuildOverride>;
  /** Replace the dev hosts (tests: a host that is stopped, then starting). Default: this machine. */
  devHosts?: DevHosts;
  /** Replace the clock (tests: a dev deploy that outlives its timeout). Default: the system clock. */
  clock?: Clock;
  /** What build+scan may use; what is not given is detected once at start (`docker info`, `trivy --version`) on `path`. */
  tools?: Partial<LocalTools>;
  /** Where one-line notices go (recovered claims, an interrupted release). Default: stderr. */
  log?: (line: string) => void;
  /** Test only: stop at a state until the release is interrupted. Default: POUROVER_TEST_PAUSE. */
  testPause?: TestPause | null;
  /** Whether a rollback's images are still in the registry (tests: one is gone). Default: they are. */
  imagePresence?: ImagePresence;
}
