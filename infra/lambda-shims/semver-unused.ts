/**
 * Stands in for `semver` in the Lambda bundles (esbuild `alias`). The only importer is the X-Ray
 * SDK's patcher for the AWS SDK v2 (`captureAWS`), which checks v2's version with it; the handlers
 * trace the v3 clients (`captureAWSv3Client`), so that patcher never runs. 28 KB of every bundle.
 * Should anything call it after all, it fails loudly rather than answer a version question wrongly.
 */
export function gte(): never {
  throw new Error("semver is not in the Lambda bundles (infra/lambda-shims/semver-unused.ts)");
}
