import { readFileSync } from "node:fs";
import { RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import type * as codebuild from "aws-cdk-lib/aws-codebuild";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as ssm from "aws-cdk-lib/aws-ssm";
import * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";

/**
 * Every `${Name}` placeholder this construct fills in `state-machines/release.asl.json`. The contract
 * test compares this list with the placeholders the ASL actually uses; synth fails on any mismatch.
 */
export const RELEASE_PLACEHOLDERS = [
  "ClaimReleaseFunctionArn",
  "PlanReleaseFunctionArn",
  "EvaluateScanFunctionArn",
  "GateOnScanFunctionArn",
  "DescribeBuildFailureFunctionArn",
  "UpdateManifestsFunctionArn",
  "VerifyDevFunctionArn",
  "AcquireDevLockFunctionArn",
  "LedgerTableName",
  "SendNotificationFunctionArn",
  "RecordOutcomeFunctionArn",
  "ReportDevResultFunctionArn",
  "BuildProjectName",
  "ScanProjectName",
  "DeployDocumentName",
  "DeployLogGroupName",
] as const;

export type ReleasePlaceholder = (typeof RELEASE_PLACEHOLDERS)[number];

/** Managed rule Step Functions creates for `codebuild:startBuild.sync`. */
export const CODEBUILD_SYNC_RULE = "StepFunctionsGetEventForCodeBuildStartBuildRule";

/** The distinct `${Name}` placeholders of an ASL document, sorted. (`$.x` JSONPaths never match.) */
export function aslPlaceholders(aslText: string): string[] {
  const names = new Set<string>();
  for (const m of aslText.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)) names.add(m[1] as string);
  return [...names].sort();
}

export interface ReleaseStateMachineProps {
  /** Absolute path of the ASL file. */
  readonly definitionFile: string;
  /**
   * The functions the workflow's Lambda tasks invoke. One group rather than flat props: the role may
   * invoke exactly these, and each fills the ASL placeholder of its name.
   */
  readonly functions: {
    readonly claimRelease: lambda.IFunction;
    readonly planRelease: lambda.IFunction;
    readonly evaluateScan: lambda.IFunction;
    readonly gateOnScan: lambda.IFunction;
    /** Reports a failed BuildScanPush/ScanImage build (BatchGetBuilds) as a named error. */
    readonly describeBuildFailure: lambda.IFunction;
    readonly updateManifests: lambda.IFunction;
    readonly verifyDev: lambda.IFunction;
    readonly acquireDevLock: lambda.IFunction;
    readonly sendNotification: lambda.IFunction;
    readonly recordOutcome: lambda.IFunction;
    /** Writes the dev result onto the release PR and the pourover/dev commit status. */
    readonly reportDevResult: lambda.IFunction;
  };
  /**
   * The release ledger. ReleaseDevLock(AfterFailure) update its `devlock#<app>` item straight from the
   * workflow (DynamoDB UpdateItem integration), so the role may update that key and nothing else.
   */
  readonly ledger: dynamodb.ITable;
  /** The app whose dev lock (`devlock#<app>`) the workflow gives back. */
  readonly app: string;
  readonly buildProject: codebuild.IProject;
  readonly scanProject: codebuild.IProject;
  readonly deployDocument: ssm.CfnDocument;
  /** Where SSM Run Command sends the deploy output (`CloudWatchOutputConfig`). */
  readonly deployLogGroup: logs.ILogGroup;
  /**
   * EC2 tags selecting the dev hosts: SendCommand (DeployDev) and StartInstances (StartDevHosts) are
   * allowed only on instances carrying them.
   */
  readonly devInstanceTags: Readonly<Record<string, string>>;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** @default none (CloudFormation generates one) */
  readonly stateMachineName?: string;
}

/**
 * The release workflow from the ASL file: Standard, execution logging ALL, X-Ray tracing. A
 * file-based definition gets no automatic grants, so each state's permissions are added here,
 * ARN-scoped: the Lambda tasks invoke their function, the CodeBuild `.sync` tasks start/stop/poll
 * their project and manage the Step Functions managed rule, DeployDev sends the deploy document to
 * dev instances carrying the configured tags only.
 */
