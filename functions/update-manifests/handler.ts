import middy from "@middy/core";
import { firstUse } from "../../shared/adapters/first-use.js";
import { bundledAppConfig, requireEnv } from "../../shared/config/lambda-env.js";
import { executionConsoleUrl } from "../../shared/domain/console-url.js";
import { powertools } from "../../shared/observability/powertools.js";
import { updateManifests } from "./update-manifests.js";

const env = requireEnv("GITHUB_CREDENTIALS_SECRET_ARN", "ARTIFACTS_BUCKET_NAME");
const config = bundledAppConfig();

/**
 * Loaded and built on first use and kept warm: the App installation token is cached inside the
 * client. A failure (say, reading the secret) is retried by the next invocation.
 */
const adapters = firstUse(async () => {
  const [
    { S3Client },
    { SecretsManagerClient },
    { S3ArtifactStore },
    { githubClientFromSecret },
    { GithubManifestRepository },
    { GithubSourceHistory },
  ] = await Promise.all([
    import("../../shared/adapters/aws/clients/s3.js"),
    import("../../shared/adapters/aws/clients/secrets-manager.js"),
    import("../../shared/adapters/aws/s3-stores.js"),
    import("../../shared/adapters/aws/github-client-from-secret.js"),
    import("../../shared/adapters/github/github-manifest-repository.js"),
    import("../../shared/adapters/github/github-review.js"),
  ]);
  const octokit = await githubClientFromSecret(
    new SecretsManagerClient({}),
    env.GITHUB_CREDENTIALS_SECRET_ARN,
  );
  const [owner = "", name = ""] = config.manifests.repo.split("/");
  return {
    repo: new GithubManifestRepository(octokit, { owner, repo: name }),
    // The changelog: one compare call on the source repository (the credentials must read it).
    history: new GithubSourceHistory(octokit, config.source.repo),
    artifacts: new S3ArtifactStore(new S3Client({}), env.ARTIFACTS_BUCKET_NAME),
  };
});

export const handler = middy()
  .use(powertools("pourover-update-manifests").middleware)
  .handler(async (event: unknown) =>
    updateManifests(event, { config, ...(await adapters()), executionUrl: executionConsoleUrl }),
  );
