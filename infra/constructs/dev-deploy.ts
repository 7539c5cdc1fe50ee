import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as s3 from "aws-cdk-lib/aws-s3";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as ssm from "aws-cdk-lib/aws-ssm";
import { Construct } from "constructs";
import { parse as parseYaml } from "yaml";
import { TAG_PATTERN } from "../../shared/contracts/release.js";
import { keepLogicalId } from "./logical-ids.js";
import type { PouroverFunction, PouroverFunctionProps } from "./pourover-function.js";
import { DEFAULT_LOG_RETENTION, type PouroverSiteProps } from "./pourover-function.js";
import { pipelineFunction } from "./release-functions.js";
import { ACCOUNT_REGISTRY } from "./release-storage.js";

/** The parameters of the dev deploy document, each with a pattern that admits no shell syntax. */
export const DEPLOY_PARAMETER_PATTERNS = {
  /** config.app: lowercase letters, digits and dashes. */
  App: "^[a-z0-9][a-z0-9-]{0,62}$",
  /** The tag policy itself (TAG_PATTERN): a v-prefixed semantic version, no build metadata. */
  Tag: TAG_PATTERN.source,
  /** An S3 key under releases/, no `..` segment. */
  ComposeObject: "^(?!.*\\.\\.)releases/[A-Za-z0-9._/-]{1,900}$",
  /** Empty, or http(s) URLs separated by single spaces; no quotes, `$`, `;`, `&`, `|`, parentheses, backticks. */
  HealthUrls:
    "^$|^https?://[A-Za-z0-9._~:/?#@%+=,-]{1,500}( https?://[A-Za-z0-9._~:/?#@%+=,-]{1,500}){0,19}$",
  /** dev.timeoutSeconds, 30 to 3600: the runShellScript step's execution timeout. */
  ExecutionTimeout: "^([3-9][0-9]|[1-9][0-9]{2}|[1-2][0-9]{3}|3[0-5][0-9]{2}|3600)$",
} as const;

/** A Secrets Manager secret name: letters, digits and /_+=.@- (never shell syntax). */
export const ENV_SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
/** The env file's name in the compose project directory. */
export const ENV_FILE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/;

/** The deploy document content with the artifacts bucket, registry and deploy script filled in. */
export function deployDocumentContent(
  projectRoot: string,
  bucketName: string,
  registry: string,
  /** dev.envSecret and the file it is written to; none: the host writes no env file. */
  env?: { secret: string; file: string },
): Record<string, unknown> {
  if (env && (!ENV_SECRET_NAME.test(env.secret) || !ENV_FILE_NAME.test(env.file))) {
    throw new Error(
      `dev.envSecret must be a Secrets Manager secret name (${ENV_SECRET_NAME.source}) and dev.envFile a file name (${ENV_FILE_NAME.source})`,
    );
  }
  const raw = readFileSync(join(projectRoot, "infra", "ssm", "deploy-dev.yml"), "utf8");
  const script = readFileSync(join(projectRoot, "infra", "scripts", "deploy-dev.sh"), "utf8");
  if (script.includes("{{") || script.includes("POUROVER_DEPLOY_SCRIPT_EOF")) {
    throw new Error("deploy-dev.sh must not contain '{{' (SSM parameter syntax) nor the heredoc delimiter");
  }
  const doc = parseYaml(raw) as {
    parameters: Record<string, { allowedPattern?: string }>;
    mainSteps: { inputs: { runCommand: string[] } }[];
  };
  for (const [name, pattern] of Object.entries(DEPLOY_PARAMETER_PATTERNS)) {
    const param = doc.parameters[name];
    if (!param || param.allowedPattern !== pattern) {
      throw new Error(`infra/ssm/deploy-dev.yml: parameter ${name} must have allowedPattern ${pattern}`);
    }
  }
  const step = doc.mainSteps[0];
  if (!step) throw new Error("infra/ssm/deploy-dev.yml: no mainSteps");
  step.inputs.runCommand = step.inputs.runCommand.flatMap((line) => {
    if (line.trim() === "__DEPLOY_SCRIPT__") return script.replace(/\n$/, "").split("\n");
    return [
      line
        .replaceAll("__ARTIFACTS_BUCKET__", bucketName)
        .replaceAll("__REGISTRY__", registry)
        .replaceAll("__ENV_SECRET__", env?.secret ?? "")
        .replaceAll("__ENV_FILE__", env?.file ?? ""),
    ];
  });
  return doc as unknown as Record<string, unknown>;
}

