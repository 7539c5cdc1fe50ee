import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { beforeAll, describe, expect, it } from "vitest";
import { DATADOG_MONITOR_TYPE, datadogMonitors } from "../../infra/constructs/platform/datadog-agent.js";
import {
  type DatadogConfig,
  parsePlatformConfig,
  platformConfigFromContext,
} from "../../infra/constructs/platform/platform-config.js";
import { DATADOG_CHART } from "../../infra/constructs/platform/platform-versions.js";
import { PlatformStack } from "../../infra/stacks/platform-stack.js";
import { InvalidInputError } from "../../shared/domain/errors.js";
import { type Json, REPO_ROOT, resourcesOf, SYNTH_TIMEOUT_MS } from "./synth-helper.js";

const FIXTURES = join(REPO_ROOT, "test", "fixtures", "platform");
const NO_BUNDLING = { "aws:cdk:bundling-stacks": [] };

function synth(fixture: string) {
  const app = new App({ context: NO_BUNDLING, outdir: mkdtempSync(join(tmpdir(), "pourover-dd-")) });
  const config = platformConfigFromContext(join(FIXTURES, fixture));
  if (!config) throw new Error(`${fixture}: no config`);
  const stack = new PlatformStack(app, "Platform", { config });
  return { stack, template: Template.fromStack(stack) };
}

let withDd: { stack: PlatformStack; template: Template };
let without: { stack: PlatformStack; template: Template };
beforeAll(() => {
  withDd = synth("platform-datadog.yaml");
  without = synth("platform.yaml");
}, SYNTH_TIMEOUT_MS);

/** Values/Manifest JSON, with CloudFormation tokens rendered as "TOKEN". */
function json(v: Json): Json {
  if (typeof v === "string") return JSON.parse(v);
  const parts: Json[] = v["Fn::Join"][1];
  return JSON.parse(parts.map((p) => (typeof p === "string" ? p : "TOKEN")).join(""));
}
const charts = (t: Template) => resourcesOf(t, "Custom::AWSCDK-EKS-HelmChart");
const chartNamed = (t: Template, name: string) => charts(t).filter(([, r]) => r.Properties.Chart === name);
const k8sObjects = (t: Template) =>
  resourcesOf(t, "Custom::AWSCDK-EKS-KubernetesResource").flatMap(([id, r]) =>
    (json(r.Properties.Manifest) as Json[]).map((obj) => ({ id, resource: r, obj })),
  );

