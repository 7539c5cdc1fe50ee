import type { NotifyOutcome } from "../contracts/app-config.js";
import type { ScanResult } from "../contracts/release.js";
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
  /** When the email is written; with `claim.claimedAt` it gives the release's duration so far. */
  now?: Date;
  /** Region of the execution, for console links to s3:// scan reports. */
  region?: string;
}

/**
 * One template set: the email is built once as blocks, then written out twice (plain text and
 * HTML), so the two bodies cannot drift apart. Every string in a block is data and is escaped in
 * HTML; only the renderer writes markup.
 */
type Link = { text: string; href: string };
type Cell = string | Link;
type Block =
  | { kind: "lead"; text: string }
  | { kind: "para"; text: string }
  | { kind: "heading"; text: string }
  | { kind: "facts"; rows: [string, Cell][] }
  | { kind: "table"; head: string[]; rows: Cell[][] }
  | { kind: "list"; items: Cell[] };

interface OutcomeView {
  kind: NotifyOutcome;
  headline: string;
  happened: string;
  next: string;
  blocks: Block[];
}

/** Which outcome the release had, in the vocabulary of `notify.byOutcome`. */
export function notifyOutcomeOf(outcome: "SUCCEEDED" | "FAILED", release: ReleaseState): NotifyOutcome {
  return outcome === "SUCCEEDED" ? "released" : classify(release).kind;
}

function classify(r: ReleaseState, region?: string): OutcomeView {
  const tag = r.tag || "(no tag)";
  const error = describeError(r.error);
  switch (error.name) {
    case "ScanPolicyRejectedError":
      return scanRejected(r, region);
    case "ScanFailedError":
    case "BuildFailedError":
    case "InvalidScanReportError":
    case "States.TaskFailed":
    case "States.Timeout":
      return buildFailed(r, error);
    case "ManifestConflictError":
    case "VersionRegressionError":
    case "ManifestInvalidError":
      return {
        kind: "manifest-update-failed",
        headline: "manifest update failed",
        happened: `The images of ${tag} passed their scans, but the manifests repository was not updated: nothing was pinned and dev was not deployed.`,
        next:
          error.name === "VersionRegressionError"
            ? "The manifests already pin a newer version. Release a newer tag, or release this one again with force to move back on purpose."
            : error.name === "ManifestConflictError"
              ? "The base branch kept moving while the commit was made. Release the tag again (a failed release may be retried)."
              : "Fix the manifest file named below in the manifests repository, then release the tag again.",
        blocks: [],
      };
    case "DevDeployFailedError":
    case "DevDeployRolledBackError":
    case "DevDeployRollbackFailedError":
    case "DevDeployTimedOutError":
    case "DevAgentOfflineError":
    case "DevLockBusyError":
    case "NoDevInstancesError":
    case "DevEnvSecretMissingError":
      return deployFailed(r, error);
    case "DevHostStartingError":
      return {
        kind: "dev-deploy-failed",
        headline: "dev deploy failed: dev host did not come online",
        happened: `${tag} is pinned in the pull request, but the dev host did not come online (running, SSM agent Online) within the wait, so nothing was deployed.`,
        next: "Check the instances named below (EC2 console, the SSM agent's status in Fleet Manager), then release the tag again.",
        blocks: [],
      };
    case "ImagesNotReadyError":
      return imagesNotReady(r, error);
    default:
      return {
        kind: "failed",
        headline: `failed: ${error.name}`,
        happened: `The release of ${tag} stopped with ${error.name}.`,
        next: "Open the execution to see the failing state and its input; release the tag again once fixed.",
        blocks: [],
      };
  }
}

const SEVERITY_ORDER = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"];
const bySeverityOrder = ([a]: [string, number], [b]: [string, number]) =>
  (SEVERITY_ORDER.indexOf(a) + 1 || 99) - (SEVERITY_ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b);

/** `25 critical, 3 high`, most severe first. */
function severityCounts(counts: Iterable<[string, number]>): string {
  return [...counts]
    .filter(([, n]) => n > 0)
    .sort(bySeverityOrder)
    .map(([sev, n]) => `${n} ${sev.toLowerCase()}`)
    .join(", ");
}

/**
 * The execution state carries, per service, the most severe blocking CVE ids and the counts; the
 * packages and fixed versions of every finding are in the findings document, linked per service.
 */
