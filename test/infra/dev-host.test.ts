import { readFileSync } from "node:fs";
import { join } from "node:path";
import { App, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import * as s3 from "aws-cdk-lib/aws-s3";
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { buildApp } from "../../infra/app.js";
import {
  appPorts,
  DevHostStack,
  type DevHostStackProps,
  devHostFromContext,
} from "../../infra/stacks/dev-host-stack.js";
import { PipelineStack } from "../../infra/stacks/pipeline-stack.js";
import { InvalidInputError } from "../../shared/domain/errors.js";
import { exampleConfig } from "../helpers/local.js";
import { FIXTURE_CONFIG, type Json, REPO_ROOT } from "./synth-helper.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Any = any;

function devHost(overrides: Partial<DevHostStackProps> = {}) {
  // Bundling is skipped: no Lambda here, and the template is what is asserted.
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const pipeline = new Stack(app, "Pipeline");
  const stack = new DevHostStack(app, "DevHost", {
    config: exampleConfig(),
    artifactsBucket: s3.Bucket.fromBucketName(pipeline, "Artifacts", "pourover-artifacts"),
    allowedCidr: "203.0.113.0/24",
    stopSchedule: "cron(0 20 * * ? *)",
    ...overrides,
  });
  return { app, stack, template: Template.fromStack(stack) };
}

const statements = (template: Template): Json[] =>
  Object.values(template.findResources("AWS::IAM::Policy")).flatMap(
    (p: Any) => p.Properties.PolicyDocument.Statement,
  );

describe("DevHostStack", () => {
  const { stack, template } = devHost();

  it("opens only the app ports of the health URLs, to the configured CIDR; never 22, never 0.0.0.0/0", () => {
    expect(appPorts(exampleConfig().dev.healthUrls)).toEqual([5000, 8888]);
    const groups = Object.values(template.findResources("AWS::EC2::SecurityGroup")) as Any[];
    expect(groups).toHaveLength(1);
    const ingress = groups[0].Properties.SecurityGroupIngress as Any[];
    expect(ingress.map((r) => [r.FromPort, r.ToPort, r.CidrIp]).sort()).toEqual([
      [5000, 5000, "203.0.113.0/24"],
      [8888, 8888, "203.0.113.0/24"],
    ]);
    for (const rule of ingress) {
      expect(rule.IpProtocol).toBe("tcp");
      expect(rule.FromPort <= 22 && rule.ToPort >= 22).toBe(false);
    }
    expect(template.findResources("AWS::EC2::SecurityGroupIngress")).toEqual({});
  });

  it("opens 0.0.0.0/0 only when configured so", () => {
    const open = devHost({ allowedCidr: "0.0.0.0/0" }).template;
    const ingress = (Object.values(open.findResources("AWS::EC2::SecurityGroup"))[0] as Any).Properties
      .SecurityGroupIngress as Any[];
    expect(ingress.every((r) => r.CidrIp === "0.0.0.0/0")).toBe(true);
    expect(() => devHost({ allowedCidr: "203.0.113.0/24; curl" })).toThrow(/IPv4 CIDR/);
  });

  it("has no key pair, requires IMDSv2, encrypts the root volume, runs Amazon Linux 2023 from SSM", () => {
    expect(template.findResources("AWS::EC2::KeyPair")).toEqual({});
    const instance = Object.values(template.findResources("AWS::EC2::Instance"))[0] as Any;
    expect(instance.Properties.KeyName).toBeUndefined();
    expect(instance.Properties.BlockDeviceMappings).toEqual([
      { DeviceName: "/dev/xvda", Ebs: { Encrypted: true, VolumeSize: 20, VolumeType: "gp3" } },
    ]);
    expect(instance.Properties.ImageId.Ref).toMatch(/al2023/i);
    template.hasResourceProperties("AWS::EC2::LaunchTemplate", {
      LaunchTemplateData: { MetadataOptions: { HttpTokens: "required" } },
    });
  });

  it("carries the config's dev.instanceTags, which is how DeployDev targets it", () => {
    const instance = Object.values(template.findResources("AWS::EC2::Instance"))[0] as Any;
    expect(instance.Properties.Tags).toEqual(
      expect.arrayContaining([
        { Key: "Environment", Value: "dev" },
        { Key: "App", Value: "coffeeshop" },
      ]),
    );
  });

  it("public subnets only, no NAT gateway", () => {
    expect(template.findResources("AWS::EC2::NatGateway")).toEqual({});
    const subnets = Object.values(template.findResources("AWS::EC2::Subnet")) as Any[];
    expect(subnets.length).toBeGreaterThan(0);
    for (const s of subnets) expect(s.Properties.MapPublicIpOnLaunch).toBe(true);
  });

  it("the instance role: SSM core, ECR pull of the app's repositories only, its releases prefix, the deploy log", () => {
    template.hasResourceProperties("AWS::IAM::Role", {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: "ec2.amazonaws.com" } })],
      },
      ManagedPolicyArns: [
        {
          "Fn::Join": [
            "",
            ["arn:", { Ref: "AWS::Partition" }, ":iam::aws:policy/AmazonSSMManagedInstanceCore"],
          ],
        },
      ],
    });
    const bySid = new Map(statements(template).map((s) => [s.Sid, s]));
    const pull = bySid.get("PullAppImages");
    expect(pull.Action).toEqual([
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
      "ecr:BatchCheckLayerAvailability",
    ]);
    expect(pull.Resource).toHaveLength(6);
    expect(JSON.stringify(pull.Resource)).toContain(":repository/go-coffeeshop-web");
    expect(bySid.get("EcrLogin")).toMatchObject({ Action: "ecr:GetAuthorizationToken", Resource: "*" });
    expect(JSON.stringify(bySid.get("ReadReleaseComposeFiles"))).toContain(
      ":s3:::pourover-artifacts/releases/coffeeshop/*",
    );
    expect(bySid.get("ReadReleaseComposeFiles").Action).toBe("s3:GetObject");
    expect(JSON.stringify(bySid.get("WriteDeployLog").Resource)).toContain(
      ":log-group:/pourover/coffeeshop/deploy-dev:*",
    );
    expect(bySid.get("ReadAppEnvSecret").Action).toBe("secretsmanager:GetSecretValue");
    // Nothing else: no write to S3 or ECR, no wildcard action.
    const actions = statements(template).flatMap((s) => [s.Action].flat());
    expect(actions.filter((a: string) => /^(s3:Put|ecr:Put|.*\*)/.test(a))).toEqual([]);
  });

  it("Run Command's CloudWatch output: what the SSM guide asks of the instance role, writes on the deploy log group only", () => {
    const bySid = new Map(statements(template).map((s) => [s.Sid, s]));
    const write = bySid.get("WriteDeployLog");
    expect(write.Action).toEqual([
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
    ]);
    const arns = JSON.stringify(write.Resource);
    expect(write.Resource).toHaveLength(2);
    expect(arns).toContain(':log-group:/pourover/coffeeshop/deploy-dev"');
    expect(arns).toContain(":log-group:/pourover/coffeeshop/deploy-dev:*");
    expect(bySid.get("FindDeployLogGroup")).toMatchObject({
      Action: "logs:DescribeLogGroups",
      Resource: "*",
    });
    // No other statement of the instance role grants a logs action.
    const [roleId] = Object.entries(template.findResources("AWS::IAM::Role")).find(([, r]) =>
      JSON.stringify((r as Any).Properties.AssumeRolePolicyDocument).includes("ec2.amazonaws.com"),
    ) as [string, Any];
    const rolePolicies = Object.values(template.findResources("AWS::IAM::Policy")).filter((p) =>
      JSON.stringify((p as Any).Properties.Roles).includes(`"${roleId}"`),
    ) as Any[];
    const logs = rolePolicies
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Any[])
      .filter((s) => [s.Action].flat().some((a: string) => a.startsWith("logs:")));
    expect(logs.map((s) => s.Sid).sort()).toEqual(["FindDeployLogGroup", "WriteDeployLog"]);
  });

  it("dev.envSecret: the secret is created holding only a comment, retained, and the role may read that one secret", () => {
    const secrets = Object.entries(template.findResources("AWS::SecretsManager::Secret")) as [string, Any][];
    expect(secrets).toHaveLength(1);
    const [id, secret] = secrets[0] as [string, Any];
    expect(secret.Properties.Name).toBe("pourover/coffeeshop/dev-env");
    expect(secret.Properties.SecretString).toMatch(/^# coffeeshop\.env for the coffeeshop dev host/);
    expect(secret.Properties.GenerateSecretString).toBeUndefined();
    expect(secret.DeletionPolicy).toBe("Retain");
    const reads = statements(template).filter((s) =>
      [s.Action].flat().some((a: string) => a.startsWith("secretsmanager:")),
    );
    expect(reads).toEqual([
      {
        Sid: "ReadAppEnvSecret",
        Effect: "Allow",
        Action: "secretsmanager:GetSecretValue",
        Resource: { Ref: id },
      },
    ]);
  });

  it("without dev.envSecret: no secret and no Secrets Manager permission", () => {
    const config = exampleConfig();
    const { envSecret: _omit, ...dev } = config.dev;
    const t = devHost({ config: { ...config, dev } }).template;
    expect(t.findResources("AWS::SecretsManager::Secret")).toEqual({});
    expect(JSON.stringify(statements(t))).not.toContain("secretsmanager:");
  });

  it("user data installs docker and the compose plugin (checksum-verified) and updates the SSM agent", () => {
    const instance = Object.values(template.findResources("AWS::EC2::Instance"))[0] as Any;
    const script = JSON.stringify(instance.Properties.UserData);
    expect(script).toContain("dnf -y install docker");
    expect(script).toContain("amazon-ssm-agent");
    expect(script).toContain("sha256sum -c");
    expect(script).toContain("/usr/local/lib/docker/cli-plugins/docker-compose");
  });

  it("the nightly stop: EventBridge Scheduler's ec2:stopInstances on this instance only", () => {
    template.hasResourceProperties("AWS::Scheduler::Schedule", {
      ScheduleExpression: "cron(0 20 * * ? *)",
      Target: Match.objectLike({ Arn: "arn:aws:scheduler:::aws-sdk:ec2:stopInstances" }),
    });
    const stop = statements(template).find((s) => s.Action === "ec2:StopInstances");
    expect(JSON.stringify(stop.Resource)).toContain(":instance/");
    expect(devHost({ stopSchedule: undefined }).template.findResources("AWS::Scheduler::Schedule")).toEqual(
      {},
    );
  });

  it("passes cdk-nag AwsSolutions with reasoned acknowledgements", () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });
});

