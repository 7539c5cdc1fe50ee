/**
 * What happened to a release, in the words of its email: which outcome (`notify.byOutcome`'s
 * vocabulary), a headline, what happened, what to do next, and the blocks that show it. Rendering
 * those into text and HTML is release-email.ts's job.
 */
import type { NotifyOutcome } from "../contracts/app-config.js";
import type { ReleaseState } from "../contracts/release-state.js";
import { describeError } from "../contracts/release-state.js";
import type { Block, Cell } from "./email-blocks.js";

export interface OutcomeView {
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

export function classify(r: ReleaseState, region?: string): OutcomeView {
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

/** s3:// reports link to the S3 console; file:// (local) reports are linked as they are. */
export function reportLink(uri: string, region: string | undefined): Cell {
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
