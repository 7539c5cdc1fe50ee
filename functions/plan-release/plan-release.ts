import { type AppConfig, imageRepository } from "../../shared/contracts/app-config.js";
import {
  type PlannedService,
  parseReleaseRequest,
  type ReleasePlan,
  type ReleaseRequest,
} from "../../shared/contracts/release.js";
import { ImagesNotReadyError, InvalidInputError } from "../../shared/domain/errors.js";
import { type ImagePresence, planRollback } from "../../shared/domain/rollback.js";
import type { ImageRegistry, ReleaseLedger } from "../../shared/ports/index.js";

/**
 * Resolves what this release touches from the app config. A tag release builds every service; an
 * ECR-triggered release scans the pushed images by digest, and waits (ImagesNotReadyError, retried
 * by the workflow) until every service image of the tag is in the registry.
 */
export async function planRelease(
  rawRequest: unknown,
  config: AppConfig,
  deps: {
    registry: ImageRegistry;
    /** What a rollback needs: the ledger record of its target, and whether its images still exist. */
    rollback?: { ledger: Pick<ReleaseLedger, "get">; images: ImagePresence };
  },
): Promise<ReleasePlan> {
  const request = parseReleaseRequest(rawRequest);
  if (request.app !== config.app) {
    throw new InvalidInputError(
      `release is for app "${request.app}" but this pipeline serves "${config.app}"`,
    );
  }
  const trigger = request.trigger;
  let services: PlannedService[] = config.services.map((service) => ({
    name: service.name,
    repository: imageRepository(config, service),
    ecrRepository: service.repository,
    tag: request.tag,
    dockerfile: service.dockerfile,
    context: service.context,
  }));
  if (trigger.source === "ecr")
    services = await pinPushedImages(config, request.tag, trigger, services, deps);
  if (request.rollback) {
    if (!deps.rollback) throw new InvalidInputError("this pipeline was deployed without rollback support");
    services = await planRollback(config.app, request.tag, services, deps.rollback);
  }
  const sourceVersion = trigger.source !== "ecr" && trigger.commit ? trigger.commit : request.tag;
  return {
    app: config.app,
    tag: request.tag,
    services,
    sourceRepo: `https://github.com/${config.source.repo}.git`,
    sourceVersion,
    scan: config.scan,
    rollback: request.rollback
      ? { from: request.rollback.from, requestedAt: request.rollback.requestedAt }
      : null,
    scanEnv: {
      severity: config.scan.failOn.join(","),
      ignoreUnfixed: String(config.scan.ignoreUnfixed),
      allowIds: config.scan.allow.map((a) => a.id).join(","),
    },
    dev: devPlan(config),
  };
}

type EcrTrigger = Extract<ReleaseRequest["trigger"], { source: "ecr" }>;

/**
 * An ECR-triggered release scans the pushed images by digest: the pushed one from the event, the
 * others from the registry. Until every service image of the tag is there: ImagesNotReadyError.
 */
async function pinPushedImages(
  config: AppConfig,
  tag: string,
  trigger: EcrTrigger,
  planned: PlannedService[],
  deps: { registry: ImageRegistry },
): Promise<PlannedService[]> {
  if (!config.services.some((s) => s.repository === trigger.repository)) {
    throw new InvalidInputError(
      `ECR repository "${trigger.repository}" is not one of ${config.app}'s services`,
    );
  }
  const services = await Promise.all(
    planned.map(async (s) => ({
      ...s,
      digest:
        s.ecrRepository === trigger.repository
          ? trigger.digest
          : ((await deps.registry.digestOf(s.ecrRepository, tag)) ?? ""),
    })),
  );
  const missing = services.filter((s) => !s.digest).map((s) => `${s.ecrRepository}:${tag}`);
  if (missing.length > 0) {
    throw new ImagesNotReadyError(
      `waiting for ${missing.length} of ${services.length} images of ${tag}: ${missing.join(", ")}`,
    );
  }
  return services;
}

/** Where and how the dev deploy goes: the SSM targets, the EC2 filters of the wake loop, the compose file. */
function devPlan(config: AppConfig): ReleasePlan["dev"] {
  return {
    targets: Object.entries(config.dev.instanceTags).map(([key, value]) => ({
      Key: `tag:${key}`,
      Values: [value],
    })),
    // The same selection as EC2 DescribeInstances filters (Name, not Key) for WakeDevHost, with
    // every instance state but terminated: recently terminated instances may still be listed.
    instanceFilters: [
      ...Object.entries(config.dev.instanceTags).map(([key, value]) => ({
        Name: `tag:${key}`,
        Values: [value],
      })),
      {
        Name: "instance-state-name",
        Values: ["pending", "running", "stopping", "stopped", "shutting-down"],
      },
    ],
    composeFile: config.dev.composeFile,
    healthUrls: config.dev.healthUrls.join(" "),
    timeoutSeconds: config.dev.timeoutSeconds,
  };
}
