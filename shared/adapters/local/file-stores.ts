import { appendFile, mkdir, readFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { ArtifactStore, EventPublisher, ReportStore } from "../../ports/index.js";
import { writeFileAtomic } from "./atomic-file.js";

/** Reads reports given as file:// URIs (where the local build stand-in put them). */
export class FileReportStore implements ReportStore {
  async read(location: string): Promise<string> {
    if (!location.startsWith("file://"))
      throw new Error(`local report store reads file:// URIs, got ${location}`);
    return readFile(fileURLToPath(location), "utf8");
  }
}

/** Artifacts under a folder of the state dir, addressed by the same keys as in S3. */
export class DirectoryArtifactStore implements ArtifactStore {
  constructor(readonly root: string) {}

  async put(key: string, body: string): Promise<string> {
    // Whole or absent: the dev deploy reads it, and a crash must not leave half a compose file.
    await writeFileAtomic(this.path(key), body);
    return key;
  }

  path(key: string): string {
    const path = resolve(this.root, key);
    if (!path.startsWith(resolve(this.root) + sep)) throw new Error(`artifact key escapes the store: ${key}`);
    return path;
  }
}

/** Events the pipeline would put on its bus, appended as JSON lines. */
export class JsonLinesEventPublisher implements EventPublisher {
  constructor(private readonly file: string) {}

  async publish(event: {
    source: string;
    detailType: string;
    detail: Record<string, unknown>;
  }): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    await appendFile(this.file, `${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`, {
      mode: 0o600,
    });
  }
}

export const stateDirLayout = (stateDir: string) => ({
  ledger: join(stateDir, "ledger.sqlite"),
  executions: join(stateDir, "executions"),
  outbox: join(stateDir, "outbox"),
  reports: join(stateDir, "reports"),
  artifacts: join(stateDir, "artifacts"),
  repos: join(stateDir, "repos"),
  pulls: join(stateDir, "pulls"),
  events: join(stateDir, "events.jsonl"),
  deploys: join(stateDir, "deploys"),
});