describe("the app adds the dev host only when pourover:devHost is set", () => {
  it("parses the context (object or JSON string) and rejects bad values with one line each", () => {
    expect(devHostFromContext('{"instanceType":"t3.small","allowedCidr":"203.0.113.0/24"}')).toEqual({
      instanceType: "t3.small",
      allowedCidr: "203.0.113.0/24",
    });
    expect(() => devHostFromContext({ allowedCidr: "any", sshKey: "x" })).toThrow(InvalidInputError);
    try {
      devHostFromContext({ allowedCidr: "any", sshKey: "x" });
    } catch (error) {
      expect((error as InvalidInputError).problems).toEqual([
        "pourover:devHost.sshKey: unknown key",
        "pourover:devHost.allowedCidr: expected an IPv4 CIDR such as 203.0.113.0/24",
      ]);
    }
  });

  it("wires the pipeline bucket across stacks, and cdk-nag passes on the dev host stack", () => {
    const context = { "aws:cdk:bundling-stacks": [] };
    expect(buildApp({ configFile: FIXTURE_CONFIG, nag: false, context }).devHost).toBeUndefined();
    const built = buildApp({
      configFile: FIXTURE_CONFIG,
      nag: false,
      context: {
        ...context,
        "pourover:devHost": { instanceType: "t4g.small", allowedCidr: "198.51.100.7/32" },
      },
    });
    const host = built.devHost as DevHostStack;
    const report = new AwsSolutionsChecks().validateScope(host);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
    const t = Template.fromStack(host);
    t.hasResourceProperties("AWS::EC2::Instance", { InstanceType: "t4g.small" });
    const instance = Object.values(t.findResources("AWS::EC2::Instance"))[0] as Any;
    expect(instance.Properties.ImageId.Ref).toMatch(/arm64/i);
    expect(JSON.stringify(statements(t))).toContain("Fn::ImportValue");
  }, 120_000);
});

