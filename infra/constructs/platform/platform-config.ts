/**
 * The prod platform's config: the CDK context value `pourover:platform`, either a JSON object
 * (cdk.json or `-c 'pourover:platform={...}'`) or the path of a YAML/JSON file. Validated at synth:
 * every bad field is one line naming it.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import * as z from "zod";
import { zodProblems } from "../../../shared/contracts/zod-problems.js";
import { InvalidInputError } from "../../../shared/domain/errors.js";
import {
  DEFAULT_KUBERNETES_VERSION,
  KUBERNETES_VERSIONS,
  type KubernetesVersionName,
} from "./platform-versions.js";

export const PLATFORM_CONTEXT_KEY = "pourover:platform";

/** The example's Argo CD manifests: read at synth, never copied, so the repo keeps one source. */
export const DEFAULT_ARGOCD_DIR = fileURLToPath(
  new URL("../../../examples/coffeeshop/manifests/argocd/", import.meta.url),
);

const dnsName = z
  .string()
  .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, "must be a lowercase DNS name");
const k8sName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be a Kubernetes name (RFC 1123 label)");
const versionNames = Object.keys(KUBERNETES_VERSIONS) as [KubernetesVersionName, ...KubernetesVersionName[]];

/**
 * Datadog sites (the `site` value the Agent chart and the API host take): the API host is
 * `api.<site>` for each (Datadog's API reference lists one endpoint per site).
 */
export const DATADOG_SITES = [
  "datadoghq.com",
  "us3.datadoghq.com",
  "us5.datadoghq.com",
  "datadoghq.eu",
  "ap1.datadoghq.com",
  "ap2.datadoghq.com",
  "uk1.datadoghq.com",
  "ddog-gov.com",
  "us2.ddog-gov.com",
] as const;

/** Optional: the Datadog Agent, its API key from Secrets Manager, and the three monitors. */
const DatadogSchema = z.strictObject({
  site: z.enum(DATADOG_SITES).default("datadoghq.com"),
  /**
   * Secrets Manager secret whose SecretString is the API key (plain text). It must sit under
   * `<app>/prod/`: that is all External Secrets may read. @default `<app>/prod/datadog-api-key`
   */
  apiKeySecretName: z
    .string()
    .regex(/^[\w/+=.@-]{1,512}$/, "must be a Secrets Manager secret name")
    .optional(),
  /** Namespace of the app's workloads: the HPA and CPU monitors are scoped to it. */
  appNamespace: k8sName.default("coffeeshop"),
  monitors: z
    .strictObject({
      /** Datadog::Monitors::Monitor resources; needs the registry extension activated (docs). */
      enabled: z.boolean().default(true),
      /** Notification handles put in every monitor message, e.g. `@ops@example.com`, `@slack-ops`. */
      notify: z.array(z.string().regex(/^@[\w.+@-]+$/, "must be a Datadog @handle")).default([]),
      cpuPercentOfLimit: z.number().min(1).max(100).default(80),
    })
    .prefault({}),
});

