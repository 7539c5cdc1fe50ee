import Database from "better-sqlite3";
import type { DevLock, DevLockRecord } from "../../ports/index.js";

/** The dev lock on SQLite (a table in the ledger file), with the DynamoDB adapter's conditional writes. */
export class SqliteDevLock implements DevLock {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(`CREATE TABLE IF NOT EXISTS dev_locks (
      app TEXT PRIMARY KEY,
      version TEXT NOT NULL,
      holder TEXT,
      held_until TEXT,
      rev INTEGER NOT NULL
    )`);
  }

  async read(app: string): Promise<DevLockRecord | null> {
    const row = this.db.prepare("SELECT * FROM dev_locks WHERE app = ?").get(app) as
      | { app: string; version: string; holder: string | null; held_until: string | null; rev: number }
      | undefined;
    if (!row) return null;
    return {
      app: row.app,
      version: row.version,
      holder: row.holder,
      heldUntil: row.held_until,
      rev: row.rev,
    };
  }

  async write(next: Omit<DevLockRecord, "rev">, expectedRev: number | null): Promise<boolean> {
    const values = { ...next, rev: (expectedRev ?? 0) + 1, expected: expectedRev };
    const result =
      expectedRev === null
        ? this.db
            .prepare(
              `INSERT INTO dev_locks (app, version, holder, held_until, rev)
               VALUES (@app, @version, @holder, @heldUntil, @rev) ON CONFLICT(app) DO NOTHING`,
            )
            .run(values)
        : this.db
            .prepare(
              `UPDATE dev_locks SET version = @version, holder = @holder, held_until = @heldUntil, rev = @rev
               WHERE app = @app AND rev = @expected`,
            )
            .run(values);
    return result.changes === 1;
  }

  async release(app: string, executionId: string): Promise<boolean> {
    const result = this.db
      .prepare(
        "UPDATE dev_locks SET holder = NULL, held_until = NULL, rev = rev + 1 WHERE app = ? AND holder = ?",
      )
      .run(app, executionId);
    return result.changes === 1;
  }

  close(): void {
    this.db.close();
  }
}
