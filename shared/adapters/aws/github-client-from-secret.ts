import { githubCredentialsFromSecret } from "../../contracts/secret-value.js";
import { createGithubClient, type GithubClient } from "../github/github-client.js";
import { GetSecretValueCommand, type SecretsManagerClient } from "./clients/secrets-manager.js";

/**
 * The GitHub client of the pipeline's credentials secret (a token or a GitHub App). The value is
 * parsed without ever being echoed: a malformed secret is an InvalidInputError naming the secret and
 * the expected shape only, since the message reaches the failure email.
 */
export async function githubClientFromSecret(
  secrets: Pick<SecretsManagerClient, "send">,
  secretArn: string,
): Promise<GithubClient> {
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }));
  return createGithubClient(githubCredentialsFromSecret(out.SecretString, secretArn));
}
