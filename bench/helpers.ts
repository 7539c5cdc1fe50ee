/**
 * Pure helpers of `npm run bench`: statistics, the table, the cost model and the generated
 * manifests. No I/O here, so test/unit/bench-helpers.test.ts can check them without timing anything.
 */

import { DEPLOYMENT_TEMPLATE } from "./deployment-template.js";

/** One line of the bench table (and of bench/results.json). */
export interface BenchRow {
  /** Which budget of docs/architecture.md (or which extra figure) this row is about. */
  what: string;
  /** The measured figure as printed; "n/a" when it could not be measured (see notes). */
  measured: string;
  /** The budget as printed; "-" when docs/architecture.md sets none for this row. */
  budget: string;
  /** What the figure is compared with, as printed; "-" when there is none. */
  baseline: string;
  /** measured / baseline (or baseline / measured for throughput), as printed; "-" when none. */
  ratio: string;
  /** true within budget, false over it, null when the row has no budget or was not measured. */
  within: boolean | null;
  /** Why a budget was missed, how a figure was obtained, and what was assumed rather than measured. */
  notes: string;
  /** Raw numbers behind the printed figures, for results.json. */
  data?: Record<string, unknown>;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function formatMs(ms: number): string {
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(1)} ms`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(2)} MB`;
  return `${(bytes / 1024).toFixed(1)} KB`;
}

/** `a / b` as "0.23x"; "-" when b is not a positive number. */
export function formatRatio(a: number, b: number): string {
  if (!(b > 0) || !Number.isFinite(a)) return "-";
  const r = a / b;
  return `${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`;
}