function scanRejected(r: ReleaseState, region: string | undefined): OutcomeView {
  const rejected = (r.scans ?? []).filter((s) => s.verdict === "REJECTED");
  const bySeverity = new Map<string, number>();
  for (const s of rejected)
    for (const [sev, n] of Object.entries(s.blockingCounts ?? {}))
      bySeverity.set(sev, (bySeverity.get(sev) ?? 0) + n);
  const total = [...bySeverity.values()].reduce((a, b) => a + b, 0);
  const counts = severityCounts(bySeverity);
  const blocks: Block[] = [];
  for (const scan of rejected) {
    const n = scan.blockingIds.length + scan.blockingOmitted;
    const of = severityCounts(Object.entries(scan.blockingCounts ?? {}));
    blocks.push({
      kind: "heading",
      text: `${scan.service} blocked by ${n} finding${n === 1 ? "" : "s"}${of ? ` (${of})` : ""}`,
    });
    const full = reportLink(scan.findings, region);
    const more = scan.blockingOmitted > 0 ? `... and ${scan.blockingOmitted} more; full list` : "Full list";
    blocks.push({
      kind: "list",
      items: [
        ...scan.blockingIds,
        typeof full === "string"
          ? `${more} with packages and fixed versions: ${full}`
          : { ...full, text: `${more} with packages and fixed versions: ${full.text}` },
      ],
    });
  }
  return {
    kind: "scan-rejected",
    headline: `blocked: ${counts || "scan policy"} vulnerabilit${total === 1 ? "y" : "ies"}`,
    happened: `The scan policy rejected ${rejected.map((s) => s.service).join(", ") || "an image"}: nothing was pushed, pinned or deployed.`,
    next: "Fix or upgrade the affected packages (each service's full list names them, with the fixed versions) and push a new tag, or add a reasoned, expiring allow-list entry (scan.allow) and release again.",
    blocks,
  };
}

/**
 * A CodeBuild failure's Cause is the build itself as JSON: the failing phase and the service (an
 * environment variable of the build) are in it. Scan and local failures say `<service>: ...`.
 */
function buildFailure(r: ReleaseState, message: string): { service?: string; phase?: string } {
  try {
    const parsed = JSON.parse(message) as {
      Phases?: { PhaseType?: string; PhaseStatus?: string }[];
      Environment?: { EnvironmentVariables?: { Name?: string; Value?: string }[] };
    };
    const phase = parsed.Phases?.find((p) => p.PhaseStatus && p.PhaseStatus !== "SUCCEEDED")?.PhaseType;
    const service = parsed.Environment?.EnvironmentVariables?.find(
      (v) => v.Name === "POUROVER_SERVICE",
    )?.Value;
    return { ...(service ? { service } : {}), ...(phase ? { phase } : {}) };
  } catch {
    // DescribeBuildFailure's wording: `<service>: <PHASE> phase failed: <context> — logs: <url>`.
    const m = /^([a-z0-9][a-z0-9-]*):(?: ([A-Z_]+) phase\b)?/.exec(message);
    const prefix = m?.[1];
    const known = r.plan?.services.map((s) => s.name);
    if (!prefix || (known && !known.includes(prefix))) return {};
    return m?.[2] ? { service: prefix, phase: m[2] } : { service: prefix };
  }
}

function buildFailed(r: ReleaseState, error: { name: string; message: string }): OutcomeView {
  const tag = r.tag || "(no tag)";
  const { service, phase } = buildFailure(r, error.message);
  const crashed = error.name === "ScanFailedError" || error.name === "InvalidScanReportError";
  const what = crashed ? "scan failed" : "build failed";
  const where = [service, phase ? `${phase} phase` : ""].filter(Boolean).join(", ");
  return {
    kind: "build-failed",
    headline: `${what}${where ? `: ${where}` : ""}`,
    happened: crashed
      ? `The scanner produced no usable report for ${service ?? "a service"} of ${tag}. This is not a vulnerability verdict; nothing was pushed or pinned.`
      : `Building ${service ?? "a service"} of ${tag} failed${phase ? ` in the ${phase} phase` : ""}; nothing was pushed or pinned.`,
    next: crashed
      ? "Release the tag again (a scanner crash is worth a retry); if it persists, open the scan build's logs from the execution."
      : "Open the build logs from the execution (the failing BuildScanPush iteration), fix the build at the tagged commit, and push a new tag.",
    blocks: [],
  };
}

const SSM_STATUS =
  "Success|Failed|TimedOut|ExecutionTimedOut|Cancelled|Cancelling|Undeliverable|DeliveryTimedOut|Terminated|Pending|InProgress|Delayed";
const HOST = new RegExp(`(\\S+) (${SSM_STATUS}) (.*?)(?=; \\S+ (?:${SSM_STATUS}) |$)`, "g");

interface HostResult {
  instance: string;
  ssm: string;
  result: string;
  step: string;
  rollback: string;
}

/**
 * VerifyDev lists every host as `<instance> <SSM status> <summary>` separated by `; `; a summary is
 * the deploy script's JSON result line (status, step, rollback) or a one-line note.
 */