describe("the dev deploy of the pipeline stack", () => {
  it("VerifyDev may list, read and cancel commands; SendCommand's output goes to the deploy log group; the document carries the env secret", () => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const t = Template.fromStack(new PipelineStack(app, "Pipeline", { config: exampleConfig() }));
    const ssmRead = statements(t).filter((s) => [s.Action].flat().includes("ssm:GetCommandInvocation"));
    expect(ssmRead).toHaveLength(1);
    expect([ssmRead[0].Action].flat().sort()).toEqual([
      "ssm:CancelCommand",
      "ssm:GetCommandInvocation",
      "ssm:ListCommandInvocations",
      "ssm:ListCommands",
    ]);
    // CloudWatchOutputConfig names the deploy log group (the one the dev host role may write).
    const [logId] = Object.entries(t.findResources("AWS::Logs::LogGroup")).find(
      ([, r]) => (r as Any).Properties.LogGroupName === "/pourover/coffeeshop/deploy-dev",
    ) as [string, Any];
    const machine = Object.values(t.findResources("AWS::StepFunctions::StateMachine"))[0] as Any;
    expect(machine.Properties.DefinitionSubstitutions.DeployLogGroupName).toEqual({ Ref: logId });
    // The definition is the ASL file itself (an S3 asset): its DeployDev sends output there.
    const asl = JSON.parse(readFileSync(join(REPO_ROOT, "state-machines", "release.asl.json"), "utf8"));
    expect(asl.States.DeployDev.Parameters.CloudWatchOutputConfig).toEqual({
      CloudWatchOutputEnabled: true,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: an ASL definition substitution, not JS
      CloudWatchLogGroupName: "${DeployLogGroupName}",
    });
    const doc = Object.values(t.findResources("AWS::SSM::Document"))[0] as Any;
    const commands = (doc.Properties.Content.mainSteps[0].inputs.runCommand as unknown[]).join("\n");
    expect(commands).toContain("ENV_SECRET='pourover/coffeeshop/dev-env'");
    expect(commands).toContain("ENV_FILE='coffeeshop.env'");
    expect(doc.Properties.Content.mainSteps[0].inputs.timeoutSeconds).toBe("{{ ExecutionTimeout }}");
  }, 120_000);
});