export interface DevDeployProps extends PouroverSiteProps {
  /** The release ledger, holding the dev lock item `devlock#<app>`. */
  readonly ledger: dynamodb.ITable;
  /** The bucket the dev hosts fetch release compose files from (under `releases/`). */
  readonly artifactsBucket: s3.IBucket;
  /** Read by report-dev-result to update the release PR and its commit status. */
  readonly githubCredentials: secretsmanager.ISecret;
}

/**
 * The dev deploy: the SSM Run Command document the dev hosts run (docker compose with the release's
 * compose file), the log group it writes to, and the Lambdas around it: one deploy at a time
 * (acquire-dev-lock), read the command results (verify-dev-deploy), report them on the release PR
 * (report-dev-result).
 */
export class DevDeploy extends Construct {
  readonly document: ssm.CfnDocument;
  /** Where SSM Run Command sends the deploy output (`/pourover/<app>/deploy-dev`). */
  readonly logGroup: logs.LogGroup;
  readonly acquireDevLock: PouroverFunction;
  readonly verifyDev: PouroverFunction;
  readonly reportDevResult: PouroverFunction;

  constructor(scope: Construct, id: string, props: DevDeployProps) {
    super(scope, id);
    const { config, ledger, githubCredentials } = props;
    const logRetention = props.logRetention ?? DEFAULT_LOG_RETENTION;
    const fn = (functionDir: string, extra: Partial<PouroverFunctionProps>) =>
      pipelineFunction(this, { functionDir, projectRoot: props.projectRoot, config, logRetention, ...extra });

    this.logGroup = new logs.LogGroup(this, "DeployLogs", {
      logGroupName: `/pourover/${config.app}/deploy-dev`,
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // The deploy history, under a fixed name: a new logical id would fail on the name.
    keepLogicalId(this.logGroup, "DeployLogs/Resource");
    this.document = new ssm.CfnDocument(this, "DeployDocument", {
      documentType: "Command",
      documentFormat: "YAML",
      targetType: "/AWS::EC2::Instance",
      updateMethod: "NewVersion",
      content: deployDocumentContent(
        props.projectRoot,
        props.artifactsBucket.bucketName,
        ACCOUNT_REGISTRY,
        config.dev.envSecret
          ? { secret: config.dev.envSecret, file: config.dev.envFile ?? `${config.app}.env` }
          : undefined,
      ),
    });
    // Its generated name comes from the logical id; a new id would replace the document (and its versions).
    keepLogicalId(this.document, "DeployDocument");

    // The dev lock is one item of the ledger (devlock#<app>): AcquireDevLock may touch only that key.
    // Giving it back is one conditional UpdateItem made by the state machine itself (ReleaseDevLock).
    const devLockKey = { "ForAllValues:StringEquals": { "dynamodb:LeadingKeys": [`devlock#${config.app}`] } };
    this.acquireDevLock = fn("acquire-dev-lock", {
      description: "One dev deploy at a time, newest release wins (conditional write of devlock#<app>)",
      environment: { LEDGER_TABLE_NAME: ledger.tableName },
    });
    this.acquireDevLock.allow(["dynamodb:GetItem", "dynamodb:PutItem"], [ledger.tableArn], devLockKey);

    this.verifyDev = fn("verify-dev-deploy", { description: "Reads the dev deploy command results" });
    // ListCommands (TargetCount: are the tag targets resolved?), ListCommandInvocations (per-host
    // status), GetCommandInvocation (the host's stdout, where the result line is) and CancelCommand
    // (a deploy past dev.timeoutSeconds is cancelled before the dev lock is given back). The service
    // authorization reference lists no resource type for any of the four: the resource is "*".
    this.verifyDev.allow(
      ["ssm:ListCommands", "ssm:ListCommandInvocations", "ssm:GetCommandInvocation", "ssm:CancelCommand"],
      ["*"],
    );
    Validations.of(this.verifyDev.role).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason:
        "ssm:ListCommands, ListCommandInvocations, GetCommandInvocation and CancelCommand support no resource-level permissions, so the API requires the wildcard resource; command ids are only known at run time, and X-Ray tracing needs the same wildcard.",
    });

    // The dev result on the release PR: a body update and a commit status (two GitHub calls).
    this.reportDevResult = fn("report-dev-result", {
      description: "Writes the dev result onto the release PR and sets the pourover/dev commit status",
      environment: { GITHUB_CREDENTIALS_SECRET_ARN: githubCredentials.secretArn },
      timeout: Duration.seconds(60),
    });
    this.reportDevResult.allow(["secretsmanager:GetSecretValue"], [githubCredentials.secretArn]);
  }
}
