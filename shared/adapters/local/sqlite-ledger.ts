import { chmodSync } from "node:fs";
import Database from "better-sqlite3";
import { ReleaseAlreadyClaimedError } from "../../domain/errors.js";
import type * as port from "../../ports/index.js";
import { type ProcessOwner, parseProcessOwner } from "./process-owner.js";

/** Statuses a release may be claimed again from: it ended without succeeding. */
const RECLAIMABLE = "('FAILED', 'ABORTED', 'TIMED_OUT')";

/** A RUNNING release whose owner process is gone (killed, rebooted). */
export interface AbandonedRun {
  app: string;
  tag: string;
  executionId: string;
  /** null: claimed by a version that kept no owner, and older than any execution may run. */
  owner: ProcessOwner | null;
  claimedAt: string;
}

/**
 * The release ledger on SQLite, same semantics as the DynamoDB one: a claim is an INSERT that fails
 * on the primary key, except over a FAILED release, which may be released again.
 */
export class SqliteLedger
  implements port.ReleaseLedger, port.ReleaseRecords, port.ProdLedger, port.AbandonedReleaseLedger
{
  private readonly db: Database.Database;
  private readonly owner: ProcessOwner | undefined;

  /** `owner`: the process claims are recorded for, so a later run can tell a dead claim from a live one. */
  constructor(file: string, options: { owner?: ProcessOwner } = {}) {
    this.owner = options.owner;
    this.db = new Database(file);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
      try {
        chmodSync(f, 0o600);
      } catch {
        // -wal/-shm exist only while a connection is open in WAL mode.
      }
    }
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(`CREATE TABLE IF NOT EXISTS releases (
      pk TEXT PRIMARY KEY,
      app TEXT NOT NULL,
      tag TEXT NOT NULL,
      execution_id TEXT NOT NULL,
      status TEXT NOT NULL,
      claimed_at TEXT NOT NULL,
      finished_at TEXT,
      trig TEXT NOT NULL,
      summary TEXT
    )`);
    // Ledgers written before production feedback existed lack the column.
    const columns = this.db.prepare("PRAGMA table_info(releases)").all() as { name: string }[];
    for (const column of ["prod", "owner", "abandon_notice"]) {
      if (columns.some((c) => c.name === column)) continue;
      try {
        this.db.exec(`ALTER TABLE releases ADD COLUMN ${column} TEXT`);
      } catch (error) {
        // Another process opening the same new ledger added it first.
        if (!/duplicate column/i.test((error as Error).message)) throw error;
      }
    }
  }

  async recordProd(
    app: string,
    tag: string,
    entry: port.ProdEntry,
  ): Promise<"recorded" | "unchanged" | "missing"> {
    const pk = `${app}#${tag}`;
    const prod: port.ProdEntry = {
      status: entry.status,
      revision: entry.revision,
      at: entry.at,
      health: entry.health,
      argoApp: entry.argoApp,
    };
    const result = this.db
      .prepare(
        `UPDATE releases SET prod = @prod WHERE pk = @pk AND (prod IS NULL
           OR json_extract(prod, '$.revision') IS NOT @revision OR json_extract(prod, '$.status') IS NOT @status)`,
      )
      .run({ pk, prod: JSON.stringify(prod), revision: entry.revision, status: entry.status });
    if (result.changes > 0) return "recorded";
    return this.db.prepare("SELECT 1 FROM releases WHERE pk = ?").get(pk) ? "unchanged" : "missing";
  }

  async claim(entry: port.ClaimEntry): Promise<void> {
    const result = this.db
      .prepare(
        `INSERT INTO releases (pk, app, tag, execution_id, status, claimed_at, trig, owner)
         VALUES (@pk, @app, @tag, @executionId, 'RUNNING', @claimedAt, @trig, @owner)
         ON CONFLICT(pk) DO UPDATE SET execution_id = excluded.execution_id, status = 'RUNNING',
           claimed_at = excluded.claimed_at, trig = excluded.trig, finished_at = NULL, summary = NULL,
           owner = excluded.owner, abandon_notice = NULL
         WHERE releases.status IN ${RECLAIMABLE}`,
      )
      .run({
        ...entry,
        pk: `${entry.app}#${entry.tag}`,
        trig: JSON.stringify(entry.trigger),
        owner: this.owner ? JSON.stringify({ ...this.owner, since: entry.claimedAt }) : null,
      });
    if (result.changes === 0) {
      const record = await this.get(entry.app, entry.tag);
      throw new ReleaseAlreadyClaimedError(
        record
          ? describeClaim(record, this.ownerOf(entry.app, entry.tag))
          : `${entry.app} ${entry.tag} is already claimed by another execution`,
      );
    }
  }

  /** The process that claimed `app#tag` (local claims only). */
  ownerOf(app: string, tag: string): ProcessOwner | null {
    const row = this.db.prepare("SELECT owner FROM releases WHERE pk = ?").get(`${app}#${tag}`) as
      | { owner: string | null }
      | undefined;
    return parseProcessOwner(row?.owner);
  }

  /** RUNNING releases whose owner process no longer exists (`isAlive` says), oldest first. */
  /** The execution that holds (or last held) the claim of `app#tag`. */
  executionOf(app: string, tag: string): string | null {
    const row = this.db.prepare("SELECT execution_id FROM releases WHERE pk = ?").get(`${app}#${tag}`) as
      | { execution_id: string }
      | undefined;
    return row?.execution_id ?? null;
  }

  /**
   * RUNNING releases whose owner process is gone (`isAlive` says), oldest first. A claim without an
   * owner (written before owners were kept) counts only once it is older than `ownerlessBefore`.
   */
  abandonedRuns(isAlive: (owner: ProcessOwner) => boolean, ownerlessBefore?: Date): AbandonedRun[] {
    const rows = this.db
      .prepare(
        "SELECT app, tag, execution_id, owner, claimed_at FROM releases WHERE status = 'RUNNING' ORDER BY claimed_at",
      )
      .all() as {
      app: string;
      tag: string;
      execution_id: string;
      owner: string | null;
      claimed_at: string;
    }[];
    const runs: AbandonedRun[] = [];
    for (const r of rows) {
      const owner = parseProcessOwner(r.owner);
      const run = { app: r.app, tag: r.tag, executionId: r.execution_id, owner, claimedAt: r.claimed_at };
      if (owner ? !isAlive(owner) : ownerlessBefore && Date.parse(r.claimed_at) < ownerlessBefore.getTime())
        runs.push(run);
    }
    return runs;
  }

  async finishAbandoned(entry: port.AbandonedEntry): Promise<boolean> {
    const result = this.db
      .prepare(
        `UPDATE releases SET status = @status, finished_at = @finishedAt, summary = @summary
         WHERE pk = @pk AND execution_id = @executionId AND status = 'RUNNING'`,
      )
      .run({
        status: entry.status,
        finishedAt: entry.finishedAt,
        summary: JSON.stringify(entry.summary),
        pk: `${entry.app}#${entry.tag}`,
        executionId: entry.executionId,
      });
    return result.changes === 1;
  }

  async markAbandonNotice(app: string, tag: string, executionId: string, at: string): Promise<boolean> {
    const result = this.db
      .prepare(
        "UPDATE releases SET abandon_notice = ? WHERE pk = ? AND execution_id = ? AND abandon_notice IS NULL",
      )
      .run(at, `${app}#${tag}`, executionId);
    return result.changes === 1;
  }

  async clearAbandonNotice(app: string, tag: string, executionId: string): Promise<void> {
    this.db
      .prepare("UPDATE releases SET abandon_notice = NULL WHERE pk = ? AND execution_id = ?")
      .run(`${app}#${tag}`, executionId);
  }

  async record(entry: port.OutcomeEntry): Promise<void> {
    // Only the execution that owns the claim may set the outcome; an unclaimed (invalid) request is inserted.
    this.db
      .prepare(
        `INSERT INTO releases (pk, app, tag, execution_id, status, claimed_at, finished_at, trig, summary)
         VALUES (@pk, @app, @tag, @executionId, @status, @finishedAt, @finishedAt, '{}', @summary)
         ON CONFLICT(pk) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at, summary = excluded.summary
         WHERE releases.execution_id = excluded.execution_id`,
      )
      .run({ ...entry, pk: `${entry.app}#${entry.tag}`, summary: JSON.stringify(entry.summary) });
  }

  async get(app: string, tag: string): Promise<port.LedgerRecord | null> {
    const row = this.db.prepare("SELECT * FROM releases WHERE pk = ?").get(`${app}#${tag}`) as
      | Record<string, string | null>
      | undefined;
    return row ? toRecord(row) : null;
  }

  async latestSucceeded(app: string): Promise<port.LedgerRecord | null> {
    const row = this.db
      .prepare(
        // A superseded release was pinned but never deployed: it is not what runs on dev.
        `SELECT * FROM releases WHERE app = ? AND status = 'SUCCEEDED'
           AND coalesce(json_extract(summary, '$.deploy.superseded'), 0) = 0
         ORDER BY finished_at DESC, rowid DESC LIMIT 1`,
      )
      .get(app) as Record<string, string | null> | undefined;
    return row ? toRecord(row) : null;
  }

  /** Every release of the app (or of all apps), newest claim first: the local release listing. */
  list(app?: string, limit = 100): port.LedgerRecord[] {
    const rows = (
      app
        ? this.db
            .prepare("SELECT * FROM releases WHERE app = ? ORDER BY claimed_at DESC, rowid DESC LIMIT ?")
            .all(app, limit)
        : this.db.prepare("SELECT * FROM releases ORDER BY claimed_at DESC, rowid DESC LIMIT ?").all(limit)
    ) as Record<string, string | null>[];
    return rows.map(toRecord);
  }

  /** Every release tag ever claimed for the app, for `npm start` to pick the next patch version. */
  tags(app: string): string[] {
    return (this.db.prepare("SELECT tag FROM releases WHERE app = ?").all(app) as { tag: string }[]).map(
      (r) => r.tag,
    );
  }

  close(): void {
    this.db.close();
  }
}

