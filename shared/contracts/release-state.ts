import type { PullRequestRef, ReleasePlan, ReleaseRequest, ScanFinding, ScanResult } from "./release.js";

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
