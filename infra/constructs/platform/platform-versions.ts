/**
 * Every version the prod platform installs, pinned in one place. Bump them here on purpose (read the
 * chart's changelog first): nothing floats, so a redeploy never upgrades a component by surprise.
 */
import { KubectlV36Layer } from "@aws-cdk/lambda-layer-kubectl-v36";
import { aws_eks as eks, aws_rds as rds } from "aws-cdk-lib";
import type { Construct } from "constructs";

/**
 * aws-cdk-lib 2.276 knows Kubernetes up to 1.37, but the newest kubectl layer published for
 * aws-eks is v36: the kubectl/helm the custom resources run must match the control plane's minor.
 */
export const KUBERNETES_VERSIONS = {
  "1.36": {
    version: eks.KubernetesVersion.V1_36,
    kubectlLayer: (scope: Construct, id: string) => new KubectlV36Layer(scope, id),
  },
} as const;
export type KubernetesVersionName = keyof typeof KUBERNETES_VERSIONS;
export const DEFAULT_KUBERNETES_VERSION: KubernetesVersionName = "1.36";

export interface PinnedChart {
  readonly chart: string;
  readonly repository: string;
  readonly version: string;
}

/**
 * Each pin checked against the chart's own repository (tags and Chart.yaml) and its project's
 * Kubernetes support table, for the Kubernetes version above (1.36):
 * - external-secrets 2.9.0: ESO's "Stability and Support" table lists ESO 2.9 for Kubernetes 1.36
 *   (0.18.x, pinned before, was tested on 1.33 only). Chart `kubeVersion: >= 1.19.0-0`.
 * - metrics-server 3.12.2 (metrics-server 0.7.2): its compatibility matrix gives 0.7.x for
 *   Kubernetes 1.27+.
 * - argo-cd 10.1.1 (Argo CD 3.4.4): NOT CONFIRMED for 1.36. Argo CD's tested-versions table lists
 *   3.4 on 1.32-1.35 and only 3.5 on 1.36, and no argo-cd chart shipping Argo CD 3.5 could be
 *   confirmed from here; 8.1.2 (Argo CD 3.0, pinned before) was tested on 1.29-1.32 only. Move to
 *   the first chart that ships Argo CD 3.5 once it is published. Chart `kubeVersion: >=1.25.0-0`.
 * - traefik 36.3.0 (Traefik 3.4.3): Traefik publishes no Kubernetes test matrix; the chart's
 *   `kubeVersion: >=1.22.0-0` admits 1.36. Newer majors (41.x) move `ports.<ep>.tls` under
 *   `ports.<ep>.http.tls` and validate values strictly: bump with the values.
 * - datadog 3.240.0 (Agent 7): optional, only with a `datadog` config section.
 */
export const CHARTS = {
  argoCd: { chart: "argo-cd", repository: "https://argoproj.github.io/argo-helm", version: "10.1.1" },
  externalSecrets: {
    chart: "external-secrets",
    repository: "https://charts.external-secrets.io",
    version: "2.9.0",
  },
  traefik: { chart: "traefik", repository: "https://traefik.github.io/charts", version: "36.3.0" },
  metricsServer: {
    chart: "metrics-server",
    repository: "https://kubernetes-sigs.github.io/metrics-server/",
    version: "3.12.2",
  },
} as const satisfies Record<string, PinnedChart>;

/** Installed only when the platform config has a `datadog` section (docs/prod-platform.md). */
export const DATADOG_CHART = {
  chart: "datadog",
  repository: "https://helm.datadoghq.com",
  version: "3.240.0",
} as const satisfies PinnedChart;

/**
 * Every chart is installed with `helm upgrade --install --wait --timeout`: the kubectl handler's
 * Lambda runs at most 15 minutes (aws-cdk-lib caps HelmChart.timeout there), so 10 minutes leaves
 * room for the kubeconfig and the chart download. With the kubectl v36 layer's Helm 4, a bare
 * `--wait` is the kstatus watcher: every object of the release (Deployments available, CRDs
 * established) must be ready before the custom resource completes.
 */
export const HELM_TIMEOUT_MINUTES = 10;

/** ESO serves `external-secrets.io/v1` from 0.17 on; `v1beta1` (what the seed used) is gone. */
export const EXTERNAL_SECRETS_API_VERSION = "external-secrets.io/v1";

export const POSTGRES_VERSION = rds.PostgresEngineVersion.VER_17_9;
