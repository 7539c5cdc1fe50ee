import * as z from "zod";
import { InvalidInputError } from "../domain/errors.js";
import { zodProblems } from "./zod-problems.js";

/** The outcomes an email can report; keys of `notify.byOutcome`. */
export const NOTIFY_OUTCOMES = [
  "released",
  "scan-rejected",
  "build-failed",
  "manifest-update-failed",
  "dev-deploy-failed",
  "images-not-ready",
  "failed",
] as const;
export type NotifyOutcome = (typeof NOTIFY_OUTCOMES)[number];

type Primitives = ReturnType<typeof primitives>;

/** Field types several sections share. */
function primitives() {
  const name = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be lowercase letters, digits and dashes");
  const githubRepo = z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, "must be owner/name");
  const severity = z.enum(["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]);
  const relativePath = z
    .string()
    .min(1)
    .refine(
      (p) => !p.startsWith("/") && !p.split("/").includes(".."),
      "must be a relative path inside the repo",
    );

  return { name, githubRepo, severity, relativePath };
}

function serviceSchema({ name, relativePath }: Primitives) {
  return z.strictObject({
    name,
    /** ECR repository name, without the registry host. */
    repository: z.string().regex(/^[a-z0-9]+(?:[._/-][a-z0-9]+)*$/, "must be a valid ECR repository name"),
    dockerfile: relativePath,
    /** @default "." */
    context: z.string().default("."),
    /** Trivy report used locally when no scanner is on PATH; labelled as a sample in the output. */
    sampleScanReport: relativePath.optional(),
  });
}

/** `manifests`: the GitOps repo and the files pinned in it. */
function manifestsSchemas({ name, githubRepo, relativePath }: Primitives) {
  /**
   * Where a Helm values file holds one service's image. `path` is a dotted path into the values YAML
   * (`web.image`, `services.proxy.image`; a number selects a sequence item) and points at either
   * - a scalar image reference (`image: repo:tag`), edited like any other image value, or
   * - a map with `repository` and `tag` keys, optionally `digest` (and `registry`, joined in front of
   *   `repository` for matching), the other common chart convention.
   */
  const HelmImagePathSchema = z.strictObject({
    /** A service name from `services[]`. */
    service: name,
    path: z.string().regex(/^[^.]+(?:\.[^.]+)*$/, "must be a dotted path such as web.image"),
  });

  const ManifestFileSchema = z.discriminatedUnion("kind", [
    z.strictObject({
      path: relativePath,
      kind: z.enum(["kubernetes", "compose"]),
    }),
    z.strictObject({
      path: relativePath,
      kind: z.literal("helm"),
      /** The image locations in this values file. */
      imagePaths: z.array(HelmImagePathSchema).min(1),
    }),
  ]);

  const manifests = z.strictObject({
    repo: githubRepo,
    /** @default "main" */
    baseBranch: z.string().min(1).default("main"),
    /** How images are pinned. @default "tag+digest" */
    pin: z.enum(["tag+digest", "tag", "digest"]).default("tag+digest"),
    files: z.array(ManifestFileSchema).min(1),
    /** Folder (relative to the config file) holding a copy of the manifests repo, used to seed it locally. */
    localSeed: relativePath.optional(),
  });
  return { HelmImagePathSchema, ManifestFileSchema, manifests };
}

/** `dev`: the dev hosts and how a deploy there runs. */
function devSchema({ relativePath }: Primitives) {
  return z.strictObject({
    /** EC2 tags that select the dev hosts. */
    instanceTags: z.record(z.string().regex(/^[A-Za-z0-9_.:/=+@-]{1,128}$/), z.string().min(1)),
    /** Compose file (path in the manifests repo) the dev host runs. */
    composeFile: relativePath,
    healthUrls: z.array(z.url({ protocol: /^https?$/ })).default([]),
    /** Execution timeout of the dev deploy on each host; VerifyDev waits this long (plus delivery) before cancelling. @default 600 */
    timeoutSeconds: z.number().int().min(30).max(3600).default(600),
    /**
     * Secrets Manager secret holding the app's env file (e.g. `pourover/coffeeshop/dev-env`): the dev
     * host writes it to `envFile` (mode 0600) before `docker compose pull`. The dev host stack creates
     * it empty for the operator to fill. @default none (no env file is written)
     */
    envSecret: z
      .string()
      .regex(
        /^[A-Za-z0-9/_+=.@-]{1,512}$/,
        "must be a Secrets Manager secret name (letters, digits, /_+=.@-)",
      )
      .optional(),
    /** The env file's name in the compose project directory (the compose file's `env_file`). @default "<app>.env" */
    envFile: z
      .string()
      .regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/, "must be a file name such as coffeeshop.env")
      .optional(),
  });
}

/** `scan`: the gate on the Trivy reports. */
function scanSchemas({ severity }: Primitives) {
  const AllowListEntrySchema = z.strictObject({
    id: z.string().min(1),
    reason: z.string().min(1),
    /** ISO date (YYYY-MM-DD); the entry stops allowing the day after. */
    expires: z.iso.date(),
  });

  const scan = z
    .strictObject({
      /** @default ["CRITICAL","HIGH"] */
      failOn: z.array(severity).min(1).default(["CRITICAL", "HIGH"]),
      /** @default false */
      ignoreUnfixed: z.boolean().default(false),
      allow: z.array(AllowListEntrySchema).default([]),
    })
    .default({ failOn: ["CRITICAL", "HIGH"], ignoreUnfixed: false, allow: [] });
  return { AllowListEntrySchema, scan };
}

