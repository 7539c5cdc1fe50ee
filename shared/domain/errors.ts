/**
 * Named errors. `name` is a string literal because the ASL's `ErrorEquals` matches on it and a
 * minifier must not be able to change it. `retryable` tells Retry policies and people apart from
 * terminal failures.
 */
export abstract class PouroverError extends Error {
  abstract override readonly name: string;
  readonly retryable: boolean = false;
}

/** The base of one named error: `class X extends named("X") {}` gives X the literal name "X". */
function named<N extends string>(name: N, options: { retryable?: boolean } = {}) {
  return class extends PouroverError {
    override readonly name: N = name;
    override readonly retryable = options.retryable ?? false;
  };
}

/** Bad input at the edge: a config file, a flag, a tag, a report, an event. Exit code 2 locally. */
export class InvalidInputError extends /* @__PURE__ */ named("InvalidInputError") {
  constructor(
    message: string,
    readonly problems: readonly string[] = [message],
  ) {
    super(message);
  }
}

/** The app#tag release was already claimed by another execution. Ends that execution as DUPLICATE. */
export class ReleaseAlreadyClaimedError extends /* @__PURE__ */ named("ReleaseAlreadyClaimedError") {}

/** At least one image failed the scan policy. Terminal: nothing is pushed or pinned. */
export class ScanPolicyRejectedError extends /* @__PURE__ */ named("ScanPolicyRejectedError") {}

/**
 * An ECR-triggered release waits for every service image of the tag: until they are all pushed this
 * is "running, retry after". When the retries run out, the message lists the missing images.
 */
export class ImagesNotReadyError extends /* @__PURE__ */ named("ImagesNotReadyError", { retryable: true }) {}

/** The scanner or the build crashed: not a verdict about vulnerabilities, and worth a retry. */
export class ScanFailedError extends /* @__PURE__ */ named("ScanFailedError", { retryable: true }) {}

/**
 * A CodeBuild build failed outside the scanner (clone, docker build, push): the message names the
 * service, the failed phase and the logs link. Not a vulnerability verdict.
 */
export class BuildFailedError extends /* @__PURE__ */ named("BuildFailedError") {}

/** A Trivy report that is not a Trivy report (wrong schema version, wrong shape). */
export class InvalidScanReportError extends /* @__PURE__ */ named("InvalidScanReportError") {}

/** The manifests branch or base moved while we were writing: rebuild from the new head. */
export class ManifestConflictError extends /* @__PURE__ */ named("ManifestConflictError", {
  retryable: true,
}) {}

/** A manifest already pins a newer version than this release. Terminal unless forced. */
export class VersionRegressionError extends /* @__PURE__ */ named("VersionRegressionError") {}

/** A manifest file could not be parsed or an expected file is missing. Terminal. */
export class ManifestInvalidError extends /* @__PURE__ */ named("ManifestInvalidError") {}

/** The dev deploy command is still running: "running, retry after" rather than sleeping. */
export class DevDeployInProgressError extends /* @__PURE__ */ named("DevDeployInProgressError", {
  retryable: true,
}) {}

/** The dev deploy failed on at least one host (health check, pull, compose). */
export class DevDeployFailedError extends /* @__PURE__ */ named("DevDeployFailedError") {}

/** No dev instance matched the configured tags. */
export class NoDevInstancesError extends /* @__PURE__ */ named("NoDevInstancesError") {}

/** The SSM agent of a dev host never received the command (Undeliverable, Delivery Timed Out): host stopped or agent offline. */
export class DevAgentOfflineError extends /* @__PURE__ */ named("DevAgentOfflineError") {}

/** The deploy ran past its timeout on a host, or was still running when the workflow stopped waiting. */
export class DevDeployTimedOutError extends /* @__PURE__ */ named("DevDeployTimedOutError") {}

/** The new release failed on a host (pull, up or health) and the host runs the previous release again. */
export class DevDeployRolledBackError extends /* @__PURE__ */ named("DevDeployRolledBackError") {}

/** The new release failed and restoring the previous one failed too: the host needs a person. */
export class DevDeployRollbackFailedError extends /* @__PURE__ */ named("DevDeployRollbackFailedError") {}

/**
 * The app's env secret (dev.envSecret) is missing, unreadable or empty on a dev host: the deploy
 * stopped before `docker compose pull`, nothing changed on the host. Fill the secret, release again.
 */
export class DevEnvSecretMissingError extends /* @__PURE__ */ named("DevEnvSecretMissingError") {}

/** Another execution's dev deploy holds the dev lock: "running, retry after". */
export class DevLockBusyError extends /* @__PURE__ */ named("DevLockBusyError", { retryable: true }) {}

/**
 * A dev host is stopped (and was just started), still booting, stopping, or its SSM agent is not
 * Online yet: "running, retry after". When the retries run out the message lists the hosts that
 * never came online.
 */
export class DevHostStartingError extends /* @__PURE__ */ named("DevHostStartingError", {
  retryable: true,
}) {}

/** Sending the email failed. Recorded, never fails the release. */
export class NotificationFailedError extends /* @__PURE__ */ named("NotificationFailedError", {
  retryable: true,
}) {}

/**
 * A rollback that cannot be done: the target was never released successfully, or its images are gone
 * from the registry. Terminal; the message is the one line the requester sees.
 */
export class RollbackRefusedError extends /* @__PURE__ */ named("RollbackRefusedError") {}

/**
 * Every error name the workflow may match on. The contract test checks that each `ErrorEquals`
 * entry of the ASL is here or is a `States.*` / service-integration name.
 */
export const NAMED_ERRORS = [
  "InvalidInputError",
  "ReleaseAlreadyClaimedError",
  "ImagesNotReadyError",
  "ScanPolicyRejectedError",
  "ScanFailedError",
  "BuildFailedError",
  "InvalidScanReportError",
  "ManifestConflictError",
  "VersionRegressionError",
  "ManifestInvalidError",
  "DevDeployInProgressError",
  "DevDeployFailedError",
  "NoDevInstancesError",
  "DevAgentOfflineError",
  "DevDeployTimedOutError",
  "DevDeployRolledBackError",
  "DevDeployRollbackFailedError",
  "DevEnvSecretMissingError",
  "DevLockBusyError",
  "DevHostStartingError",
  "NotificationFailedError",
] as const;

export type NamedError = (typeof NAMED_ERRORS)[number];