// ---------------------------------------------------------------- Datadog's metric-alert grammar
// From the Monitors API reference ("Metric Alert Query"):
//   time_aggr(time_window):space_aggr:metric{tags} [by {key}] operator #
// time_aggr avg|sum|max|min (change/pct_change use another form, not used here), time_window
// last_#m|last_#h|last_1d|last_1w, space_aggr avg|sum|min|max, tags comma-separated or *,
// operator < <= > >= == !=, # a number. Metric queries may be combined arithmetically.
interface MetricTerm {
  spaceAggr: string;
  metric: string;
  filters: string[];
  by: string[];
  modifier?: string;
}
interface ParsedQuery {
  timeAggr: string;
  window: string;
  terms: MetricTerm[];
  expression: string;
  operator: string;
  threshold: number;
}
const TERM =
  /(avg|sum|min|max):([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)\{([^{}]*)\}(?: by \{([^{}]*)\})?(\.as_count\(\)|\.as_rate\(\))?/g;

function parseMetricAlert(query: string): ParsedQuery {
  const head = /^(avg|sum|max|min)\((last_(?:\d+m|\d+h|1d|1w))\):(.+)$/.exec(query);
  if (!head) throw new Error(`not time_aggr(time_window):...: ${query}`);
  const [, timeAggr = "", window = "", rest = ""] = head;
  const tail = /^(.+?) (<=|>=|==|!=|<|>) (-?\d+(?:\.\d+)?)$/.exec(rest);
  if (!tail) throw new Error(`no "operator #" at the end: ${query}`);
  const [, expression = "", operator = "", threshold = ""] = tail;
  const terms: MetricTerm[] = [];
  const skeleton = expression.replace(TERM, (_m, spaceAggr, metric, tags, by, modifier) => {
    terms.push({
      spaceAggr,
      metric,
      filters: tags === "*" ? [] : String(tags).split(","),
      by: by ? String(by).split(",") : [],
      modifier,
    });
    return "Q";
  });
  // What is left between metric queries is arithmetic only.
  if (!/^[Q\d\s()+\-*/.]+$/.test(skeleton) || terms.length === 0)
    throw new Error(`not space_aggr:metric{tags} [by {key}] arithmetic: ${expression}`);
  let depth = 0;
  for (const c of skeleton) {
    depth += c === "(" ? 1 : c === ")" ? -1 : 0;
    if (depth < 0) throw new Error(`unbalanced parentheses: ${expression}`);
  }
  if (depth !== 0) throw new Error(`unbalanced parentheses: ${expression}`);
  for (const t of terms)
    for (const f of t.filters)
      if (!/^!?[a-z_][a-z0-9_.\-/]*:[^\s,:]+$/.test(f)) throw new Error(`bad tag filter ${f}`);
  return { timeAggr, window, terms, expression, operator, threshold: Number(threshold) };
}

/**
 * What the Agent documents it emits: metric → unit and tags.
 * - kubernetes_state_core: `kubernetes_state.hpa.{current,max}_replicas`, tags `kube_namespace`,
 *   `horizontalpodautoscaler`.
 * - Kubelet (Kubernetes Data Collected): `kubernetes.cpu.usage.total` shown as nanocore,
 *   `kubernetes.cpu.limits` shown as core; pod tags from the Agent's tag extraction
 *   (`kube_namespace`, `kube_deployment`, ...).
 * - Traefik's Datadog exporter: `entrypoint.request.total` (prefix `traefik`), labels `code`,
 *   `method`, `protocol`, `entrypoint`.
 */
const EMITTED: Record<string, { unit?: "nanocore" | "core"; tags: string[] }> = {
  "kubernetes_state.hpa.current_replicas": { tags: ["kube_namespace", "horizontalpodautoscaler"] },
  "kubernetes_state.hpa.max_replicas": { tags: ["kube_namespace", "horizontalpodautoscaler"] },
  "kubernetes.cpu.usage.total": { unit: "nanocore", tags: ["kube_namespace", "kube_deployment"] },
  "kubernetes.cpu.limits": { unit: "core", tags: ["kube_namespace", "kube_deployment"] },
  "traefik.entrypoint.request.total": { tags: ["code", "method", "protocol", "entrypoint"] },
};

describe("Datadog query grammar check (the test's own parser)", () => {
  it("accepts the documented example shape and rejects what breaks it", () => {
    expect(parseMetricAlert("avg(last_5m):avg:system.cpu.user{env:prod} by {host} > 80")).toMatchObject({
      timeAggr: "avg",
      window: "last_5m",
      operator: ">",
      threshold: 80,
      terms: [{ spaceAggr: "avg", metric: "system.cpu.user", filters: ["env:prod"], by: ["host"] }],
    });
    for (const bad of [
      "avg:system.cpu.user{*} > 1", // no time aggregation
      "avg(5m):avg:system.cpu.user{*} > 1", // window not last_#
      "avg(last_5m):p95:system.cpu.user{*} > 1", // not a space aggregator
      "avg(last_5m):avg:system.cpu.user{*} by host > 1", // by without braces
      "avg(last_5m):avg:system.cpu.user{*} >> 1", // not an operator
      "avg(last_5m):(avg:a.b{*} / avg:c.d{*} > 1", // unbalanced
    ])
      expect(() => parseMetricAlert(bad), bad).toThrow();
  });
});

describe("Datadog on the platform (datadog section present)", () => {
  it("installs datadog/datadog 3.x with the Cluster Agent, kubernetes_state_core, the configured site and the API key from a Secret", () => {
    const found = chartNamed(withDd.template, "datadog");
    expect(found).toHaveLength(1);
    const [[, chart]] = found as [[string, Json]];
    expect(chart.Properties).toMatchObject({
      Repository: DATADOG_CHART.repository,
      Version: DATADOG_CHART.version,
      Namespace: "datadog",
      Release: "datadog",
      Wait: true,
      Timeout: "600s",
    });
    expect(DATADOG_CHART.version).toMatch(/^3\.\d+\.\d+$/);
    const values = json(chart.Properties.Values);
    expect(values.clusterAgent.enabled).toBe(true);
    expect(values.datadog).toMatchObject({
      site: "datadoghq.eu",
      apiKeyExistingSecret: "datadog-api-key",
      clusterName: "coffeeshop-prod",
      kubeStateMetricsEnabled: false,
      kubeStateMetricsCore: { enabled: true },
      dogstatsd: { port: 8125, useHostPort: true, nonLocalTraffic: true },
    });
    // The key itself is never in the values: only the name of the Secret holding it.
    expect(values.datadog.apiKey).toBeUndefined();
    expect(values.datadog.appKey).toBeUndefined();
  });

  it("copies the API key from Secrets Manager with an ExternalSecret into the Secret and key the chart reads", () => {
    const [es] = k8sObjects(withDd.template).filter((o) => o.obj.kind === "ExternalSecret");
    expect(es).toBeDefined();
    const [[, chart]] = chartNamed(withDd.template, "datadog") as [[string, Json]];
    const values = json(chart.Properties.Values);
    expect(es?.obj).toMatchObject({
      apiVersion: "external-secrets.io/v1",
      metadata: { name: values.datadog.apiKeyExistingSecret, namespace: "datadog" },
      spec: {
        secretStoreRef: { kind: "ClusterSecretStore", name: "aws-secrets-manager" },
        target: { name: values.datadog.apiKeyExistingSecret },
        data: [{ secretKey: "api-key", remoteRef: { key: "coffeeshop/prod/datadog-api-key" } }],
      },
    });
    // Ordering: the ESO release and the store before the ExternalSecret, the Secret before the Agent.
    const [[esoId]] = chartNamed(withDd.template, "external-secrets") as [[string, Json]];
    const [store] = k8sObjects(withDd.template).filter((o) => o.obj.kind === "ClusterSecretStore");
    expect(es?.resource.DependsOn).toEqual(expect.arrayContaining([esoId, store?.id]));
    expect(chart.DependsOn).toContain(es?.id);
  });

  it("keeps the secret name inside what External Secrets may read", () => {
    const base = {
      hostedZone: { id: "Z123ABC", name: "example.org" },
      appHost: "shop.example.org",
      adminPrincipalArn: "arn:aws:iam::123456789012:role/Admin",
      gitops: { repoUrl: "https://github.com/acme/gitops" },
    };
    expect(() => parsePlatformConfig({ ...base, datadog: { apiKeySecretName: "shared/datadog" } })).toThrow(
      InvalidInputError,
    );
    expect(() => parsePlatformConfig({ ...base, datadog: { site: "datadoghq.example" } })).toThrow(
      /datadog\.site/,
    );
    const ok = parsePlatformConfig({ ...base, datadog: {} });
    expect(ok.datadog).toMatchObject({
      site: "datadoghq.com",
      monitors: { enabled: true, cpuPercentOfLimit: 80 },
    });
  });

  it("points Traefik's Datadog exporter at the node's Agent", () => {
    const [[, traefik]] = chartNamed(withDd.template, "traefik") as [[string, Json]];
    const values = json(traefik.Properties.Values);
    expect(values.metrics.datadog).toMatchObject({ address: "$(HOST_IP):8125", addEntryPointsLabels: true });
    expect(values.env).toEqual([
      { name: "HOST_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
    ]);
  });

  it("defines the three monitors, each query in Datadog's metric-alert grammar, on emitted metrics and tags, threshold == options.thresholds.critical", () => {
    const monitors = resourcesOf(withDd.template, DATADOG_MONITOR_TYPE).map(([, r]) => r);
    expect(monitors).toHaveLength(3);
    const byName = new Map<string, ParsedQuery>();
    for (const m of monitors) {
      const p = m.Properties;
      expect(p.Type).toBe("query alert");
      const q = parseMetricAlert(p.Query);
      expect(q.window).toBe("last_5m");
      expect(q.threshold, p.Name).toBe(p.Options.Thresholds.Critical);
      expect(p.Message).toContain("@ops@example.com");
      for (const t of q.terms) {
        const emitted = EMITTED[t.metric];
        expect(emitted, `${p.Name}: ${t.metric} is not a documented metric`).toBeDefined();
        for (const key of [...t.by, ...t.filters.map((f) => f.replace(/^!/, "").split(":")[0] ?? "")])
          expect(emitted?.tags, `${p.Name}: ${t.metric} has no tag ${key}`).toContain(key);
      }
      byName.set(p.Name, q);
    }
    const hpa = byName.get("[coffeeshop prod] HPA at max replicas");
    expect(hpa?.terms.map((t) => t.metric)).toEqual([
      "kubernetes_state.hpa.current_replicas",
      "kubernetes_state.hpa.max_replicas",
    ]);
    expect(hpa?.terms.every((t) => t.by.join() === "horizontalpodautoscaler")).toBe(true);
    expect(hpa?.expression).toMatch(/current_replicas\{[^}]*\} by \{horizontalpodautoscaler\} - max:/);
    expect(hpa).toMatchObject({ operator: ">=", threshold: 0 });

    const cpu = byName.get("[coffeeshop prod] CPU above 80% of the limit");
    expect(cpu).toMatchObject({ operator: ">", threshold: 80 });
    const [usage, limits] = cpu?.terms ?? [];
    expect(EMITTED[usage?.metric ?? ""]?.unit).toBe("nanocore");
    expect(EMITTED[limits?.metric ?? ""]?.unit).toBe("core");
    // nanocores / (cores * 1e9) * 100 is a percentage of the limit.
    expect(cpu?.expression.replace(/([a-z_])\{[^}]*\}/g, "$1{}")).toBe(
      "sum:kubernetes.cpu.usage.total{} by {kube_deployment} / (sum:kubernetes.cpu.limits{} by {kube_deployment} * 1000000000) * 100",
    );

    const http = byName.get("[coffeeshop prod] HTTP 5xx at the ingress");
    expect(http?.terms).toEqual([
      {
        spaceAggr: "sum",
        metric: "traefik.entrypoint.request.total",
        filters: ["code:5*"],
        by: ["entrypoint"],
        modifier: ".as_count()",
      },
    ]);
    expect(http).toMatchObject({ timeAggr: "sum", operator: ">", threshold: 0 });
  });

  it("scopes the HPA and CPU monitors to the app namespace and follows the configured CPU threshold", () => {
    const config: DatadogConfig = {
      site: "datadoghq.com",
      appNamespace: "shop",
      monitors: { enabled: true, notify: [], cpuPercentOfLimit: 65 },
    };
    const [hpa, cpu] = datadogMonitors(config, "shop").map((m) => parseMetricAlert(m.properties.Query));
    for (const q of [hpa, cpu])
      for (const t of q?.terms ?? []) expect(t.filters).toEqual(["kube_namespace:shop"]);
    const cpuMonitor = datadogMonitors(config, "shop")[1];
    expect(cpu?.threshold).toBe(65);
    expect(cpuMonitor?.properties.Options.Thresholds.Critical).toBe(65);
  });

  it("creates the monitors after the Agent is installed", () => {
    const [[chartId]] = chartNamed(withDd.template, "datadog") as [[string, Json]];
    for (const [id, m] of resourcesOf(withDd.template, DATADOG_MONITOR_TYPE))
      expect(m.DependsOn, id).toContain(chartId);
  });

  it("passes cdk-nag AwsSolutions with Datadog on", () => {
    const report = new AwsSolutionsChecks().validateScope(withDd.stack);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });
});

