import type { ScanPolicy } from "../contracts/app-config.js";
import type { ScanResult } from "../contracts/release.js";
import type { ImageChange } from "./image-editor.js";
import { parseImageReference } from "./image-reference.js";

/** Commits the PR body lists before it links to the full comparison. */
export const CHANGELOG_LIMIT = 20;

type AllowListEntry = ScanPolicy["allow"][number];

/** The source commits between the previous released tag and this one. */
export type Changelog =
  | {
      available: true;
      base: string;
      head: string;
      /** Newest last, as `git log --reverse` and GitHub's compare list them; at most CHANGELOG_LIMIT. */
      commits: { sha: string; title: string; author: string }[];
      /** All commits between base and head, listed or not. */
      total: number;
      /** The full comparison (GitHub's compare page); null when there is none (a local checkout). */
      url: string | null;
    }
  | { available: false; reason: string };

/** What the dev deploy came to, as the PR body and the `pourover/dev` commit status say it. */
export type DevReport =
  | { kind: "pending" }
  | { kind: "healthy"; hosts: number; dryRun: boolean }
  | { kind: "superseded"; by: string }
  | { kind: "rolled-back"; reason: string }
  | { kind: "failed"; error: string; reason: string };

export interface PullRequestBodyInput {
  app: string;
  tag: string;
  /** A rollback re-pins an earlier release's images: no build, no scan (the recorded scan is shown). */
  rollbackFrom?: string | null;
  changes: ImageChange[];
  scans: ScanResult[];
  /** The app's allow-list: allowed findings are shown with their expiry. */
  allowList: AllowListEntry[];
  changelog: Changelog;
  executionUrl: string;
  dev?: DevReport;
}

const DEV_START = "<!-- pourover:dev -->";
const DEV_END = "<!-- /pourover:dev -->";
const SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"];

/**
 * Markdown body of the release PR: the one page a reviewer needs before merging (the prod gate):
 * per service the old and new tag and digest, the scan summary, the source changelog, the execution
 * and the dev result. The dev section sits between markers so ReportDevResult can rewrite it alone.
 */
export function renderPullRequestBody(input: PullRequestBodyInput): string {
  const head = input.rollbackFrom
    ? `Rolls **${input.app}** back to **${input.tag}** (from ${input.rollbackFrom}): the images recorded for that release, no build, no scan. Merging hands it to Argo CD for production.`
    : `Pins **${input.app} ${input.tag}**. Merging hands it to Argo CD for production.`;
  return [
    head,
    "",
    "### Images",
    "| service | file | before | after |",
    "| --- | --- | --- | --- |",
    ...input.changes.map((c) => {
      const service = input.scans.find((s) => s.image.repository === c.repository);
      return `| ${service?.service ?? c.repository} | \`${c.path ?? "-"}\`:${c.line} | ${imageCell(c.before)} | ${imageCell(c.after)} |`;
    }),
    "",
    ...renderScans(input.scans, input.allowList),
    "",
    ...renderChangelog(input.changelog),
    "",
    `Execution: ${input.executionUrl}`,
    "",
    renderDevSection(input.dev ?? { kind: "pending" }, input.executionUrl),
    "",
    "_Opened by Pourover. Only image values were changed; everything else is byte for byte._",
  ].join("\n");
}

/** `v1.2.0` and the digest, from an image reference as written in the manifest. */
function imageCell(ref: string): string {
  const parsed = parseImageReference(ref);
  if (!parsed) return `\`${ref}\``;
  const digest = parsed.digest ? ` \`${parsed.digest}\`` : "";
  return `${parsed.tag ? `\`${parsed.tag}\`` : "(no tag)"}${digest}`;
}

function renderScans(scans: ScanResult[], allowList: AllowListEntry[]): string[] {
  if (scans.length === 0) return ["### Scan", "No scan results."];
  const total: Record<string, number> = {};
  for (const s of scans) for (const [sev, n] of Object.entries(s.counts)) total[sev] = (total[sev] ?? 0) + n;
  const order = (counts: Record<string, number>) =>
    [...SEVERITIES, ...Object.keys(counts).filter((k) => !SEVERITIES.includes(k))]
      .filter((sev) => (counts[sev] ?? 0) > 0)
      .map((sev) => `${sev} ${counts[sev]}`)
      .join(", ") || "none";
  const allowed = [...new Set(scans.flatMap((s) => s.allowed))].sort();
  return [
    "### Scan",
    `All services: ${order(total)}.`,
    "",
    "| service | verdict | findings | scanned by |",
    "| --- | --- | --- | --- |",
    ...scans.map((s) => `| ${s.service} | ${s.verdict} | ${order(s.counts)} | ${s.scannedBy} |`),
    ...(allowed.length > 0
      ? [
          "",
          "Allow-listed findings:",
          ...allowed.map((id) => {
            const entry = allowList.find((a) => a.id === id);
            return entry
              ? `- ${id}: ${entry.reason} (expires ${entry.expires})`
              : `- ${id} (not in the allow-list any more)`;
          }),
        ]
      : []),
  ];
}

function renderChangelog(changelog: Changelog): string[] {
  if (!changelog.available) return ["### Changes", `Changelog unavailable: ${changelog.reason}.`];
  const { commits, total, base, head, url } = changelog;
  const more = total - commits.length;
  return [
    "### Changes",
    `${total} commit${total === 1 ? "" : "s"} from ${base} to ${head}${url ? ` ([full compare](${url}))` : ""}:`,
    ...commits.map((c) => `- \`${c.sha.slice(0, 7)}\` ${inline(c.title)} (${inline(c.author)})`),
    ...(more > 0 ? [`- … and ${more} more${url ? `: ${url}` : ""}`] : []),
  ];
}

/** Source text on one line that cannot open HTML (or fake the dev markers) or a table cell. */
function inline(text: string): string {
  return text
    .replace(/[\r\n]+/g, " ")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;");
}

/** The dev section, markers included. */
export function renderDevSection(dev: DevReport, executionUrl: string): string {
  return [DEV_START, `**Dev deploy:** ${describeDev(dev)} ([execution](${executionUrl}))`, DEV_END].join(
    "\n",
  );
}

/** One line: what happened on dev. */
export function describeDev(dev: DevReport): string {
  switch (dev.kind) {
    case "pending":
      return "pending";
    case "healthy":
      return dev.dryRun
        ? `dry run on ${dev.hosts} host${dev.hosts === 1 ? "" : "s"}: nothing deployed`
        : `deployed and healthy on ${dev.hosts} host${dev.hosts === 1 ? "" : "s"}`;
    case "superseded":
      return `superseded by ${dev.by}, not deployed`;
    case "rolled-back":
      return `rolled back: ${dev.reason}`;
    case "failed":
      return `failed (${dev.error}): ${dev.reason}`;
  }
}

/**
 * The body with its dev section replaced (appended when a person removed the markers). Everything
 * outside the markers is kept as it is.
 */
export function withDevSection(body: string, dev: DevReport, executionUrl: string): string {
  const section = renderDevSection(dev, executionUrl);
  const start = body.indexOf(DEV_START);
  const end = body.indexOf(DEV_END, start);
  if (start === -1 || end === -1) return `${body}\n\n${section}`;
  return `${body.slice(0, start)}${section}${body.slice(end + DEV_END.length)}`;
}
