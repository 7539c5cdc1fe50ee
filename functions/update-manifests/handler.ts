import { S3Client } from "@aws-sdk/client-s3";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import middy from "@middy/core";
import { S3ArtifactStore } from "../../shared/adapters/aws/s3-stores.js";
import { createGithubClient } from "../../shared/adapters/github/github-client.js";
import { GithubManifestRepository } from "../../shared/adapters/github/github-manifest-repository.js";
import { GithubSourceHistory } from "../../shared/adapters/github/github-review.js";
import { bundledAppConfig, requireEnv } from "../../shared/config/lambda-env.js";
import { githubCredentialsFromSecret } from "../../shared/contracts/secret-value.js";
import { executionConsoleUrl } from "../../shared/domain/console-url.js";
import { loggerFor, loggerMiddleware } from "../../shared/observability/logger.js";
import type { ManifestRepository } from "../../shared/ports/index.js";
import type { SourceHistory } from "../../shared/ports/release-review.js";
import { updateManifests } from "./update-manifests.js";

const env = requireEnv("GITHUB_CREDENTIALS_SECRET_ARN", "ARTIFACTS_BUCKET_NAME");
const config = bundledAppConfig();
const secrets = new SecretsManagerClient({});
const artifacts = new S3ArtifactStore(new S3Client({}), env.ARTIFACTS_BUCKET_NAME);

let repo: ManifestRepository | undefined;
let history: SourceHistory | undefined;

/** Built on first use and kept warm: the App installation token is cached inside the client. */
async function manifestRepository(): Promise<ManifestRepository> {
  if (repo) return repo;
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: env.GITHUB_CREDENTIALS_SECRET_ARN }));
  // Parsed without ever echoing the value: a malformed secret is an InvalidInputError naming the
  // secret and the expected shape only (it reaches the failure email).
  const creds = githubCredentialsFromSecret(out.SecretString, env.GITHUB_CREDENTIALS_SECRET_ARN);
  const octokit = createGithubClient(creds);
  const [owner = "", name = ""] = config.manifests.repo.split("/");
  repo = new GithubManifestRepository(octokit, { owner, repo: name });
  // The changelog: one compare call on the source repository (the credentials must read it).
  history = new GithubSourceHistory(octokit, config.source.repo);
  return repo;
}

export const handler = middy()
  .use(loggerMiddleware(loggerFor("pourover-update-manifests")))
  .handler(async (event: unknown) =>
    updateManifests(event, {
      config,
      repo: await manifestRepository(),
      ...(history ? { history } : {}),
      artifacts,
      executionUrl: executionConsoleUrl,
    }),
  );
