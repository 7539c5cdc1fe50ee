/**
 * Integration test on a real AWS account (integ-runner + @aws-cdk/integ-tests-alpha): deploys the
 * pipeline stack and a dev host for a one-service fixture app, refreshes the Trivy DB, starts a
 * release, and asserts that the execution succeeds through NotifySuccess with an email SES accepted.
 *
 * CI runs only the snapshot comparison (`npm run test:integ:snapshot`: synth, no deploy, no
 * credentials). A maintainer runs it for real with `npm run test:integ` (README, "Contract and
 * integration tests"); the inputs below come from POUROVER_INTEG_* variables, and their defaults are
 * the values the committed snapshot was made with.
 */
import { ExpectedResult, IntegTest, Match } from "@aws-cdk/integ-tests-alpha";
import { App, Duration, RemovalPolicy } from "aws-cdk-lib";
import { DevHostStack } from "../../infra/stacks/dev-host-stack.js";
import { PipelineStack } from "../../infra/stacks/pipeline-stack.js";
import { parseAppConfig } from "../../shared/contracts/app-config.js";

const env = (name: string, fallback: string) => process.env[`POUROVER_INTEG_${name}`] || fallback;

const APP = "pourover-integ";
const TAG = env("TAG", "v0.0.1");
const config = parseAppConfig(
  {
    app: APP,
    // A repository with a Dockerfile at its root and the tag above.
    source: { repo: env("SOURCE_REPO", "pourover-demo/hello") },
    registry: { accountId: env("ACCOUNT", "123456789012"), region: env("REGION", "us-east-1") },
    services: [{ name: "hello", repository: `${APP}/hello`, dockerfile: "Dockerfile" }],
    manifests: {
      // Holds docker-compose.yaml (service `hello`) and k8s/hello.yaml; the token below can push to it.
      repo: env("MANIFESTS_REPO", "pourover-demo/hello-gitops"),
      files: [
        { path: "k8s/hello.yaml", kind: "kubernetes" },
        { path: "docker-compose.yaml", kind: "compose" },
      ],
    },
    dev: {
      instanceTags: { "pourover:env": "integ", app: APP },
      composeFile: "docker-compose.yaml",
      healthUrls: ["http://localhost:8080/"],
    },
    // Both addresses must be verified SES identities while the account is in the SES sandbox.
    notify: { from: env("FROM", "releases@example.com"), to: [env("TO", "team@example.com")] },
  },
  "integ fixture",
);

const app = new App();
const pipeline = new PipelineStack(app, "PouroverInteg", {
  config,
  description: "Pourover integration test: pipeline for a one-service fixture app",
  dataRemovalPolicy: RemovalPolicy.DESTROY,
});
const devHost = new DevHostStack(app, "PouroverIntegDevHost", {
  config,
  artifactsBucket: pipeline.bucket,
  allowedCidr: env("ALLOWED_CIDR", "203.0.113.0/32"),
  description: "Pourover integration test: the dev host (SSM only)",
});
const githubCredentials = pipeline.githubCredentials;
const trivyDbRefresh = pipeline.trivyDbRefreshProject;

const integ = new IntegTest(app, "ReleaseToDev", {
  testCases: [pipeline, devHost],
  // CodeBuild and the dev host need a few minutes; the stacks are deleted after the run.
  cdkCommandOptions: { destroy: { args: { force: true } } },
});

// The GitHub token comes from a secret the maintainer created beforehand (never from the template).
const token = integ.assertions.awsApiCall("SecretsManager", "getSecretValue", {
  SecretId: env("GITHUB_TOKEN_SECRET", "pourover-integ/github-token"),
});
const fillCredentials = integ.assertions.awsApiCall("SecretsManager", "putSecretValue", {
  SecretId: githubCredentials.secretArn,
  SecretString: token.getAttString("SecretString"),
});

// Releases scan offline against the cached Trivy DB: refresh it first and wait for that build.
const refresh = integ.assertions.awsApiCall("CodeBuild", "startBuild", {
  projectName: trivyDbRefresh.projectName,
});
const refreshed = integ.assertions
  .awsApiCall("CodeBuild", "batchGetBuilds", { ids: [refresh.getAttString("build.id")] })
  .expect(
    ExpectedResult.objectLike({ builds: Match.arrayWith([Match.objectLike({ buildStatus: "SUCCEEDED" })]) }),
  )
  .waitForAssertions({ totalTimeout: Duration.minutes(20), interval: Duration.seconds(30) });

const start = integ.assertions.awsApiCall("StepFunctions", "startExecution", {
  stateMachineArn: pipeline.stateMachine.stateMachine.stateMachineArn,
  input: JSON.stringify({
    app: APP,
    tag: TAG,
    trigger: { source: "cli", pusher: "integ-runner" },
    force: true,
  }),
});
const finished = integ.assertions
  .awsApiCall("StepFunctions", "describeExecution", { executionArn: start.getAttString("executionArn") })
  .expect(
    ExpectedResult.objectLike({
      status: "SUCCEEDED",
      // The final state's input carries NotifySuccess's result: SES accepted the email (MessageId).
      output: Match.serializedJson(
        Match.objectLike({ notification: Match.objectLike({ messageId: Match.stringLikeRegexp(".+") }) }),
      ),
    }),
  )
  .waitForAssertions({ totalTimeout: Duration.minutes(75), interval: Duration.minutes(1) });
const history = integ.assertions
  .awsApiCall("StepFunctions", "getExecutionHistory", {
    executionArn: start.getAttString("executionArn"),
    reverseOrder: true,
    maxResults: 100,
  })
  .expect(
    ExpectedResult.objectLike({
      events: Match.arrayWith([
        Match.objectLike({
          type: "TaskStateExited",
          stateExitedEventDetails: Match.objectLike({ name: "NotifySuccess" }),
        }),
      ]),
    }),
  );

token.next(fillCredentials).next(refresh).next(refreshed).next(start).next(finished).next(history);

app.synth();
