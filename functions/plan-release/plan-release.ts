import { type AppConfig, imageRepository } from "../../shared/contracts/app-config.js";
import { parseReleaseRequest, type ReleasePlan } from "../../shared/contracts/release.js";
import { InvalidInputError } from "../../shared/domain/errors.js";

/** Resolves what this release touches from the app config. Pure. */
export function planRelease(rawRequest: unknown, config: AppConfig): ReleasePlan {
  const request = parseReleaseRequest(rawRequest);
  if (request.app !== config.app) {
    throw new InvalidInputError(
      `release is for app "${request.app}" but this pipeline serves "${config.app}"`,
    );
  }
  const trigger = request.trigger;
  const services = config.services.map((service) => ({
    name: service.name,
    repository: imageRepository(config, service),
    ecrRepository: service.repository,
    tag: request.tag,
    dockerfile: service.dockerfile,
    context: service.context,
  }));
  if (trigger.source === "ecr" && !config.services.some((s) => s.repository === trigger.repository)) {
    throw new InvalidInputError(
      `ECR repository "${trigger.repository}" is not one of ${config.app}'s services`,
    );
  }
  const sourceVersion = trigger.source !== "ecr" && trigger.commit ? trigger.commit : request.tag;
  return {
    app: config.app,
    tag: request.tag,
    services,
    sourceRepo: `https://github.com/${config.source.repo}.git`,
    sourceVersion,
    scan: config.scan,
    scanEnv: {
      severity: config.scan.failOn.join(","),
      ignoreUnfixed: String(config.scan.ignoreUnfixed),
      allowIds: config.scan.allow.map((a) => a.id).join(","),
    },
    dev: {
      targets: Object.entries(config.dev.instanceTags).map(([key, value]) => ({
        Key: `tag:${key}`,
        Values: [value],
      })),
      composeFile: config.dev.composeFile,
      healthUrls: config.dev.healthUrls.join(" "),
      timeoutSeconds: config.dev.timeoutSeconds,
    },
  };
}
