import type { ReleaseState } from "../contracts/release-state.js";
import { describeError } from "../contracts/release-state.js";

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

export interface EmailContext {
  outcome: "SUCCEEDED" | "FAILED";
  release: ReleaseState;
  executionUrl: string;
}

/** Which stage failed, in words a person scans in an inbox. */
function failureKind(release: ReleaseState): { headline: string; next: string } {
  const error = describeError(release.error);
  switch (error.name) {
    case "ScanPolicyRejectedError": {
      const rejected = (release.scans ?? []).filter((s) => s.verdict === "REJECTED");
      const bySeverity = new Map<string, number>();
      for (const s of rejected)
        for (const f of s.blocking) bySeverity.set(f.severity, (bySeverity.get(f.severity) ?? 0) + 1);
      const counts = [...bySeverity].map(([sev, n]) => `${n} ${sev.toLowerCase()}`).join(", ");
      return {
        headline: `blocked: ${counts || "scan policy"} vulnerabilit${[...bySeverity.values()].reduce((a, b) => a + b, 0) === 1 ? "y" : "ies"}`,
        next: "Fix or upgrade the listed packages and push a new tag, or add a reasoned, expiring allow-list entry.",
      };
    }
    case "ScanFailedError":
    case "States.TaskFailed":
      return {
        headline: "build or scan failed",
        next: "Open the build logs from the execution; retry by pushing the tag again once fixed.",
      };
    case "ManifestConflictError":
    case "VersionRegressionError":
    case "ManifestInvalidError":
      return {
        headline: "manifest update failed",
        next: "Check the manifests repository; a newer version may already be pinned (use force to roll back on purpose).",
      };
    case "DevDeployFailedError":
    case "NoDevInstancesError":
    case "DevDeployInProgressError":
      return {
        headline: "dev deploy failed",
        next: "The dev host was rolled back where possible; see the per-instance results below.",
      };
    case "ReleaseAlreadyClaimedError":
      return { headline: "duplicate", next: "Nothing to do." };
    default:
      return { headline: "failed", next: "Open the execution to see the failing state and its input." };
  }
}

export function renderReleaseEmail(ctx: EmailContext): RenderedEmail {
  const r = ctx.release;
  const tag = r.tag || "(no tag)";
  const dryRun = r.deploy?.result?.dryRun === true;
  const subject =
    ctx.outcome === "SUCCEEDED"
      ? `[${r.app}] ${tag} ${dryRun ? "ready: dev deploy was a dry run" : "released to dev"}`
      : `[${r.app}] ${tag} ${failureKind(r).headline}`;
  const lines: string[] = [];
  const html: string[] = [];
  const add = (text: string, markup?: string) => {
    lines.push(text);
    html.push(markup ?? `<p>${escapeHtml(text)}</p>`);
  };

  if (ctx.outcome === "SUCCEEDED") {
    add(
      dryRun
        ? `${r.app} ${tag} passed its scans and is pinned in the manifests. It was NOT deployed: the dev deploy ran as a dry run (no docker compose).`
        : `${r.app} ${tag} passed its scans, is pinned in the manifests and is deployed to dev.`,
    );
    add("Next: review and merge the pull request; Argo CD then syncs production.");
  } else {
    const kind = failureKind(r);
    const error = describeError(r.error);
    add(`${r.app} ${tag} ${kind.headline}.`);
    add(`Failed with ${error.name}: ${error.message}`);
    add(`Next: ${kind.next}`);
  }
  if (r.trigger) {
    const who = "pusher" in r.trigger ? r.trigger.pusher : r.trigger.source;
    add(`Triggered by ${r.trigger.source} (${who}).`);
  }
  const images = r.gate?.images ?? r.scans?.map((s) => ({ service: s.service, ...s.image })) ?? [];
  if (images.length > 0) {
    add("Images:", "<h3>Images</h3>");
    const rows = images.map((i) => `${i.service}: ${i.repository}:${i.tag}${i.digest ? `@${i.digest}` : ""}`);
    lines.push(...rows.map((row) => `  ${row}`));
    html.push(`<ul>${rows.map((row) => `<li><code>${escapeHtml(row)}</code></li>`).join("")}</ul>`);
  }
  for (const scan of r.scans ?? []) {
    if (scan.verdict !== "REJECTED") continue;
    add(`${scan.service} blocked by:`, `<h3>${escapeHtml(scan.service)} blocked by</h3>`);
    const rows = scan.blocking.map(
      (f) =>
        `${f.id} ${f.severity} ${f.pkg} ${f.installed}${f.fixed ? ` (fixed in ${f.fixed})` : " (no fix yet)"} ${f.title}`,
    );
    if (scan.blockingOmitted > 0) rows.push(`… and ${scan.blockingOmitted} more in the report`);
    lines.push(...rows.map((row) => `  ${row}`));
    html.push(`<ul>${rows.map((row) => `<li>${escapeHtml(row)}</li>`).join("")}</ul>`);
    add(`Report: ${scan.report}`);
  }
  if (r.pullRequest) {
    const pr = r.pullRequest;
    add(`Pull request: ${pr.url ?? pr.branch}${pr.unchanged ? " (unchanged, re-run)" : ""}`);
  }
  if (r.deploy?.result) {
    for (const i of r.deploy.result.instances) add(`Dev ${i.instanceId}: ${i.status} ${i.summary}`);
  }
  add(
    `Execution: ${ctx.executionUrl}`,
    `<p>Execution: <a href="${escapeHtml(ctx.executionUrl)}">${escapeHtml(ctx.executionUrl)}</a></p>`,
  );

  return {
    subject,
    text: `${lines.join("\n")}\n`,
    html: `<!doctype html><html><body style="font-family:sans-serif"><h2>${escapeHtml(subject)}</h2>${html.join("\n")}</body></html>`,
  };
}

export function escapeHtml(value: string): string {
  return value
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}
