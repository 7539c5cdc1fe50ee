import type { ScanFindingsDocument } from "../contracts/release-state.js";

/**
 * Keeps the full evaluated findings of a scan out of the execution state: the reports bucket in AWS,
 * the state dir locally. Keys are relative (`<app>/<tag>/<service>/findings.json`), so one key names
 * one object and a retried write replaces it with the same content.
 */
export interface FindingsStore {
  /** Writes (or overwrites) the document at `key`; resolves with its location (s3://…, file://…). */
  put(key: string, document: ScanFindingsDocument): Promise<string>;
  /** Reads a document back by the location `put` returned. */
  read(location: string): Promise<ScanFindingsDocument>;
}