/**
 * What a claim that was refused duplicates, in one line: the release that holds the tag, its status
 * and since when; for one still running, who runs it and how to wait or recover.
 */
export function describeClaim(record: port.LedgerRecord, owner: ProcessOwner | null): string {
  const execution = record.executionId.split(":").pop() ?? record.executionId;
  if (record.status === "RUNNING") {
    const by = owner ? `pid ${owner.pid}${owner.host ? ` on ${owner.host}` : ""}` : "another execution";
    return `${record.app} ${record.tag} is being released by ${by} since ${record.claimedAt} (execution ${execution}); wait for it, or if that process is gone, run again: it is recovered`;
  }
  return `${record.app} ${record.tag} was already released: ${record.status} (execution ${execution}, claimed ${record.claimedAt}${record.finishedAt ? `, finished ${record.finishedAt}` : ""})`;
}

function toRecord(row: Record<string, string | null>): port.LedgerRecord {
  return {
    app: row.app as string,
    tag: row.tag as string,
    executionId: row.execution_id as string,
    claimedAt: row.claimed_at as string,
    status: row.status as port.LedgerRecord["status"],
    trigger: JSON.parse(row.trig as string),
    ...(row.finished_at ? { finishedAt: row.finished_at } : {}),
    ...(row.summary ? { summary: JSON.parse(row.summary) } : {}),
    ...(row.prod ? { prod: JSON.parse(row.prod) as port.ProdEntry } : {}),
  };
}