function hostResults(message: string): HostResult[] {
  return [...message.matchAll(HOST)].map((m) => {
    const summary = (m[3] ?? "").trim();
    let json: Record<string, unknown> | null = null;
    try {
      json = summary.startsWith("{") ? (JSON.parse(summary) as Record<string, unknown>) : null;
    } catch {
      // A note, not the script's JSON: shown as it is.
    }
    return {
      instance: m[1] as string,
      ssm: m[2] as string,
      result: json ? String(json.status ?? "-") : summary || "-",
      step: json?.step ? String(json.step) : "-",
      rollback: json?.rollback ? String(json.rollback) : "-",
    };
  });
}

const DEPLOY_FAILURES: Record<string, { suffix: string; happened: string; next: string }> = {
  DevDeployRolledBackError: {
    suffix: " (rolled back)",
    happened: "dev was rolled back and runs the previous release.",
    next: "Read the host output below and the deploy log, fix, and push a new tag. Do not merge the pull request until dev runs it.",
  },
  DevDeployRollbackFailedError: {
    suffix: " (rollback failed)",
    happened: "the rollback failed too: dev is in an unknown state.",
    next: "Dev needs a person now: check the host (docker compose ps, the deploy log). Do not merge the pull request until the failure is understood.",
  },
  DevDeployTimedOutError: {
    suffix: " (timed out)",
    happened: "the deploy ran past its timeout and was stopped.",
    next: "Check docker compose ps and the deploy log on the host, then release the tag again.",
  },
  DevAgentOfflineError: {
    suffix: ": dev host offline",
    happened: "the command never reached the host (instance stopped or SSM agent offline).",
    next: "Start the instance, wait until its SSM agent is Online, then release the tag again.",
  },
  DevEnvSecretMissingError: {
    suffix: ": app env secret missing or empty",
    happened:
      "the host could not read the app's env secret (dev.envSecret) or it is empty, so it stopped before pulling: dev still runs the previous release.",
    next: "Put the app's env file in the secret (aws secretsmanager put-secret-value --secret-id <dev.envSecret> --secret-string file://<app>.env), then release the tag again.",
  },
  DevLockBusyError: {
    suffix: ": another deploy held dev",
    happened: "another release's deploy held the dev lock for the whole wait.",
    next: "Release the tag again once the other deploy has finished.",
  },
};

function deployFailed(r: ReleaseState, error: { name: string; message: string }): OutcomeView {
  const tag = r.tag || "(no tag)";
  if (error.name === "NoDevInstancesError") {
    return {
      kind: "dev-deploy-failed",
      headline: "dev deploy failed: no dev host",
      happened: `${tag} is pinned in the pull request, but no instance matched the configured dev.instanceTags, so nothing was deployed.`,
      next: "Start or tag the dev host (dev.instanceTags in the config), then release the tag again.",
      blocks: [],
    };
  }
  const hosts = hostResults(error.message);
  // Older results name only DevDeployFailedError: the hosts' JSON lines still tell the rollback.
  const inferred =
    error.name !== "DevDeployFailedError"
      ? error.name
      : hosts.some((h) => h.result === "rollback-failed" || h.rollback === "failed")
        ? "DevDeployRollbackFailedError"
        : hosts.some((h) => h.result === "rolled-back")
          ? "DevDeployRolledBackError"
          : error.name;
  const known = DEPLOY_FAILURES[inferred];
  return {
    kind: "dev-deploy-failed",
    headline: `dev deploy failed${known?.suffix ?? ""}`,
    happened: `Deploying ${tag} to dev failed${known ? `; ${known.happened}` : "."}`,
    next: (
      known?.next ??
      "Read the host output below and the deploy log, fix, and push a new tag. Do not merge the pull request until dev runs it."
    ).replace(
      "<dev.envSecret>",
      /the app env secret (\S+) is missing/.exec(error.message)?.[1] ?? "<dev.envSecret>",
    ),
    blocks: hosts.length
      ? [
          { kind: "heading", text: "Dev hosts" },
          {
            kind: "table",
            head: ["instance", "SSM status", "result", "failed step", "rollback"],
            rows: hosts.map((h) => [h.instance, h.ssm, h.result, h.step, h.rollback]),
          },
        ]
      : [],
  };
}

