/**
 * Datadog on the prod platform (only with a `datadog` section in the platform config): the Agent
 * by Helm with the Cluster Agent and the kube-state-metrics core check, its API key copied from
 * Secrets Manager by External Secrets (never in git, the template or a log), and the three monitors
 * the original deployment made by hand, as CloudFormation registry resources
 * (`Datadog::Monitors::Monitor`) in this stack.
 */
import { CfnResource, Duration, type aws_eks as eks } from "aws-cdk-lib";
import { Construct } from "constructs";
import type { DatadogConfig } from "./platform-config.js";
import { DATADOG_CHART, EXTERNAL_SECRETS_API_VERSION, HELM_TIMEOUT_MINUTES } from "./platform-versions.js";

export const DATADOG_NAMESPACE = "datadog";
/** The Kubernetes Secret External Secrets writes and the chart reads (`apiKeyExistingSecret`). */
export const DATADOG_API_KEY_K8S_SECRET = "datadog-api-key";
/** The chart reads the key under this name in that Secret (values.yaml, `apiKeyExistingSecret`). */
export const DATADOG_API_KEY_FIELD = "api-key";
export const DOGSTATSD_PORT = 8125;
/** CloudFormation registry type published by Datadog (activate it per account and region). */
export const DATADOG_MONITOR_TYPE = "Datadog::Monitors::Monitor";

export function datadogApiKeySecretName(app: string, config: DatadogConfig): string {
  return config.apiKeySecretName ?? `${app}/prod/datadog-api-key`;
}

/** Values for the `datadog/datadog` chart; no key material, only the Secret's name. */
export function datadogChartValues(config: DatadogConfig, clusterName: string, app: string) {
  return {
    datadog: {
      site: config.site,
      apiKeyExistingSecret: DATADOG_API_KEY_K8S_SECRET,
      clusterName,
      tags: [`app:${app}`, "env:prod"],
      // kubernetes_state_core runs in the Cluster Agent (no kube-state-metrics Deployment); the
      // legacy kubernetes_state check stays off: Datadog advises against running both.
      kubeStateMetricsEnabled: false,
      kubeStateMetricsCore: { enabled: true },
      collectEvents: true,
      // Traefik sends its metrics by DogStatsD to the Agent on its own node (hostPort 8125/UDP).
      dogstatsd: { port: DOGSTATSD_PORT, useHostPort: true, nonLocalTraffic: true },
    },
    clusterAgent: { enabled: true },
  };
}

/**
 * Traefik's own Datadog exporter, pointed at the node's Agent. Kubernetes expands `$(VAR)` in a
 * container's args from that container's env, and `status.hostIP` is the node's IP (downward API).
 * Traefik then emits `traefik.entrypoint.request.total` with the `code`, `method`, `protocol` and
 * `entrypoint` tags (Traefik metrics overview, Datadog tab, default prefix `traefik`).
 */
