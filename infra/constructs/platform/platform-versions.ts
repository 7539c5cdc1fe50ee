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

export const CHARTS = {
  argoCd: { chart: "argo-cd", repository: "https://argoproj.github.io/argo-helm", version: "8.1.2" },
  externalSecrets: {
    chart: "external-secrets",
    repository: "https://charts.external-secrets.io",
    version: "0.18.2",
  },
  traefik: { chart: "traefik", repository: "https://traefik.github.io/charts", version: "36.3.0" },
  metricsServer: {
    chart: "metrics-server",
    repository: "https://kubernetes-sigs.github.io/metrics-server/",
    version: "3.12.2",
  },
} as const satisfies Record<string, PinnedChart>;

/** ESO serves `external-secrets.io/v1` from 0.17 on; `v1beta1` (what the seed used) is gone. */
export const EXTERNAL_SECRETS_API_VERSION = "external-secrets.io/v1";

export const POSTGRES_VERSION = rds.PostgresEngineVersion.VER_17_9;
