import { existsSync } from "node:fs";
import { stateDirLayout } from "../shared/adapters/local/file-stores.js";
import { SqliteLedger } from "../shared/adapters/local/sqlite-ledger.js";
import { InvalidInputError } from "../shared/domain/errors.js";
import { formatDuration } from "../shared/domain/release-email.js";
import { parseLedgerTag } from "../shared/domain/release-naming.js";
import type { LedgerRecord, ProdEntry } from "../shared/ports/index.js";

/** One release as `pourover releases` reports it: the ledger record plus what follows from it. */
export interface ReleaseView {
  app: string;
  tag: string;
  status: LedgerRecord["status"];
  executionId: string;
  claimedAt: string;
  finishedAt: string | null;
  /** Claim to recorded outcome. The push time itself is not in the request, so it is not counted. */
  leadTimeMs: number | null;
  trigger: LedgerRecord["trigger"];
  images: { service: string; repository: string; tag: string; digest?: string }[];
  pullRequest: { branch: string; url: string | null; commit: string | null } | null;
  dryRun: boolean;
  /** Pinned but not deployed: a newer release held the dev host. */
  supersededBy: string | null;
  error: { name: string; message: string } | null;
  notified: boolean | null;
  /** What Argo CD last reported for it in production (prod feedback), when anything. */
  prod: ProdEntry | null;
  /** A rollback to `tag` (its recorded images pinned again), and what dev ran before it. */
  rollback: { from: string | null; requestedAt: string } | null;
}

export function toReleaseView(r: LedgerRecord): ReleaseView {
  const s = (r.summary ?? {}) as {
    images?: ReleaseView["images"];
    pullRequest?: ReleaseView["pullRequest"];
    deploy?: { dryRun?: boolean; superseded?: boolean; by?: string } | null;
    error?: ReleaseView["error"];
    notified?: boolean;
    rollback?: { from: string | null; requestedAt: string } | null;
  };
  const { tag, rollback } = parseLedgerTag(r.tag);
  const lead = r.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.claimedAt) : Number.NaN;
  return {
    app: r.app,
    tag,
    status: r.status,
    executionId: r.executionId,
    claimedAt: r.claimedAt,
    finishedAt: r.finishedAt ?? null,
    leadTimeMs: Number.isFinite(lead) && lead >= 0 ? lead : null,
    trigger: r.trigger,
    images: s.images ?? [],
    pullRequest: s.pullRequest ?? null,
    dryRun: s.deploy?.dryRun === true,
    supersededBy: s.deploy?.superseded === true ? (s.deploy.by ?? "a newer release") : null,
    error: s.error ?? null,
    notified: typeof s.notified === "boolean" ? s.notified : null,
    prod: r.prod ?? null,
    rollback: rollback ? (s.rollback ?? { from: null, requestedAt: r.claimedAt }) : null,
  };
}

/**
 * `pourover releases [<tag>]`: the local release record. Without a tag: what is on dev now per app
 * and every release with its lead time; with a tag: what that release contained.
 */
