import middy from "@middy/core";
import { firstUse } from "../../shared/adapters/first-use.js";
import { bundledAppConfig, requireEnv } from "../../shared/config/lambda-env.js";
import { executionConsoleUrl } from "../../shared/domain/console-url.js";
import { powertools } from "../../shared/observability/powertools.js";
import { reportDevResult } from "./report-dev-result.js";

const env = requireEnv("GITHUB_CREDENTIALS_SECRET_ARN");
const config = bundledAppConfig();

/** Loaded and built on first use and kept warm: the App installation token is cached inside the client. */
const pullRequestReporter = firstUse(async () => {
  const [{ SecretsManagerClient }, { githubClientFromSecret }, { GithubPullRequestReporter }] =
    await Promise.all([
      import("../../shared/adapters/aws/clients/secrets-manager.js"),
      import("../../shared/adapters/aws/github-client-from-secret.js"),
      import("../../shared/adapters/github/github-review.js"),
    ]);
  const octokit = await githubClientFromSecret(
    new SecretsManagerClient({}),
    env.GITHUB_CREDENTIALS_SECRET_ARN,
  );
  return new GithubPullRequestReporter(octokit, config.manifests.repo);
});

export const handler = middy()
  .use(powertools("pourover-report-dev-result").middleware)
  .handler(async (event: unknown) =>
    reportDevResult(event, {
      reporter: await pullRequestReporter(),
      executionUrl: executionConsoleUrl,
    }),
  );