function imagesNotReady(r: ReleaseState, error: { name: string; message: string }): OutcomeView {
  const tag = r.tag || "(no tag)";
  const missing = (/:\s*(.+)$/.exec(error.message)?.[1] ?? "").split(/,\s*/).filter((s) => s.length > 0);
  return {
    kind: "images-not-ready",
    headline: `images not ready: gave up waiting for ${missing.length || "some"} image${missing.length === 1 ? "" : "s"}`,
    happened: `An image push started the release of ${tag}, but not every service image of ${tag} reached ECR within the wait; nothing was scanned or pinned.`,
    next: "Push the missing images with the same tag (the next push starts the release again), or push the git tag so every image is built from source.",
    blocks: missing.length
      ? [
          { kind: "heading", text: "Missing images" },
          { kind: "list", items: missing },
        ]
      : [],
  };
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
              ? `${r.app} ${tag} passed its scans and is pinned in the manifests. It was NOT deployed: the dev deploy ran as a dry run (no docker compose).`
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
          reportLink(s.report, ctx.region),
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
  blocks.push({ kind: "heading", text: "Links" }, { kind: "list", items: links });
  return { subject, text: toText(blocks), html: toHtml(subject, blocks) };
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

/** s3:// reports link to the S3 console; file:// (local) reports are linked as they are. */
function reportLink(uri: string, region: string | undefined): Cell {
  const s3 = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (s3) {
    const q = `prefix=${encodeURIComponent(s3[2] as string)}${region ? `&region=${encodeURIComponent(region)}` : ""}`;
    return {
      text: uri,
      href: `https://s3.console.aws.amazon.com/s3/object/${encodeURIComponent(s3[1] as string)}?${q}`,
    };
  }
  return /^(https?|file):\/\//.test(uri) ? { text: uri, href: uri } : uri;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "unknown";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

const cellText = (c: Cell) => (typeof c === "string" ? c : `${c.text}: ${c.href}`);

function toText(blocks: Block[]): string {
  const out: string[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case "lead":
      case "para":
        out.push(b.text, "");
        break;
      case "heading":
        out.push(b.text, "-".repeat(Math.min(b.text.length, 60)));
        break;
      case "facts": {
        const width = Math.max(...b.rows.map(([k]) => k.length));
        out.push(...b.rows.map(([k, v]) => `  ${`${k}:`.padEnd(width + 1)} ${cellText(v)}`), "");
        break;
      }
      case "table": {
        const rows = [b.head, ...b.rows.map((row) => row.map(cellText))];
        const widths = b.head.map((_, i) =>
          Math.min(40, Math.max(...rows.map((row) => row[i]?.length ?? 0))),
        );
        const line = (row: string[]) =>
          `  ${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")}`.trimEnd();
        out.push(...rows.map(line), "");
        break;
      }
      case "list":
        out.push(...b.items.map((i) => `  - ${cellText(i)}`), "");
        break;
    }
  }
  return `${out.join("\n").trimEnd()}\n`;
}

/** Only http(s) and file links become anchors: a hostile URL is shown as text, never made clickable. */
function htmlCell(c: Cell): string {
  if (typeof c === "string") return escapeHtml(c);
  if (!/^(https?|file):\/\//i.test(c.href)) return `${escapeHtml(c.text)}: ${escapeHtml(c.href)}`;
  return `<a href="${escapeHtml(c.href)}" style="color:#0b57d0">${escapeHtml(c.text)}</a>`;
}

const TD = 'style="padding:4px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top"';

function toHtml(subject: string, blocks: Block[]): string {
  const body = blocks.map((b) => {
    switch (b.kind) {
      case "lead":
        return `<p style="font-size:15px;margin:12px 0">${escapeHtml(b.text)}</p>`;
      case "para":
        return `<p style="margin:8px 0">${escapeHtml(b.text)}</p>`;
      case "heading":
        return `<h3 style="margin:20px 0 6px;font-size:15px">${escapeHtml(b.text)}</h3>`;
      case "facts":
        return `<table style="border-collapse:collapse;font-size:13px">${b.rows
          .map(
            ([k, v]) => `<tr><th align="left" ${TD}>${escapeHtml(k)}</th><td ${TD}>${htmlCell(v)}</td></tr>`,
          )
          .join("")}</table>`;
      case "table":
        return `<table style="border-collapse:collapse;font-size:13px"><tr>${b.head
          .map((h) => `<th align="left" ${TD}>${escapeHtml(h)}</th>`)
          .join("")}</tr>${b.rows
          .map(
            (row) =>
              `<tr>${row.map((c, i) => `<td ${TD}${i === 0 ? ' nowrap="nowrap"' : ""}><code>${htmlCell(c)}</code></td>`).join("")}</tr>`,
          )
          .join("")}</table>`;
      case "list":
        return `<ul style="margin:4px 0;padding-left:20px">${b.items.map((i) => `<li>${htmlCell(i)}</li>`).join("")}</ul>`;
    }
    return "";
  });
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head><body style="font-family:Arial,Helvetica,sans-serif;color:#111827;max-width:900px;margin:16px">
<h2 style="font-size:18px;margin:0 0 8px">${escapeHtml(subject)}</h2>
${body.join("\n")}
</body></html>`;
}

export function escapeHtml(value: string): string {
  return value
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
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