export class ReleaseStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;
  readonly substitutions: Readonly<Record<ReleasePlaceholder, string>>;

  constructor(scope: Construct, id: string, props: ReleaseStateMachineProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const substitutions = releaseSubstitutions(props);
    assertPlaceholdersMatch(readFileSync(props.definitionFile, "utf8"), Object.keys(substitutions));
    this.substitutions = substitutions;

    this.logGroup = new logs.LogGroup(this, "ExecutionLogs", {
      // Step Functions requires the /aws/vendedlogs/ prefix to avoid the resource policy size limit.
      logGroupName: `/aws/vendedlogs/states/${stack.stackName}-release`,
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.stateMachine = new sfn.StateMachine(this, "StateMachine", {
      stateMachineName: props.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(props.definitionFile),
      definitionSubstitutions: substitutions,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    const role = this.stateMachine.role;
    grantReleaseTasks(role, props);
    grantDevHostTasks(role, props);
    Validations.of(role).acknowledge(
      {
        id: "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]",
        reason:
          "DeployDev and StartDevHosts select dev hosts by EC2 tag, so instance ids are unknown at deploy time; SendCommand is conditioned on ssm:resourceTag and StartInstances on aws:ResourceTag matching every configured dev instance tag.",
      },
      {
        id: "AwsSolutions-IAM5[Resource::*]",
        reason:
          "ec2:DescribeInstances and ssm:DescribeInstanceInformation (the wake loop, read-only), the CloudWatch Logs delivery actions for Step Functions execution logging and the X-Ray trace actions support no resource-level permissions, so the API requires the wildcard resource.",
      },
    );
  }
}

function releaseSubstitutions(props: ReleaseStateMachineProps): Record<ReleasePlaceholder, string> {
  const fns = props.functions;
  return {
    ClaimReleaseFunctionArn: fns.claimRelease.functionArn,
    PlanReleaseFunctionArn: fns.planRelease.functionArn,
    EvaluateScanFunctionArn: fns.evaluateScan.functionArn,
    GateOnScanFunctionArn: fns.gateOnScan.functionArn,
    DescribeBuildFailureFunctionArn: fns.describeBuildFailure.functionArn,
    UpdateManifestsFunctionArn: fns.updateManifests.functionArn,
    VerifyDevFunctionArn: fns.verifyDev.functionArn,
    AcquireDevLockFunctionArn: fns.acquireDevLock.functionArn,
    LedgerTableName: props.ledger.tableName,
    SendNotificationFunctionArn: fns.sendNotification.functionArn,
    RecordOutcomeFunctionArn: fns.recordOutcome.functionArn,
    ReportDevResultFunctionArn: fns.reportDevResult.functionArn,
    BuildProjectName: props.buildProject.projectName,
    ScanProjectName: props.scanProject.projectName,
    DeployDocumentName: props.deployDocument.ref,
    DeployLogGroupName: props.deployLogGroup.logGroupName,
  };
}

/** The Lambda, DynamoDB and CodeBuild tasks. */
function grantReleaseTasks(role: iam.IRole, props: ReleaseStateMachineProps): void {
  // Lambda tasks use the unqualified function ARN as Resource: that ARN, nothing else.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "InvokeReleaseFunctions",
      actions: ["lambda:InvokeFunction"],
      resources: Object.values(props.functions).map((f) => f.functionArn),
    }),
  );

  // ReleaseDevLock / ReleaseDevLockAfterFailure: arn:aws:states:::dynamodb:updateItem. The optimized
  // integration calls UpdateItem with the state machine's role (Step Functions Developer Guide, "IAM
  // policies for calling DynamoDB": the action on the table ARN); dynamodb:LeadingKeys limits it to
  // the app's dev lock item, as the Lambda it replaces was limited.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "ReleaseDevLockItem",
      actions: ["dynamodb:UpdateItem"],
      resources: [props.ledger.tableArn],
      conditions: { "ForAllValues:StringEquals": { "dynamodb:LeadingKeys": [`devlock#${props.app}`] } },
    }),
  );

  // BuildScanPush / ScanImage: codebuild:startBuild.sync.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "RunBuildAndScanProjects",
      actions: ["codebuild:StartBuild", "codebuild:StopBuild", "codebuild:BatchGetBuilds"],
      resources: [props.buildProject.projectArn, props.scanProject.projectArn],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "CodeBuildSyncManagedRule",
      actions: ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
      resources: [
        Stack.of(role).formatArn({ service: "events", resource: "rule", resourceName: CODEBUILD_SYNC_RULE }),
      ],
    }),
  );
}

/** DeployDev and the wake loop: SSM and EC2 on the instances carrying every dev tag. */
function grantDevHostTasks(role: iam.IRole, props: ReleaseStateMachineProps): void {
  const stack = Stack.of(role);
  // DeployDev: aws-sdk:ssm:sendCommand with Targets by tag.
  if (Object.keys(props.devInstanceTags).length === 0)
    throw new Error("ReleaseStateMachine: dev.instanceTags must name at least one tag");
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "SendDeployDocument",
      actions: ["ssm:SendCommand"],
      resources: [
        stack.formatArn({ service: "ssm", resource: "document", resourceName: props.deployDocument.ref }),
      ],
    }),
  );
  const anyInstance = stack.formatArn({ service: "ec2", resource: "instance", resourceName: "*" });
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "SendDeployToTaggedDevInstances",
      actions: ["ssm:SendCommand"],
      resources: [anyInstance],
      conditions: { StringEquals: tagConditions("ssm:resourceTag", props.devInstanceTags) },
    }),
  );

  // The wake loop (WakeDevHost, CheckDevHostAgents, StartDevHosts) calls EC2 and SSM itself
  // (aws-sdk integrations run with the state machine's role). DescribeInstances and
  // DescribeInstanceInformation are read-only and support no resource-level permissions, so they take
  // "*"; StartInstances takes instance ARNs and the aws:ResourceTag condition key, so it is limited to
  // instances carrying every configured dev tag.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "DescribeDevHosts",
      actions: ["ec2:DescribeInstances", "ssm:DescribeInstanceInformation"],
      resources: ["*"],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "StartTaggedDevHosts",
      actions: ["ec2:StartInstances"],
      resources: [anyInstance],
      conditions: { StringEquals: tagConditions("aws:ResourceTag", props.devInstanceTags) },
    }),
  );
}

/** `<conditionKey>/<tag>: <value>` for every tag: all of them must match. */
function tagConditions(conditionKey: string, tags: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).map(([key, value]) => [`${conditionKey}/${key}`, value]));
}

/** Throws when the ASL and the construct disagree about the placeholders, in either direction. */
export function assertPlaceholdersMatch(aslText: string, filled: readonly string[]): void {
  const used = aslPlaceholders(aslText);
  const missing = used.filter((p) => !filled.includes(p));
  const unused = filled.filter((p) => !used.includes(p));
  const problems: string[] = [];
  if (missing.length > 0) problems.push(`the ASL uses placeholders nobody fills: ${missing.join(", ")}`);
  if (unused.length > 0) problems.push(`placeholders filled but not used by the ASL: ${unused.join(", ")}`);
  if (problems.length > 0) throw new Error(`ReleaseStateMachine: ${problems.join("; ")}`);
}
