import { S3Client } from "@aws-sdk/client-s3";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import middy from "@middy/core";
import * as z from "zod";
import { S3ArtifactStore } from "../../shared/adapters/aws/s3-stores.js";
import { createGithubClient } from "../../shared/adapters/github/github-client.js";
import { GithubManifestRepository } from "../../shared/adapters/github/github-manifest-repository.js";
import { bundledAppConfig, requireEnv } from "../../shared/config/lambda-env.js";
import { executionConsoleUrl } from "../../shared/domain/console-url.js";
import { loggerFor, loggerMiddleware } from "../../shared/observability/logger.js";
import type { ManifestRepository } from "../../shared/ports/index.js";
import { updateManifests } from "./update-manifests.js";

const env = requireEnv("GITHUB_CREDENTIALS_SECRET_ARN", "ARTIFACTS_BUCKET_NAME");
const config = bundledAppConfig();
const secrets = new SecretsManagerClient({});
const artifacts = new S3ArtifactStore(new S3Client({}), env.ARTIFACTS_BUCKET_NAME);

const CredentialsSchema = z.union([
  z.object({ token: z.string().min(1) }),
  z.object({
    appId: z.coerce.string(),
    installationId: z.coerce.number().int(),
    privateKey: z.string().min(1),
  }),
]);

let repo: ManifestRepository | undefined;

/** Built on first use and kept warm: the App installation token is cached inside the client. */
async function manifestRepository(): Promise<ManifestRepository> {
  if (repo) return repo;
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: env.GITHUB_CREDENTIALS_SECRET_ARN }));
  const parsed = CredentialsSchema.safeParse(JSON.parse(out.SecretString ?? "{}"));
  // Never echo the secret: say only which shape was expected.
  if (!parsed.success)
    throw new Error('GitHub credentials secret must be {"token"} or {"appId","installationId","privateKey"}');
  const creds = parsed.data;
  const octokit = createGithubClient(
    "token" in creds ? { kind: "token", token: creds.token } : { kind: "app", ...creds },
  );
  const [owner = "", name = ""] = config.manifests.repo.split("/");
  repo = new GithubManifestRepository(octokit, { owner, repo: name });
  return repo;
}

export const handler = middy()
  .use(loggerMiddleware(loggerFor("pourover-update-manifests")))
  .handler(async (event: unknown) =>
    updateManifests(event, {
      config,
      repo: await manifestRepository(),
      artifacts,
      executionUrl: executionConsoleUrl,
    }),
  );