export function traefikDatadogValues() {
  return {
    metrics: {
      datadog: {
        address: `$(HOST_IP):${DOGSTATSD_PORT}`,
        addEntryPointsLabels: true,
        addServicesLabels: true,
        pushInterval: "10s",
      },
    },
    env: [{ name: "HOST_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } }],
  };
}

/** One monitor in the registry type's schema (PascalCase properties). */
export interface MonitorDefinition {
  readonly id: string;
  readonly properties: {
    Name: string;
    Type: "query alert";
    Query: string;
    Message: string;
    Tags: string[];
    Priority: number;
    Options: {
      Thresholds: { Critical: number };
      NotifyNoData: boolean;
      RequireFullWindow: boolean;
      IncludeTags: boolean;
      RenotifyInterval: number;
    };
  };
}

/**
 * The three monitors of the original deployment. Metric names, units and tags are the ones the
 * Agent documents: `kubernetes_state.hpa.{current,max}_replicas` (kubernetes_state_core, tags
 * `kube_namespace`, `horizontalpodautoscaler`); `kubernetes.cpu.usage.total` in nanocores and
 * `kubernetes.cpu.limits` in cores (kubelet check, pod tags such as `kube_deployment`);
 * `traefik.entrypoint.request.total` with `code` (Traefik's Datadog exporter).
 */
export function datadogMonitors(config: DatadogConfig, app: string): MonitorDefinition[] {
  const ns = `kube_namespace:${config.appNamespace}`;
  const notify = config.monitors.notify.join(" ");
  const message = (what: string, action: string) =>
    [
      `{{#is_alert}}${what}{{/is_alert}}`,
      `{{#is_recovery}}Recovered: ${what}{{/is_recovery}}`,
      action,
      notify,
    ]
      .filter(Boolean)
      .join("\n");
  const tags = [`app:${app}`, "env:prod", "managed-by:pourover"];
  const options = (critical: number) => ({
    Thresholds: { Critical: critical },
    NotifyNoData: false,
    RequireFullWindow: false,
    IncludeTags: true,
    RenotifyInterval: 60,
  });
  const cpu = config.monitors.cpuPercentOfLimit;
  return [
    {
      id: "HpaAtMaxMonitor",
      properties: {
        Name: `[${app} prod] HPA at max replicas`,
        Type: "query alert",
        // current - max >= 0 for the whole window: the HPA cannot scale out any further.
        Query:
          `min(last_5m):max:kubernetes_state.hpa.current_replicas{${ns}} by {horizontalpodautoscaler}` +
          ` - max:kubernetes_state.hpa.max_replicas{${ns}} by {horizontalpodautoscaler} >= 0`,
        Message: message(
          "HPA {{horizontalpodautoscaler.name}} has been at its maxReplicas for 5 minutes.",
          "Raise maxReplicas or add nodes; check the load and the CPU monitor.",
        ),
        Tags: tags,
        Priority: 2,
        Options: options(0),
      },
    },
    {
      id: "CpuOfLimitMonitor",
      properties: {
        Name: `[${app} prod] CPU above ${cpu}% of the limit`,
        Type: "query alert",
        // usage is in nanocores, limits in cores: scale the limits by 1e9 before dividing.
        Query:
          `avg(last_5m):sum:kubernetes.cpu.usage.total{${ns}} by {kube_deployment}` +
          ` / (sum:kubernetes.cpu.limits{${ns}} by {kube_deployment} * 1000000000) * 100 > ${cpu}`,
        Message: message(
          `Deployment {{kube_deployment.name}} uses more than ${cpu}% of its CPU limit.`,
          "Check the HPA and the pods' CPU limits.",
        ),
        Tags: tags,
        Priority: 3,
        Options: options(cpu),
      },
    },
    {
      id: "Http5xxMonitor",
      properties: {
        Name: `[${app} prod] HTTP 5xx at the ingress`,
        Type: "query alert",
        Query: "sum(last_5m):sum:traefik.entrypoint.request.total{code:5*} by {entrypoint}.as_count() > 0",
        Message: message(
          "Traefik answered HTTP 5xx on entry point {{entrypoint.name}} in the last 5 minutes.",
          "Check the app's pods and Traefik's logs.",
        ),
        Tags: tags,
        Priority: 2,
        Options: options(0),
      },
    },
  ];
}

export interface DatadogAgentProps {
  readonly cluster: eks.Cluster;
  readonly config: DatadogConfig;
  readonly app: string;
  readonly clusterName: string;
  readonly clusterSecretStoreName: string;
  /** The ExternalSecret is validated by ESO's webhook: it waits for the ESO release to be ready. */
  readonly externalSecretsChart: Construct;
  readonly secretStore: Construct;
}

export class DatadogAgent extends Construct {
  readonly chart: eks.HelmChart;
  readonly externalSecret: eks.KubernetesManifest;
  readonly monitors: CfnResource[];

  constructor(scope: Construct, id: string, props: DatadogAgentProps) {
    super(scope, id);
    const { cluster, config } = props;
    const namespace = cluster.addManifest("DatadogNamespace", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: DATADOG_NAMESPACE },
    });
    this.externalSecret = cluster.addManifest("DatadogApiKeyExternalSecret", {
      apiVersion: EXTERNAL_SECRETS_API_VERSION,
      kind: "ExternalSecret",
      metadata: { name: DATADOG_API_KEY_K8S_SECRET, namespace: DATADOG_NAMESPACE },
      spec: {
        refreshInterval: "1h",
        secretStoreRef: { kind: "ClusterSecretStore", name: props.clusterSecretStoreName },
        target: { name: DATADOG_API_KEY_K8S_SECRET, creationPolicy: "Owner" },
        data: [
          {
            secretKey: DATADOG_API_KEY_FIELD,
            remoteRef: { key: datadogApiKeySecretName(props.app, config) },
          },
        ],
      },
    });
    this.externalSecret.node.addDependency(namespace, props.externalSecretsChart, props.secretStore);

    this.chart = cluster.addHelmChart("Datadog", {
      ...DATADOG_CHART,
      release: "datadog",
      namespace: DATADOG_NAMESPACE,
      createNamespace: false,
      wait: true,
      timeout: Duration.minutes(HELM_TIMEOUT_MINUTES),
      values: datadogChartValues(config, props.clusterName, props.app),
    });
    // The Agent pods read the Secret at start: without it they never become ready and --wait fails.
    this.chart.node.addDependency(this.externalSecret);

    this.monitors = config.monitors.enabled
      ? datadogMonitors(config, props.app).map(
          (m) =>
            new CfnResource(this, m.id, {
              type: DATADOG_MONITOR_TYPE,
              properties: m.properties,
            }),
        )
      : [];
    // A monitor created before the Agent reports would sit in "no data"; create them after it.
    for (const monitor of this.monitors) monitor.node.addDependency(this.chart);
  }
}