export async function releasesCommand(
  opts: { stateDir: string; app?: string; tag?: string; json: boolean },
  write: (text: string) => void,
): Promise<number> {
  const file = stateDirLayout(opts.stateDir).ledger;
  if (!existsSync(file)) {
    if (opts.tag) throw new InvalidInputError(`no local releases in ${opts.stateDir}`);
    write(
      opts.json
        ? `${JSON.stringify({ onDev: {}, releases: [] }, null, 2)}\n`
        : `no local releases in ${opts.stateDir}\n`,
    );
    return 0;
  }
  const ledger = new SqliteLedger(file);
  try {
    if (opts.tag) {
      const app = opts.app ?? "coffeeshop";
      // A rollback's own record is listed as such; `releases <tag>` shows the release itself.
      const record = await ledger.get(app, opts.tag);
      if (!record) throw new InvalidInputError(`no release ${app} ${opts.tag} in ${opts.stateDir}`);
      const view = toReleaseView(record);
      write(opts.json ? `${JSON.stringify(view, null, 2)}\n` : describeRelease(view));
      return 0;
    }
    const releases = ledger.list(opts.app).map(toReleaseView);
    const apps = opts.app ? [opts.app] : [...new Set(releases.map((r) => r.app))].sort();
    const onDev: Record<string, ReleaseView | null> = {};
    const inProd: Record<string, ReleaseView | null> = {};
    for (const app of apps) {
      const latest = await ledger.latestSucceeded(app);
      onDev[app] = latest ? toReleaseView(latest) : null;
      // What Argo CD last reported healthy in production (prod feedback), by the time it said so.
      inProd[app] =
        releases
          .filter((r) => r.app === app && r.prod?.status === "DEPLOYED")
          .sort((a, b) => (b.prod?.at ?? "").localeCompare(a.prod?.at ?? ""))[0] ?? null;
    }
    if (opts.json) {
      write(`${JSON.stringify({ onDev, inProd, releases }, null, 2)}\n`);
      return 0;
    }
    const lines: string[] = [];
    for (const app of apps) {
      const d = onDev[app];
      lines.push(
        d
          ? `${app} on dev now: ${d.tag} (${d.rollback ? `rolled back${d.rollback.from ? ` from ${d.rollback.from}` : ""}, ` : ""}finished ${d.finishedAt}, lead time ${lead(d)}${d.dryRun ? "; the dev deploy was a DRY RUN, nothing runs there" : ""})`
          : `${app} on dev now: nothing released successfully yet`,
      );
      const p = inProd[app];
      lines.push(
        p?.prod
          ? `${app} in prod now: ${p.tag} (Argo CD ${p.prod.argoApp} ${p.prod.health} at ${p.prod.at})`
          : `${app} in prod now: nothing reported by Argo CD yet`,
      );
    }
    if (releases.length === 0) lines.push("no releases recorded");
    else {
      lines.push(
        "",
        `${"APP".padEnd(14)}${"TAG".padEnd(12)}${"STATUS".padEnd(11)}${"CLAIMED".padEnd(26)}${"LEAD TIME".padEnd(11)}PR`,
      );
      for (const r of releases) {
        lines.push(
          `${r.app.padEnd(14)}${r.tag.padEnd(12)}${r.status.padEnd(11)}${r.claimedAt.padEnd(26)}${lead(r).padEnd(11)}${r.pullRequest ? `${r.pullRequest.branch}${r.pullRequest.commit ? ` @ ${r.pullRequest.commit.slice(0, 12)}` : ""}` : "-"}${r.prod ? `  prod: ${r.prod.status}` : ""}${deployNote(r) ? `  (${deployNote(r)})` : ""}`,
        );
      }
      lines.push("", "details: pourover releases <tag> [--app <name>] [--json]");
    }
    write(`${lines.join("\n")}\n`);
    return 0;
  } finally {
    ledger.close();
  }
}

/** How a SUCCEEDED release reached dev, when it did not really: never shown as deployed. */
function deployNote(r: ReleaseView): string | null {
  if (r.rollback) return `rollback${r.rollback.from ? ` from ${r.rollback.from}` : ""}`;
  if (r.supersededBy) return `superseded by ${r.supersededBy}, not deployed`;
  if (r.dryRun && r.status === "SUCCEEDED") return "dev deploy was a dry run";
  return null;
}

const lead = (r: ReleaseView) => (r.leadTimeMs === null ? "-" : formatDuration(r.leadTimeMs));

function describeRelease(r: ReleaseView): string {
  const t = r.trigger as { source?: string; pusher?: string; repository?: string; digest?: string };
  const lines = [
    `${r.app} ${r.tag}: ${r.status}${deployNote(r) ? ` (${deployNote(r)})` : ""}`,
    `  execution:  ${r.executionId}`,
    `  trigger:    ${t.source ?? "unknown"}${t.pusher ? ` by ${t.pusher}` : ""}${t.repository ? ` (${t.repository}${t.digest ? `@${t.digest}` : ""})` : ""}`,
    `  claimed:    ${r.claimedAt}`,
    `  finished:   ${r.finishedAt ?? "-"}`,
    `  lead time:  ${lead(r)} (claim to recorded outcome)`,
    ...(r.pullRequest
      ? [
          `  pull request: ${r.pullRequest.url ?? r.pullRequest.branch}${r.pullRequest.commit ? ` @ ${r.pullRequest.commit}` : ""}`,
        ]
      : []),
    ...(r.images.length
      ? [
          "  images:",
          ...r.images.map(
            (i) => `    ${i.service.padEnd(10)} ${i.repository}:${i.tag}${i.digest ? `@${i.digest}` : ""}`,
          ),
        ]
      : []),
    ...(r.prod
      ? [
          `  prod:       ${r.prod.status} (${r.prod.health}) at ${r.prod.at}, Argo CD ${r.prod.argoApp} @ ${r.prod.revision.slice(0, 12)}`,
        ]
      : []),
    ...(r.error ? [`  error: ${r.error.name}: ${r.error.message}`] : []),
    ...(r.notified === false ? ["  email: NOT sent (see the ledger's notificationError)"] : []),
  ];
  return `${lines.join("\n")}\n`;
}
