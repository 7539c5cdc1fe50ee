import { InvalidInputError } from "../domain/errors.js";
import type { PullRequestRef, ReleasePlan, ReleaseRequest, ScanFinding, ScanResult } from "./release.js";

/**
 * The full evaluated findings of one service's scan, as EvaluateScan stores them next to the report
 * (the execution state only carries a summary and this document's location).
 */
export interface ScanFindingsDocument {
  app: string;
  tag: string;
  service: string;
  image: ScanResult["image"];
  verdict: ScanResult["verdict"];
  counts: Record<string, number>;
  /** Every blocking finding, most severe first. */
  blocking: ScanFinding[];
  allowed: string[];
  warnings: string[];
  report: string;
  scannedBy: ScanResult["scannedBy"];
  evaluatedAt: string;
}

/** Reads a stored findings document back, refusing anything that is not one (named by `source`). */
export function parseFindingsDocument(text: string, source: string): ScanFindingsDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new InvalidInputError(`${source}: not JSON, so not a findings document`);
  }
  const doc = raw as Partial<ScanFindingsDocument> | null;
  const ok =
    typeof doc === "object" &&
    doc !== null &&
    typeof doc.service === "string" &&
    (doc.verdict === "PASSED" || doc.verdict === "REJECTED") &&
    Array.isArray(doc.blocking) &&
    doc.blocking.every((f) => typeof f?.id === "string" && typeof f?.severity === "string");
  if (!ok) throw new InvalidInputError(`${source}: not a findings document (service, verdict, blocking)`);
  return doc as ScanFindingsDocument;
}

/** What GateOnScan hands on: the images that passed, by digest where one exists. */
export interface GateResult {
  images: { service: string; repository: string; tag: string; digest?: string }[];
  warnings: string[];
}

export interface DeployResult {
  instances: { instanceId: string; status: string; summary: string }[];
  dryRun: boolean;
  /** A newer release held the dev lock: this one was pinned but not deployed. */
  superseded?: boolean;
  by?: string;
  note?: string;
}

/**
 * The execution state as it flows through the ASL; each state adds its key (ResultPath). Fields are
 * optional because a failure can happen anywhere.
 */
export interface ReleaseState extends ReleaseRequest {
  claim?: { claimedAt: string };
  plan?: ReleasePlan;
  scans?: ScanResult[];
  gate?: GateResult;
  pullRequest?: PullRequestRef;
  deploy?: { commandId: string; result?: DeployResult };
  error?: { Error: string; Cause?: string };
  notification?: { messageId: string; subject: string; to: string[] };
  notificationError?: { Error: string; Cause?: string };
}

/** The parts of a failure a person needs, parsed from Step Functions' `Cause` (Lambda errors are JSON). */
export function describeError(error: { Error: string; Cause?: string } | undefined): {
  name: string;
  message: string;
} {
  if (!error) return { name: "Unknown", message: "" };
  let message = error.Cause ?? "";
  try {
    const parsed = JSON.parse(message) as { errorMessage?: string };
    if (parsed && typeof parsed.errorMessage === "string") message = parsed.errorMessage;
  } catch {
    // Cause is plain text (local engine, CodeBuild, SDK integrations).
  }
  return { name: error.Error, message };
}

export type { ScanFinding };