export const PlatformConfigSchema = z
  .object({
    /** Names the stack (`Pourover-<app>-platform`), the cluster and the secrets prefix. */
    app: k8sName.default("coffeeshop"),
    hostedZone: z.strictObject({
      id: z.string().regex(/^Z[A-Z0-9]{1,31}$/, "must be a Route 53 hosted zone id (Z...)"),
      name: dnsName,
    }),
    /** The app's public host name, inside the hosted zone (a CNAME cannot sit at the apex). */
    appHost: dnsName,
    nodes: z
      .strictObject({
        instanceType: z
          .string()
          .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "must be an EC2 instance type like t3.large")
          .default("t3.large"),
        desiredSize: z.number().int().min(1).max(50).default(2),
        minSize: z.number().int().min(1).max(50).default(2),
        maxSize: z.number().int().min(1).max(50).default(4),
        diskGiB: z.number().int().min(20).max(1000).default(30),
      })
      .prefault({}),
    kubernetesVersion: z.enum(versionNames).default(DEFAULT_KUBERNETES_VERSION),
    /** IAM role or user given cluster admin through an EKS access entry. */
    adminPrincipalArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]+$/, "must be an IAM role or user ARN"),
    gitops: z.strictObject({
      repoUrl: z.string().regex(/^(https:\/\/|git@|ssh:\/\/)\S+$/, "must be an https or ssh git URL"),
      path: z.string().min(1).default("k8s"),
      targetRevision: z.string().min(1).default("main"),
      /** Directory holding the AppProject/Application YAML to bootstrap Argo CD with. */
      argocdManifestsDir: z.string().min(1).optional(),
    }),
    database: z
      .strictObject({
        instanceClass: z
          .string()
          .regex(/^(db\.)?[a-z][a-z0-9-]*\.[a-z0-9]+$/, "must be an RDS instance class like db.t4g.micro")
          .default("db.t4g.micro"),
        name: z
          .string()
          .regex(/^[a-z][a-z0-9_]{0,62}$/, "must be a PostgreSQL identifier")
          .default("coffeeshop"),
        username: z
          .string()
          .regex(/^[a-z][a-z0-9_]{0,15}$/, "must be a PostgreSQL user name")
          .default("coffeeshop"),
        allocatedStorageGiB: z.number().int().min(20).max(1000).default(20),
        backupRetentionDays: z.number().int().min(1).max(35).default(7),
        multiAz: z.boolean().default(false),
      })
      .prefault({}),
    /** Deletion protection on the cluster's database; destroy needs it turned off first. */
    deletionProtection: z.boolean().default(true),
    /** Grant the nodes SSM Session Manager so a person can port-forward to the database. */
    ssmPortForward: z.boolean().default(false),
    /** CIDRs allowed to reach the public Kubernetes API endpoint (IAM still authenticates). */
    apiAllowedCidrs: z
      .array(z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, "must be an IPv4 CIDR"))
      .min(1)
      .default(["0.0.0.0/0"]),
    clusterSecretStoreName: k8sName.default("aws-secrets-manager"),
    /** Off unless present: docs/prod-platform.md, "Datadog". */
    datadog: DatadogSchema.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.appHost === c.hostedZone.name || !c.appHost.endsWith(`.${c.hostedZone.name}`))
      ctx.addIssue({
        code: "custom",
        path: ["appHost"],
        message: `must be a sub-domain of ${c.hostedZone.name}`,
      });
    if (c.datadog?.apiKeySecretName && !c.datadog.apiKeySecretName.startsWith(`${c.app}/prod/`))
      ctx.addIssue({
        code: "custom",
        path: ["datadog", "apiKeySecretName"],
        message: `must start with ${c.app}/prod/ (External Secrets may read only that prefix)`,
      });
    if (c.nodes.minSize > c.nodes.desiredSize || c.nodes.desiredSize > c.nodes.maxSize)
      ctx.addIssue({
        code: "custom",
        path: ["nodes"],
        message: "must satisfy minSize <= desiredSize <= maxSize",
      });
  });

export type PlatformConfig = z.infer<typeof PlatformConfigSchema>;
export type DatadogConfig = NonNullable<PlatformConfig["datadog"]>;
export type DatadogSite = (typeof DATADOG_SITES)[number];

export function parsePlatformConfig(raw: unknown, source = PLATFORM_CONTEXT_KEY): PlatformConfig {
  const result = PlatformConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = zodProblems(result.error).map((p) => `${source}: ${p}`);
    throw new InvalidInputError(problems.join("\n"), problems);
  }
  return result.data;
}

/**
 * Reads the context value: an object, a JSON string (as `-c key={...}` gives), or a file path.
 * Returns undefined when unset: the platform is off by default.
 */
export function platformConfigFromContext(value: unknown): PlatformConfig | undefined {
  if (value === undefined || value === null || value === "" || value === false) return undefined;
  if (typeof value === "object") return parsePlatformConfig(value);
  if (typeof value !== "string")
    throw new InvalidInputError(`context "${PLATFORM_CONTEXT_KEY}" must be an object or a file path`);
  if (value.trimStart().startsWith("{")) {
    try {
      return parsePlatformConfig(JSON.parse(value));
    } catch (error) {
      if (error instanceof InvalidInputError) throw error;
      throw new InvalidInputError(`context "${PLATFORM_CONTEXT_KEY}": not valid JSON`);
    }
  }
  const path = resolve(value);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new InvalidInputError(`${path}: cannot read the platform config file`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (error) {
    throw new InvalidInputError(`${path}: not valid YAML: ${(error as Error).message.split("\n")[0]}`);
  }
  return parsePlatformConfig(raw, path);
}
