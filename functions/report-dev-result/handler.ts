import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import middy from "@middy/core";
import { createGithubClient } from "../../shared/adapters/github/github-client.js";
import { GithubPullRequestReporter } from "../../shared/adapters/github/github-review.js";
import { bundledAppConfig, requireEnv } from "../../shared/config/lambda-env.js";
import { githubCredentialsFromSecret } from "../../shared/contracts/secret-value.js";
import { executionConsoleUrl } from "../../shared/domain/console-url.js";
import { loggerFor, loggerMiddleware } from "../../shared/observability/logger.js";
import type { PullRequestReporter } from "../../shared/ports/release-review.js";
import { reportDevResult } from "./report-dev-result.js";

const env = requireEnv("GITHUB_CREDENTIALS_SECRET_ARN");
const config = bundledAppConfig();
const secrets = new SecretsManagerClient({});
let reporter: PullRequestReporter | undefined;

async function pullRequestReporter(): Promise<PullRequestReporter> {
  if (reporter) return reporter;
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: env.GITHUB_CREDENTIALS_SECRET_ARN }));
  const creds = githubCredentialsFromSecret(out.SecretString, env.GITHUB_CREDENTIALS_SECRET_ARN);
  reporter = new GithubPullRequestReporter(createGithubClient(creds), config.manifests.repo);
  return reporter;
}

export const handler = middy()
  .use(loggerMiddleware(loggerFor("pourover-report-dev-result")))
  .handler(async (event: unknown) =>
    reportDevResult(event as Parameters<typeof reportDevResult>[0], {
      reporter: await pullRequestReporter(),
      executionUrl: executionConsoleUrl,
    }),
  );