export function formatUsd(usd: number): string {
  if (usd === 0) return "$0";
  if (usd < 0.0001) return `$${usd.toExponential(2)}`;
  return `$${usd.toFixed(usd < 0.01 ? 5 : 4)}`;
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export function mark(within: boolean | null): string {
  return within === null ? "-" : within ? "✓" : "✗";
}

/** Display width of a string (the check marks and arrows are one column each). */
function width(s: string): number {
  return [...s].length;
}

function pad(s: string, n: number): string {
  return s + " ".repeat(Math.max(0, n - width(s)));
}

/**
 * The table, columns padded to their widest cell. `maxNotes` cuts long notes to keep lines
 * readable; the full notes are in results.json.
 */
export function formatTable(rows: readonly BenchRow[], maxNotes = 140): string {
  const header = ["what", "measured", "budget", "baseline", "ratio", "within budget?", "notes"];
  const cells = rows.map((r) => [
    r.what,
    r.measured,
    r.budget,
    r.baseline,
    r.ratio,
    mark(r.within),
    width(r.notes) > maxNotes ? `${[...r.notes].slice(0, maxNotes - 1).join("")}…` : r.notes,
  ]);
  const widths = header.map((h, i) => Math.max(width(h), ...cells.map((c) => width(c[i] as string))));
  const line = (c: string[]) =>
    c
      .map((v, i) => pad(v, widths[i] as number))
      .join(" | ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("-|-"), ...cells.map(line)].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Cost model (prices are the brief's list prices, us-east-1, on-demand)

export const PRICES = {
  /** Step Functions Standard: per state transition. */
  stepFunctionsPerTransition: 0.025 / 1000,
  /** Lambda arm64: per GB-second. */
  lambdaPerGbSecond: 0.0000133334,
  /** Lambda: per request. */
  lambdaPerRequest: 0.2 / 1_000_000,
  /** CodeBuild BUILD_GENERAL1_SMALL arm: per build minute. */
  codeBuildSmallArmPerMinute: 0.0034,
  /** GitHub Actions Linux 2-core runner: per minute. */
  githubActionsLinux2CorePerMinute: 0.008,
} as const;

export interface LambdaInvocation {
  /** State name, e.g. EvaluateScan. */
  state: string;
  memoryMb: number;
  durationMs: number;
}

export interface CostEstimate {
  stepFunctions: number;
  lambdaCompute: number;
  lambdaRequests: number;
  lambdaGbSeconds: number;
  codeBuild: number;
  total: number;
  githubActions: number;
}

/**
 * Cost of one release. Transitions and per-state durations are measured (locally: an upper bound
 * of what the same core costs in Lambda, billed per 1 ms); build minutes per service are assumed.
 */
export function estimateReleaseCost(input: {
  transitions: number;
  lambdas: readonly LambdaInvocation[];
  services: number;
  buildMinutesPerService: number;
}): CostEstimate {
  const stepFunctions = input.transitions * PRICES.stepFunctionsPerTransition;
  const lambdaGbSeconds = input.lambdas.reduce(
    (sum, l) => sum + (l.memoryMb / 1024) * (Math.max(1, Math.ceil(l.durationMs)) / 1000),
    0,
  );
  const lambdaCompute = lambdaGbSeconds * PRICES.lambdaPerGbSecond;
  const lambdaRequests = input.lambdas.length * PRICES.lambdaPerRequest;
  const buildMinutes = input.services * input.buildMinutesPerService;
  const codeBuild = buildMinutes * PRICES.codeBuildSmallArmPerMinute;
  return {
    stepFunctions,
    lambdaCompute,
    lambdaRequests,
    lambdaGbSeconds,
    codeBuild,
    total: stepFunctions + lambdaCompute + lambdaRequests + codeBuild,
    githubActions: buildMinutes * PRICES.githubActionsLinux2CorePerMinute,
  };
}

/**
 * Memory of the Lambda behind each Task state of release.asl.json, as infra/stacks/pipeline-stack.ts
 * sets it (the construct's default is 256 MB; evaluate-scan and update-manifests get 512 MB).
 * States absent here are not Lambdas (CodeBuild, SSM).
 */
export const LAMBDA_MEMORY_BY_STATE: Readonly<Record<string, number>> = {
  ClaimRelease: 256,
  PlanRelease: 256,
  EvaluateScan: 512,
  GateOnScan: 256,
  UpdateManifests: 512,
  VerifyDev: 256,
  NotifySuccess: 256,
  NotifyFailure: 256,
  RecordOutcome: 256,
};

/** The Lambda invocations of a local release timeline (the states a Lambda would run). */
export function lambdaInvocations(
  states: readonly { name: string; durationMs: number }[],
  memoryByState: Readonly<Record<string, number>> = LAMBDA_MEMORY_BY_STATE,
): LambdaInvocation[] {
  return states.flatMap((s) => {
    const memoryMb = memoryByState[s.name];
    return memoryMb === undefined ? [] : [{ state: s.name, memoryMb, durationMs: s.durationMs }];
  });
}

// ---------------------------------------------------------------------------------------------
// Generated manifests

export const BENCH_REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/**
 * A ~100-line Deployment with several containers whose image lines are all written from `ref` (the
 * release image, as it should read after the edit) except those that must never change: a sidecar
 * whose repository name merely starts with the release repository (`<repo>-canary`), an unrelated
 * exporter, a commented-out image and an env value that holds an image-like string.
 *
 * `editableRef` is what the three editable image values read; pass the old reference to get the
 * file before the edit and the new one to get what a correct edit yields.
 */
export function benchDeployment(index: number, repository: string, editableRef: string): string {
  const values: Record<string, string> = {
    name: `svc-${String(index).padStart(4, "0")}`,
    team: String(index % 7),
    repository,
    editableRef,
  };
  return DEPLOYMENT_TEMPLATE.replace(/\{\{(\w+)\}\}/g, (_, key: string) => values[key] ?? "");
}

/** Indexes (0-based) of the lines that differ between two texts of the same number of lines. */
export function differingLines(a: string, b: string): number[] {
  const la = a.split("\n");
  const lb = b.split("\n");
  const out: number[] = [];
  for (let i = 0; i < Math.max(la.length, lb.length); i++) if (la[i] !== lb[i]) out.push(i);
  return out;
}

/** True when every differing line is an `image:` line (comments excluded). */
export function onlyImageLinesDiffer(before: string, after: string): boolean {
  const lines = before.split("\n");
  if (lines.length !== after.split("\n").length) return false;
  return differingLines(before, after).every((i) => /^\s*(-\s+)?image:/.test(lines[i] ?? ""));
}

// ---------------------------------------------------------------------------------------------
// A generated app of N services (config + manifests seed), for the local release at scale

export function benchServiceName(i: number): string {
  return `svc${String(i + 1).padStart(2, "0")}`;
}

export function benchRepository(i: number): string {
  return `bench-${benchServiceName(i)}`;
}

/** A compose file with one service per app service, image at `tag`. */
export function benchCompose(services: number, tag: string): string {
  const out = ["name: bench", "", "services:"];
  for (let i = 0; i < services; i++) {
    out.push(
      `  ${benchServiceName(i)}:`,
      `    image: ${BENCH_REGISTRY}/${benchRepository(i)}:${tag}`,
      "    environment:",
      `      APP_NAME: ${benchServiceName(i)}`,
      "",
    );
  }
  return out.join("\n");
}

/** The example's web deployment shape, one per generated service. */
export function benchServiceDeployment(i: number, tag: string): string {
  const name = benchServiceName(i);
  return [
    "apiVersion: apps/v1",
    "kind: Deployment",
    "metadata:",
    `  name: ${name}`,
    "spec:",
    "  selector:",
    "    matchLabels:",
    `      app.kubernetes.io/name: ${name}`,
    "  template:",
    "    metadata:",
    "      labels:",
    `        app.kubernetes.io/name: ${name}`,
    "    spec:",
    "      containers:",
    `        - name: ${name}`,
    `          image: ${BENCH_REGISTRY}/${benchRepository(i)}:${tag} # pinned by Pourover`,
    "          ports:",
    "            - containerPort: 8080",
    "",
  ].join("\n");
}

/**
 * A pourover.config.yaml of `services` services; service i reuses sample report
 * `reports[i % reports.length]` (paths relative to the config's folder).
 */
export function benchConfigYaml(services: number, reports: readonly string[]): string {
  const out = [
    "app: bench",
    "source:",
    "  repo: bench-org/bench-app",
    "registry:",
    '  accountId: "123456789012"',
    "  region: us-east-1",
    "services:",
  ];
  for (let i = 0; i < services; i++) {
    out.push(
      `  - name: ${benchServiceName(i)}`,
      `    repository: ${benchRepository(i)}`,
      `    dockerfile: docker/Dockerfile-${benchServiceName(i)}`,
      "    context: .",
      `    sampleScanReport: ${reports[i % reports.length]}`,
    );
  }
  out.push(
    "manifests:",
    "  repo: bench-org/bench-gitops",
    "  baseBranch: main",
    "  pin: tag+digest",
    "  localSeed: manifests",
    "  files:",
    "    - { path: docker-compose.yml, kind: compose }",
  );
  for (let i = 0; i < services; i++) {
    out.push(`    - { path: k8s/${benchServiceName(i)}/deployment.yaml, kind: kubernetes }`);
  }
  out.push(
    "dev:",
    "  instanceTags:",
    "    Environment: dev",
    "    App: bench",
    "  composeFile: docker-compose.yml",
    "  healthUrls:",
    "    - http://localhost:8080/",
    "  timeoutSeconds: 600",
    "scan:",
    "  failOn: [CRITICAL, HIGH]",
    "  ignoreUnfixed: false",
    "  allow: []",
    "notify:",
    "  from: releases@example.com",
    "  to: [dev-team@example.com]",
    "  onFailure: [oncall@example.com]",
    "",
  );
  return out.join("\n");
}
