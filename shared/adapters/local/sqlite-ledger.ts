import Database from "better-sqlite3";
import { ReleaseAlreadyClaimedError } from "../../domain/errors.js";
import type {
  ClaimEntry,
  LedgerRecord,
  OutcomeEntry,
  ProdEntry,
  ProdLedger,
  ReleaseLedger,
  ReleaseRecords,
} from "../../ports/index.js";

/**
 * The release ledger on SQLite, same semantics as the DynamoDB one: a claim is an INSERT that fails
 * on the primary key, except over a FAILED release, which may be released again.
 */
export class SqliteLedger implements ReleaseLedger, ReleaseRecords, ProdLedger {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
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
    if (!columns.some((c) => c.name === "prod")) this.db.exec("ALTER TABLE releases ADD COLUMN prod TEXT");
  }

  async recordProd(
    app: string,
    tag: string,
    entry: ProdEntry,
  ): Promise<"recorded" | "unchanged" | "missing"> {
    const pk = `${app}#${tag}`;
    const prod: ProdEntry = {
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

  async claim(entry: ClaimEntry): Promise<void> {
    const result = this.db
      .prepare(
        `INSERT INTO releases (pk, app, tag, execution_id, status, claimed_at, trig)
         VALUES (@pk, @app, @tag, @executionId, 'RUNNING', @claimedAt, @trig)
         ON CONFLICT(pk) DO UPDATE SET execution_id = excluded.execution_id, status = 'RUNNING',
           claimed_at = excluded.claimed_at, trig = excluded.trig, finished_at = NULL, summary = NULL
         WHERE releases.status = 'FAILED'`,
      )
      .run({ ...entry, pk: `${entry.app}#${entry.tag}`, trig: JSON.stringify(entry.trigger) });
    if (result.changes === 0) {
      const owner = this.db
        .prepare("SELECT execution_id, status FROM releases WHERE pk = ?")
        .get(`${entry.app}#${entry.tag}`) as { execution_id: string; status: string } | undefined;
      throw new ReleaseAlreadyClaimedError(
        `${entry.app} ${entry.tag} is already ${owner?.status.toLowerCase() ?? "claimed"} by ${owner?.execution_id ?? "another execution"}`,
      );
    }
  }

  async record(entry: OutcomeEntry): Promise<void> {
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

  async get(app: string, tag: string): Promise<LedgerRecord | null> {
    const row = this.db.prepare("SELECT * FROM releases WHERE pk = ?").get(`${app}#${tag}`) as
      | Record<string, string | null>
      | undefined;
    return row ? toRecord(row) : null;
  }

  async latestSucceeded(app: string): Promise<LedgerRecord | null> {
    const row = this.db
      .prepare(
        "SELECT * FROM releases WHERE app = ? AND status = 'SUCCEEDED' ORDER BY finished_at DESC, rowid DESC LIMIT 1",
      )
      .get(app) as Record<string, string | null> | undefined;
    return row ? toRecord(row) : null;
  }

  /** Every release of the app (or of all apps), newest claim first: the local release listing. */
  list(app?: string, limit = 100): LedgerRecord[] {
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

function toRecord(row: Record<string, string | null>): LedgerRecord {
  return {
    app: row.app as string,
    tag: row.tag as string,
    executionId: row.execution_id as string,
    claimedAt: row.claimed_at as string,
    status: row.status as LedgerRecord["status"],
    trigger: JSON.parse(row.trig as string),
    ...(row.finished_at ? { finishedAt: row.finished_at } : {}),
    ...(row.summary ? { summary: JSON.parse(row.summary) } : {}),
    ...(row.prod ? { prod: JSON.parse(row.prod) as ProdEntry } : {}),
  };
}
