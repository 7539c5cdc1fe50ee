import { appendFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { ArtifactStore, EventPublisher, ReportStore } from "../../ports/index.js";

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
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, body);
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
    await mkdir(dirname(this.file), { recursive: true });
    await appendFile(this.file, `${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
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
