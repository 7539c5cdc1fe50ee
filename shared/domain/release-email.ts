/**
 * The release and prod emails: the facts, scan tables and links around the outcome that
 * release-outcome.ts classified, written as blocks and rendered by email-blocks.ts.
 */
import type { ScanResult } from "../contracts/release.js";
import type { ReleaseState } from "../contracts/release-state.js";
import { describeError } from "../contracts/release-state.js";
import { type Block, type Cell, toHtml, toText } from "./email-blocks.js";
import { classify, type OutcomeView, reportLink } from "./release-outcome.js";

export { notifyOutcomeOf } from "./release-outcome.js";

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

export interface EmailContext {
  outcome: "SUCCEEDED" | "FAILED";
  release: ReleaseState;
  executionUrl: string;
  /** When the email is written; with `claim.claimedAt` it gives the release's duration so far. */
  now?: Date;
  /** Region of the execution, for console links to s3:// scan reports. */
  region?: string;
}

export function renderReleaseEmail(ctx: EmailContext): RenderedEmail {
  const r = ctx.release;
  const tag = r.tag || "(no tag)";
  const dryRun = r.deploy?.result?.dryRun === true;
  const superseded = r.deploy?.result?.superseded === true ? r.deploy.result : undefined;
  const view: OutcomeView =
    ctx.outcome === "SUCCEEDED" && superseded
      ? {
          kind: "released",
          headline: `ready: superseded by ${superseded.by ?? "a newer release"}, not deployed`,
          happened: `${r.app} ${tag} passed its scans and is pinned in the manifests. It was NOT deployed to dev: ${superseded.by ?? "a newer release"} already holds or held the dev host.`,
          next: "Nothing on dev to check for this version; review the pull request, or close it in favour of the newer one.",
          blocks: [],
        }
      : ctx.outcome === "SUCCEEDED"
        ? {
            kind: "released",
            headline: dryRun ? "ready: dev deploy was a dry run" : "released to dev",
            happened: dryRun
              ? `${r.app} ${tag} passed its scans and is pinned in the manifests. It was NOT deployed: the dev deploy ran as a dry run (its commands were printed, nothing was run).`
              : `${r.app} ${tag} passed its scans, is pinned in the manifests and is deployed to dev.`,
            next: dryRun
              ? "Deploy it where docker compose runs if you need it on dev; then review and merge the pull request (Argo CD syncs production)."
              : "Check dev, then review and merge the pull request; Argo CD then syncs production.",
            blocks: [],
          }
        : classify(r, ctx.region);
  const rolledBack = ctx.outcome === "SUCCEEDED" && !superseded && r.rollback;
  if (rolledBack) {
    // A rollback re-pinned an earlier release's recorded images (no build, no scan) and deployed them.
    view.headline = `rolled back to ${tag}${dryRun ? " (dev deploy was a dry run)" : ""}`;
    view.happened = `${r.app} was rolled back to ${tag}${r.rollback?.from ? ` from ${r.rollback.from}` : ""}: the images recorded for ${tag} are pinned again by digest${dryRun ? "; the dev deploy ran as a dry run" : " and deployed to dev"}. Nothing was built or scanned.`;
    view.next =
      "Merge the rollback pull request to take production back too; only a newer tag moves dev off this version.";
  }
  const subject = rolledBack ? `[${r.app}] rolled back to ${tag}` : `[${r.app}] ${tag} ${view.headline}`;
  const blocks: Block[] = [
    { kind: "lead", text: view.happened },
    { kind: "para", text: `Next: ${view.next}` },
  ];
  if (ctx.outcome === "FAILED") {
    const error = describeError(r.error);
    blocks.push({ kind: "para", text: `Error: ${error.name}: ${error.message}` });
  }
  blocks.push(...view.blocks);
  blocks.push({ kind: "heading", text: "Release" }, { kind: "facts", rows: facts(ctx) });

  blocks.push(...tableBlocks(r, ctx.region));
  blocks.push({ kind: "heading", text: "Links" }, { kind: "list", items: linkCells(r, ctx) });
  return { subject, text: toText(blocks), html: toHtml(subject, blocks) };
}

/** The Images, Scans and Dev hosts tables, each only when it has rows. */
function tableBlocks(r: ReleaseState, region: string | undefined): Block[] {
  const blocks: Block[] = [];
  const images = r.gate?.images ?? r.scans?.map((s) => ({ service: s.service, ...s.image })) ?? [];
  if (images.length > 0) {
    blocks.push(
      { kind: "heading", text: "Images" },
      {
        kind: "table",
        head: ["service", "image", "digest"],
        rows: images.map((i) => [i.service, `${i.repository}:${i.tag}`, i.digest ?? "(not pushed)"]),
      },
    );
  }
  if ((r.scans ?? []).length > 0) {
    blocks.push(
      { kind: "heading", text: "Scans" },
      {
        kind: "table",
        head: ["service", "verdict", "findings", "report"],
        rows: (r.scans ?? []).map((s) => [
          s.service,
          `${s.verdict}${s.scannedBy === "sample-report" ? " (SAMPLE report)" : ""}`,
          findingCounts(s),
          reportLink(s.report, region),
        ]),
      },
    );
  }
  if (r.deploy?.result && r.deploy.result.instances.length > 0) {
    blocks.push(
      { kind: "heading", text: "Dev hosts" },
      {
        kind: "table",
        head: ["instance", "status", "result"],
        rows: r.deploy.result.instances.map((i) => [i.instanceId, i.status, i.summary]),
      },
    );
  }
  return blocks;
}