/** `notify`: who gets the release emails. */
function notifySchema() {
  return z.strictObject({
    from: z.email(),
    to: z.array(z.email()).min(1),
    /** Extra recipients for failures. @default [] */
    onFailure: z.array(z.email()).default([]),
    /** Extra recipients for one outcome only, e.g. `scan-rejected: [security@…]`. @default {} */
    byOutcome: z.partialRecord(z.enum(NOTIFY_OUTCOMES), z.array(z.email())).default({}),
  });
}

/** `build`: image builds in CodeBuild. */
function buildSchema() {
  return z
    .strictObject({
      /**
       * Docker Hub base images pulled through an ECR pull-through cache rule instead of from Docker
       * Hub (CodeBuild's shared IPs hit Docker Hub's pull rate limits). ECR authenticates to Docker
       * Hub with a Secrets Manager secret (`{"username","accessToken"}`) whose name starts with
       * `ecr-pullthroughcache/`, in the pipeline's account and region.
       */
      pullThroughCache: z
        .strictObject({
          upstream: z.literal("docker-hub"),
          /** ECR repository prefix the cached images live under. @default "docker-hub" */
          repositoryPrefix: z
            .string()
            .regex(
              /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/,
              "must be an ECR repository prefix such as docker-hub",
            )
            .min(2)
            .max(30)
            .default("docker-hub"),
          credentialArn: z
            .string()
            .regex(
              /^arn:aws(-\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr-pullthroughcache\/[a-zA-Z0-9/_+=.@-]+$/,
              "must be the ARN of a Secrets Manager secret whose name starts with ecr-pullthroughcache/",
            ),
        })
        .optional(),
    })
    .optional();
}

/**
 * The config's zod schemas, built on first use: zod v4 does much of a schema's work when it is
 * constructed, and this one is large (about 10 ms of CPU at a Lambda cold start on Node 24). A
 * bundled Lambda never needs it at run time (its config was parsed at synth, see
 * shared/config/lambda-env.ts); the local CLI and synth build it when they load a config file.
 */
function buildSchemas() {
  const p = primitives();
  const ServiceConfigSchema = serviceSchema(p);
  const { HelmImagePathSchema, ManifestFileSchema, manifests } = manifestsSchemas(p);
  const { AllowListEntrySchema, scan } = scanSchemas(p);
  const AppConfigSchema = z.strictObject({
    app: p.name,
    source: z.strictObject({
      repo: p.githubRepo,
    }),
    registry: z.strictObject({
      accountId: z.string().regex(/^\d{12}$/, "must be a 12-digit AWS account id"),
      region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be an AWS region such as us-east-1"),
    }),
    tagPolicy: z
      .strictObject({
        /** @default false */
        allowPrerelease: z.boolean().default(false),
      })
      .default({ allowPrerelease: false }),
    services: z
      .array(ServiceConfigSchema)
      .min(1)
      .refine((s) => new Set(s.map((x) => x.name)).size === s.length, "service names must be unique"),
    manifests,
    dev: devSchema(p),
    scan,
    notify: notifySchema(),
    /** Image builds in CodeBuild. */
    build: buildSchema(),
  });
  return {
    ServiceConfigSchema,
    HelmImagePathSchema,
    ManifestFileSchema,
    AllowListEntrySchema,
    AppConfigSchema,
    severity: p.severity,
  };
}

let schemas: ReturnType<typeof buildSchemas> | undefined;

/** The schemas of the app config (built once, on the first call). */
export function appConfigSchemas(): ReturnType<typeof buildSchemas> {
  schemas ??= buildSchemas();
  return schemas;
}

type Schemas = ReturnType<typeof buildSchemas>;
export type AppConfig = z.infer<Schemas["AppConfigSchema"]>;
export type ServiceConfig = z.infer<Schemas["ServiceConfigSchema"]>;
export type ScanPolicy = AppConfig["scan"];
export type Severity = z.infer<Schemas["severity"]>;

/** Validates a parsed config document; throws one InvalidInputError listing every problem by field. */
export function parseAppConfig(raw: unknown, source = "config"): AppConfig {
  const result = appConfigSchemas().AppConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = zodProblems(result.error).map((p) => `${source}: ${p}`);
    throw new InvalidInputError(problems.join("\n"), problems);
  }
  const services = new Set(result.data.services.map((s) => s.name));
  const unknown = result.data.manifests.files.flatMap((file, f) =>
    file.kind === "helm"
      ? file.imagePaths.flatMap((p, i) =>
          services.has(p.service)
            ? []
            : [
                `${source}: manifests.files[${f}].imagePaths[${i}].service: "${p.service}" is not one of services[].name`,
              ],
        )
      : [],
  );
  if (unknown.length > 0) throw new InvalidInputError(unknown.join("\n"), unknown);
  return result.data;
}

export function registryHost(config: AppConfig): string {
  return `${config.registry.accountId}.dkr.ecr.${config.registry.region}.amazonaws.com`;
}

export function imageRepository(config: AppConfig, service: ServiceConfig): string {
  return `${registryHost(config)}/${service.repository}`;
}
