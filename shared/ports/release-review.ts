import type { Changelog } from "../domain/pull-request-body.js";

/** The app's source history: GitHub's compare API in AWS, `git log` of a local checkout locally. */
export interface SourceHistory {
  /** The commits after `base` up to `head` (tags or commits), at most `limit` listed; never throws. */
  changelog(base: string, head: string, limit: number): Promise<Changelog>;
}

/** The commit status Pourover sets on the release commit (context `pourover/dev`). */
export interface DevStatus {
  state: "pending" | "success" | "failure" | "error";
  /** One line, at most 140 characters. */
  description: string;
  targetUrl: string;
}

/** Writes what happened back onto the release PR: GitHub in AWS, the local PR record locally. */
/** What ReportDevResult writes back to a release's pull request. */
export interface DevReport {
  number: number | null;
  branch: string;
  commit: string | null;
  body: string;
  status: DevStatus;
}

export interface PullRequestReporter {
  /** Replaces the PR body (one call) and sets the `pourover/dev` status on `commit` (one call). */
  reportDev(input: DevReport): Promise<void>;
  /** Leaves one comment on the PR (prod feedback). */
  comment(input: { number: number | null; branch: string; body: string }): Promise<void>;
}
