/**
 * Stands in for `@aws-sdk/credential-provider-node` in the Lambda bundles (esbuild `alias`, see
 * infra/constructs/lambda-bundling.ts). Lambda hands a function its execution role's credentials
 * in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (Lambda developer guide,
 * "Defined runtime environment variables": the access keys obtained from the function's execution
 * role), and the SDK's default chain
 * takes them from there, its first link. The other links (SSO, STS web identity, the ini files,
 * credential_process, container and instance metadata) never run in Lambda, yet they are most of
 * the bytes of every bundle: about a fifth of the webhook's.
 */
// fromEnv(init) takes the same init (it reads its logger) and reads the variables at each call.
export { fromEnv as defaultProvider } from "@aws-sdk/credential-provider-env";
