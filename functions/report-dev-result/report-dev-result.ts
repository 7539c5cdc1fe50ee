import * as z from "zod";
import { lazySchema } from "../../shared/contracts/lazy-schema.js";
import { describeError, type ReleaseState } from "../../shared/contracts/release-state.js";
import { releaseStateField } from "../../shared/contracts/release-state-field.js";
import { parseInput } from "../../shared/contracts/zod-problems.js";
import { type DevReport, describeDev, withDevSection } from "../../shared/domain/pull-request-body.js";
import type { DevStatus, PullRequestReporter } from "../../shared/ports/release-review.js";

const inputSchema = lazySchema(() =>
  z.object({
    release: releaseStateField(),
    executionId: z.string(),
  }),
);

export type ReportDevResultOutput =
  | { reported: true; dev: string; state: DevStatus["state"] }
  | { reported: false; reason: string };

/** What the state says happened on dev; null when the release never got that far. */
export function devReportOf(release: ReleaseState): DevReport | null {
  const result = release.deploy?.result;
  if (result?.superseded) return { kind: "superseded", by: result.by ?? "a newer release" };
  if (release.error) {
    const { name, message } = describeError(release.error);
    if (name === "DevDeployRolledBackError") return { kind: "rolled-back", reason: message };
    return { kind: "failed", error: name, reason: message };
  }
  if (result) return { kind: "healthy", hosts: result.instances.length, dryRun: result.dryRun };
  return null;
}

/** The `pourover/dev` commit status for a dev report: success only for a real, healthy deploy. */
export function devStatusOf(report: DevReport, targetUrl: string): DevStatus {
  const state: DevStatus["state"] =
    report.kind === "healthy"
      ? report.dryRun
        ? "pending"
        : "success"
      : report.kind === "superseded"
        ? "error"
        : report.kind === "pending"
          ? "pending"
          : "failure";
  return { state, description: describeDev(report).slice(0, 140), targetUrl };
}

/**
 * After the dev deploy (or its failure): rewrites the dev section of the release PR's body and sets
 * the `pourover/dev` commit status on the release commit, so branch protection can require a healthy
 * dev deploy before the merge that takes the release to prod. At most two GitHub calls. The workflow
 * catches any failure: a report that fails never fails the release.
 */
export async function reportDevResult(
  raw: unknown,
  deps: { reporter: PullRequestReporter; executionUrl: (executionId: string) => string },
): Promise<ReportDevResultOutput> {
  const input = parseInput(inputSchema(), raw, "ReportDevResult");
  const pr = input.release.pullRequest;
  if (!pr || (pr.number === null && pr.commit === null))
    return { reported: false, reason: "no release pull request was opened" };
  if (!pr.body) return { reported: false, reason: "the pull request body was not kept in the state" };
  const report = devReportOf(input.release);
  if (!report) return { reported: false, reason: "the release ended before the dev deploy" };
  const url = deps.executionUrl(input.executionId);
  const status = devStatusOf(report, url);
  await deps.reporter.reportDev({
    number: pr.number,
    branch: pr.branch,
    commit: pr.commit,
    body: withDevSection(pr.body, report, url),
    status,
  });
  return { reported: true, dev: describeDev(report), state: status.state };
}