describe("the load test that fires the HPA monitor", () => {
  it("names the monitor it fires as it is defined, and needs the app host", () => {
    const dir = join(REPO_ROOT, "examples", "coffeeshop", "loadtest");
    const readme = readFileSync(join(dir, "README.md"), "utf8");
    const script = readFileSync(join(dir, "k6-hpa.js"), "utf8");
    const [hpa] = datadogMonitors(
      {
        site: "datadoghq.com",
        appNamespace: "coffeeshop",
        monitors: { enabled: true, notify: [], cpuPercentOfLimit: 80 },
      },
      "coffeeshop",
    );
    expect(readme).toContain(hpa?.properties.Name);
    expect(readme).toContain("k6 run -e BASE_URL=");
    // Holds the peak longer than the monitor's 5-minute window.
    expect(script).toMatch(/HOLD \|\| "(1[5-9]|[2-9]\d)m"/);
    expect(script).toMatch(/throw new Error\("set BASE_URL/);
  });
});

describe("Datadog absent from the platform config", () => {
  it("creates no Datadog chart, namespace, ExternalSecret, monitor or Traefik exporter", () => {
    expect(chartNamed(without.template, "datadog")).toHaveLength(0);
    expect(resourcesOf(without.template, DATADOG_MONITOR_TYPE)).toHaveLength(0);
    const objects = k8sObjects(without.template).map((o) => o.obj);
    expect(objects.filter((o) => o.kind === "ExternalSecret")).toHaveLength(0);
    expect(
      objects.filter((o) => o.metadata?.name === "datadog" || o.metadata?.namespace === "datadog"),
    ).toEqual([]);
    const [[, traefik]] = chartNamed(without.template, "traefik") as [[string, Json]];
    const values = json(traefik.Properties.Values);
    expect(values.metrics).toBeUndefined();
    expect(values.env).toBeUndefined();
    expect(JSON.stringify(without.template.toJSON())).not.toMatch(/datadog/i);
  });
});