/** The execution, the pull request and every scan report. */
function linkCells(r: ReleaseState, ctx: EmailContext): Cell[] {
  const links: Cell[] = [{ text: "Execution", href: ctx.executionUrl }];
  if (r.pullRequest) {
    const pr = r.pullRequest;
    const label = `Pull request${pr.number ? ` #${pr.number}` : ""} (${pr.branch}${pr.unchanged ? ", unchanged re-run" : ""})`;
    links.push(pr.url ? { text: label, href: pr.url } : `${label}: no URL (local)`);
  }
  for (const s of r.scans ?? []) {
    const report = reportLink(s.report, ctx.region);
    links.push(
      typeof report === "string"
        ? `Scan report ${s.service}: ${report}`
        : { ...report, text: `Scan report ${s.service}` },
    );
  }
  return links;
}

function facts(ctx: EmailContext): [string, Cell][] {
  const r = ctx.release;
  const rows: [string, Cell][] = [
    ["App", r.app],
    ["Version", r.tag || "(no tag)"],
  ];
  const t = r.trigger;
  if (t?.source === "github") {
    rows.push(["Pushed by", `${t.pusher} (git tag on ${t.repository})`]);
    if (t.commit) rows.push(["Commit", t.commit]);
  } else if (t?.source === "ecr")
    rows.push(["Triggered by", `image push to ECR ${t.repository}@${t.digest}`]);
  else if (t?.source === "cli")
    rows.push(["Started by", `${t.pusher} (pourover CLI)${t.commit ? ` at ${t.commit}` : ""}`]);
  if (r.force) rows.push(["Forced", "yes: a version older than what is pinned was allowed"]);
  const started = r.claim?.claimedAt;
  if (started) rows.push(["Started", started]);
  const now = ctx.now ?? new Date();
  if (started && Number.isFinite(Date.parse(started))) {
    rows.push([
      "Duration",
      `${formatDuration(now.getTime() - Date.parse(started))} from claim to this email`,
    ]);
  }
  // The execution state carries no per-stage timestamps; the execution history has them.
  rows.push(["Stage timings", "per state in the execution timeline (link below, or pourover status <tag>)"]);
  return rows;
}

function findingCounts(s: ScanResult): string {
  const parts = Object.entries(s.counts)
    .filter(([, n]) => n > 0)
    .map(([sev, n]) => `${n} ${sev.toLowerCase()}`);
  const allowed = s.allowed.length ? `, ${s.allowed.length} allowed` : "";
  return `${parts.join(", ") || "none"}${allowed}`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "unknown";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export interface ProdEmailContext {
  app: string;
  tag: string;
  status: "DEPLOYED" | "DEGRADED";
  /** The manifests commit Argo CD synced. */
  revision: string;
  /** Argo CD's health status. */
  health: string;
  /** The Argo CD Application that reported it. */
  argoApp: string;
  /** When the notification arrived (ISO). */
  at: string;
  /** The images Argo CD reports for the app (`repo:tag@digest`). */
  images: string[];
  /** Something a person should know, e.g. the app's images did not all carry one tag. */
  note?: string;
  /** From the release record: its pull request and execution, linked when known. */
  pullRequestUrl?: string | null;
  executionUrl?: string | null;
  /** When dev got it (the release's recorded outcome), for "dev to prod" time. */
  finishedAt?: string | null;
}

/** The email for Argo CD's report on a release in production: deployed (synced, healthy) or degraded. */
export function renderProdEmail(ctx: ProdEmailContext): RenderedEmail {
  const deployed = ctx.status === "DEPLOYED";
  const subject = `[${ctx.app}] ${ctx.tag} ${deployed ? "deployed to prod" : "degraded in prod"}`;
  const blocks: Block[] = [
    {
      kind: "lead",
      text: deployed
        ? `Argo CD synced ${ctx.app} ${ctx.tag} to production and reports it ${ctx.health}. The release is complete: tag, dev, pull request merged, prod synced and healthy.`
        : `Argo CD reports ${ctx.app} ${ctx.tag} in production as ${ctx.health}.`,
    },
    {
      kind: "para",
      text: deployed
        ? "Next: nothing to do; watch the app's own dashboards."
        : "Next: open the Argo CD application to see which resources are unhealthy; to roll back, revert the release's merge commit in the manifests repository (Argo CD syncs the revert).",
    },
  ];
  if (ctx.note) blocks.push({ kind: "para", text: `Note: ${ctx.note}` });
  const rows: [string, Cell][] = [
    ["App", ctx.app],
    ["Version", ctx.tag],
    ["Argo CD application", ctx.argoApp],
    ["Health", ctx.health],
    ["Manifests revision", ctx.revision],
    ["Reported at", ctx.at],
  ];
  const sinceDev = ctx.finishedAt ? Date.parse(ctx.at) - Date.parse(ctx.finishedAt) : Number.NaN;
  if (deployed && Number.isFinite(sinceDev) && sinceDev >= 0) {
    rows.push(["Dev to prod", formatDuration(sinceDev)]);
  }
  blocks.push({ kind: "heading", text: "Production" }, { kind: "facts", rows });
  if (ctx.images.length > 0) {
    blocks.push({ kind: "heading", text: "Images Argo CD reports" }, { kind: "list", items: ctx.images });
  }
  const links: Cell[] = [];
  if (ctx.pullRequestUrl) links.push({ text: "Release pull request", href: ctx.pullRequestUrl });
  if (ctx.executionUrl) links.push({ text: "Release execution", href: ctx.executionUrl });
  if (links.length > 0) blocks.push({ kind: "heading", text: "Links" }, { kind: "list", items: links });
  return { subject, text: toText(blocks), html: toHtml(subject, blocks) };
}
