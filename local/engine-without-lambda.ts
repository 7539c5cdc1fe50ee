/**
 * Stands in for `@aws-sdk/client-lambda` and `@aws-sdk/credential-providers` in the CLI's bundle
 * (esbuild `alias` in local/bin/pourover.js). aws-local-stepfunctions imports them to invoke a
 * Task's Lambda function when a run has no local handler for that state; every Task state of the
 * release workflow has one (local/task-handlers.ts), so they never run, yet they were about 300 KB
 * of the bundle and 40 ms of every start. A Task that reached them would fail here, saying why.
 */
const noLambda = (what: string) =>
  new Error(
    `${what}: the local engine invokes no AWS Lambda; every Task state needs a local handler (local/task-handlers.ts)`,
  );

export class LambdaClient {
  constructor() {
    throw noLambda("LambdaClient");
  }
}

export class InvokeCommand {}

export function fromCognitoIdentityPool(): never {
  throw noLambda("fromCognitoIdentityPool");
}