describe("the dev lock of the pipeline stack", () => {
  it("AcquireDevLock and the state machine (ReleaseDevLock's UpdateItem) may touch only the devlock#<app> item", () => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const t = Template.fromStack(new PipelineStack(app, "Pipeline", { config: exampleConfig() }));
    const rolePolicies = (role: RegExp) =>
      (Object.values(t.findResources("AWS::IAM::Policy")) as Any[])
        .filter((p) => role.test(JSON.stringify(p.Properties.Roles)))
        .flatMap((p) => p.Properties.PolicyDocument.Statement as Any[])
        .filter((s) => [s.Action].flat().some((a: string) => a.startsWith("dynamodb:")));
    const acquire = rolePolicies(/"(DevDeploy)?AcquireDevLock[A-Za-z0-9]*Role/);
    const machine = rolePolicies(/"Release[A-Za-z0-9]*StateMachineRole/);
    expect(acquire.map((s) => [s.Action].flat().sort())).toEqual([["dynamodb:GetItem", "dynamodb:PutItem"]]);
    expect(machine.map((s) => [s.Action].flat().sort())).toEqual([["dynamodb:UpdateItem"]]);
    for (const s of [...acquire, ...machine]) {
      expect(s.Condition).toEqual({
        "ForAllValues:StringEquals": { "dynamodb:LeadingKeys": ["devlock#coffeeshop"] },
      });
      expect(s.Resource).toHaveProperty("Fn::GetAtt");
    }
    const fns = Object.entries(t.findResources("AWS::Lambda::Function")).map(([id]) => id);
    // Giving the lock back is one UpdateItem made by Step Functions: no Lambda for it.
    expect(fns.filter((id) => /(AcquireDevLock|ReleaseDevLock)/.test(id))).toEqual([
      expect.stringMatching(/^DevDeployAcquireDevLock/),
    ]);
    const invoke = statements(t).find((s) => s.Sid === "InvokeReleaseFunctions");
    expect(JSON.stringify(invoke.Resource)).toContain(
      fns.find((id) => id.startsWith("DevDeployAcquireDevLock")),
    );
  }, 120_000);
});
