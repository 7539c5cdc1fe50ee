import {
  ArnFormat,
  Aws,
  type CfnElement,
  CfnOutput,
  RemovalPolicy,
  SecretValue,
  Stack,
  type StackProps,
  Tags,
  Token,
  Validations,
} from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as s3 from "aws-cdk-lib/aws-s3";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import type { Construct } from "constructs";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import { InvalidInputError } from "../../shared/domain/errors.js";

/** The CDK context key that adds the dev host to the app. */
export const DEV_HOST_CONTEXT_KEY = "pourover:devHost";

/**
 * The `pourover:devHost` context, e.g. `{"instanceType":"t3.small","allowedCidr":"203.0.113.0/24",
 * "stopSchedule":"cron(0 20 * * ? *)"}`: an object in cdk.json, a JSON string from `-c` on the CLI.
 */
export function devHostFromContext(
  raw: unknown,
): Pick<DevHostStackProps, "allowedCidr" | "instanceType" | "stopSchedule" | "stopScheduleTimezone"> {
  let value = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new InvalidInputError(`context "${DEV_HOST_CONTEXT_KEY}" must be a JSON object`);
    }
  }
  const v = (value && typeof value === "object" ? value : {}) as Record<string, unknown>;
  const problems: string[] = [];
  const known = ["allowedCidr", "instanceType", "stopSchedule", "stopScheduleTimezone"];
  for (const key of Object.keys(v))
    if (!known.includes(key)) problems.push(`${DEV_HOST_CONTEXT_KEY}.${key}: unknown key`);
  for (const key of known) {
    if (v[key] !== undefined && (typeof v[key] !== "string" || v[key] === ""))
      problems.push(`${DEV_HOST_CONTEXT_KEY}.${key}: expected a non-empty string`);
  }
  if (typeof v.allowedCidr !== "string" || !CIDR.test(v.allowedCidr))
    problems.push(`${DEV_HOST_CONTEXT_KEY}.allowedCidr: expected an IPv4 CIDR such as 203.0.113.0/24`);
  if (problems.length > 0) throw new InvalidInputError(problems.join("; "), problems);
  const pick = (key: string) => (typeof v[key] === "string" ? { [key]: v[key] as string } : {});
  return {
    allowedCidr: v.allowedCidr as string,
    ...pick("instanceType"),
    ...pick("stopSchedule"),
    ...pick("stopScheduleTimezone"),
  };
}

const CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/;

export interface DevHostStackProps extends StackProps {
  /** The validated app config: dev.instanceTags, dev.healthUrls (ports), services (ECR repositories). */
  readonly config: AppConfig;
  /** The pipeline's reports/artifacts bucket: the host reads `releases/<app>/*` from it. */
  readonly artifactsBucket: s3.IBucket;
  /** The log group SSM Run Command writes the deploy output to. @default `/pourover/<app>/deploy-dev` (the pipeline's) */
  readonly deployLogGroupName?: string;
  /** The only CIDR allowed to reach the app ports; `0.0.0.0/0` only when written here on purpose. */
  readonly allowedCidr: string;
  /** @default "t3.small" */
  readonly instanceType?: string;
  /** @default 20 */
  readonly rootVolumeGiB?: number;
  /** The docker compose plugin release installed on the host (checked against its published sha256). @default "v2.29.7" */
  readonly composeVersion?: string;
  /**
   * EventBridge Scheduler expression that stops the host, e.g. `cron(0 20 * * ? *)`.
   * @default none (the host keeps running)
   */
  readonly stopSchedule?: string;
  /** IANA time zone of `stopSchedule`. @default "UTC" */
  readonly stopScheduleTimezone?: string;
}

/** The TCP ports of the app's health URLs: what the security group opens, nothing else. */
export function appPorts(healthUrls: readonly string[]): number[] {
  const ports = healthUrls.map((u) => {
    const url = new URL(u);
    return url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
  });
  return [...new Set(ports)].sort((a, b) => a - b);
}

/**
 * The optional dev host: one Amazon Linux 2023 instance in a small public-subnet VPC (no NAT gateway),
 * managed only through SSM (no key pair, no port 22), IMDSv2 only, encrypted root volume. Its role
 * can pull the app's images, read the release compose files and write the deploy log, nothing more.
 * It carries the config's dev.instanceTags, which is how DeployDev finds it.
 */
export class DevHostStack extends Stack {
  readonly instance: ec2.Instance;
  readonly role: iam.Role;
  readonly securityGroup: ec2.SecurityGroup;
  /** The app's env secret (dev.envSecret), created holding only a comment for the operator to fill. */
  readonly envSecret?: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: DevHostStackProps) {
    super(scope, id, props);
    const { config } = props;
    if (!CIDR.test(props.allowedCidr)) {
      throw new Error(`DevHostStack: allowedCidr must be an IPv4 CIDR, got "${props.allowedCidr}"`);
    }
    const deployLogGroupName = props.deployLogGroupName ?? `/pourover/${config.app}/deploy-dev`;

    const vpc = new ec2.Vpc(this, "Vpc", {
      ipAddresses: ec2.IpAddresses.cidr("10.80.0.0/24"),
      maxAzs: 1,
      natGateways: 0,
      subnetConfiguration: [{ name: "public", subnetType: ec2.SubnetType.PUBLIC, cidrMask: 26 }],
    });
    vpc.addFlowLog("RejectedTraffic", { trafficType: ec2.FlowLogTrafficType.REJECT });
    this.securityGroup = this.appPortsSecurityGroup(props, vpc);
    this.role = new iam.Role(this, "InstanceRole", {
      assumedBy: new iam.ServicePrincipal("ec2.amazonaws.com"),
      description: `Pourover dev host (${config.app}): SSM agent, ECR pull of the app images, release compose files, deploy log`,
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName("AmazonSSMManagedInstanceCore")],
    });
    const { nagName } = this.grantInstanceRole(props, deployLogGroupName);
    this.envSecret = this.appEnvSecret(config);
    this.instance = this.newInstance(props, vpc);
    for (const [key, value] of Object.entries(config.dev.instanceTags))
      Tags.of(this.instance).add(key, value);
    if (props.stopSchedule) this.nightlyStop(props, props.stopSchedule);
    this.acknowledgeFindings(config, nagName, deployLogGroupName);

    new CfnOutput(this, "DevInstanceId", { value: this.instance.instanceId });
    new CfnOutput(this, "StartDevHost", {
      value: `aws ec2 start-instances --instance-ids ${this.instance.instanceId}`,
      description: "Run when a release fails with DevAgentOfflineError because the host was stopped",
    });
    new CfnOutput(this, "DevHostPublicIp", { value: this.instance.instancePublicIp });
  }

  private appPortsSecurityGroup(props: DevHostStackProps, vpc: ec2.IVpc): ec2.SecurityGroup {
    const ports = appPorts(props.config.dev.healthUrls);
    const securityGroup = new ec2.SecurityGroup(this, "AppPorts", {
      vpc,
      description: `Pourover dev host for ${props.config.app}: app ports ${ports.join(", ") || "none"} from ${props.allowedCidr} only`,
      // The host reaches ECR, S3 and SSM over their public endpoints (no NAT gateway, no VPC endpoints).
      allowAllOutbound: true,
    });
    for (const port of ports) {
      securityGroup.addIngressRule(ec2.Peer.ipv4(props.allowedCidr), ec2.Port.tcp(port), `app port ${port}`);
    }
    return securityGroup;
  }

  /** Image pulls, the release compose files and the deploy log; returns the bucket name cdk-nag prints. */
  private grantInstanceRole(props: DevHostStackProps, deployLogGroupName: string): { nagName: string } {
    const { config } = props;
    const statement = (sid: string, actions: string[], resources: string[]) =>
      this.role.addToPolicy(new iam.PolicyStatement({ sid, actions, resources }));
    statement(
      "PullAppImages",
      ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
      config.services.map((s) =>
        this.formatArn({ service: "ecr", resource: "repository", resourceName: s.repository }),
      ),
    );
    statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]);
    const { bucketName, nagName } = artifactsBucketName(this, props.artifactsBucket);
    const releasesArn = `arn:${Aws.PARTITION}:s3:::${bucketName}/releases/${config.app}/*`;
    statement("ReadReleaseComposeFiles", ["s3:GetObject"], [releasesArn]);
    const logGroupArn = this.formatArn({
      service: "logs",
      resource: "log-group",
      resourceName: deployLogGroupName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    // Run Command's CloudWatch output is uploaded by the SSM agent with the instance role. "Configuring
    // Amazon CloudWatch Logs for Run Command" lists what a custom instance policy needs: DescribeLogGroups
    // on "*", and CreateLogGroup, CreateLogStream, DescribeLogStreams, PutLogEvents on the log group.
    // The writes are limited to the deploy log group (and its streams); the group already exists.
    statement(
      "WriteDeployLog",
      ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
      [logGroupArn, `${logGroupArn}:*`],
    );
    statement("FindDeployLogGroup", ["logs:DescribeLogGroups"], ["*"]);
    return { nagName };
  }

  /**
   * The app's env file (the compose file's env_file) comes from this secret at each deploy. It is
   * created holding only a comment: the deploy treats that as empty and fails with a named error
   * until the operator puts the real file in it. The role may read this one secret, nothing else.
   */
  private appEnvSecret(config: AppConfig): secretsmanager.Secret | undefined {
    if (!config.dev.envSecret) return undefined;
    const envFile = config.dev.envFile ?? `${config.app}.env`;
    const envSecret = new secretsmanager.Secret(this, "AppEnvSecret", {
      secretName: config.dev.envSecret,
      description: `The ${config.app} dev host's ${envFile} (KEY=value lines), written mode 0600 before each dev deploy. Created empty: fill it with aws secretsmanager put-secret-value --secret-id ${config.dev.envSecret} --secret-string file://${envFile}`,
      secretStringValue: SecretValue.unsafePlainText(
        `# ${envFile} for the ${config.app} dev host: replace this line with the app's KEY=value lines\n`,
      ),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: "ReadAppEnvSecret",
        actions: ["secretsmanager:GetSecretValue"],
        resources: [envSecret.secretArn],
      }),
    );
    Validations.of(envSecret).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "The secret is the app's env file written by a person; its values (database and broker passwords) change with the app's own services, so a rotation Lambda cannot apply them.",
    });
    return envSecret;
  }

  private newInstance(props: DevHostStackProps, vpc: ec2.IVpc): ec2.Instance {
    const instanceType = new ec2.InstanceType(props.instanceType ?? "t3.small");
    return new ec2.Instance(this, "Instance", {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      associatePublicIpAddress: true,
      instanceType,
      machineImage: ec2.MachineImage.latestAmazonLinux2023({
        cpuType:
          instanceType.architecture === ec2.InstanceArchitecture.ARM_64
            ? ec2.AmazonLinuxCpuType.ARM_64
            : ec2.AmazonLinuxCpuType.X86_64,
      }),
      role: this.role,
      securityGroup: this.securityGroup,
      userData: devHostUserData(props.composeVersion ?? "v2.29.7"),
      requireImdsv2: true,
      blockDevices: [
        {
          deviceName: "/dev/xvda",
          volume: ec2.BlockDeviceVolume.ebs(props.rootVolumeGiB ?? 20, {
            encrypted: true,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
          }),
        },
      ],
    });
  }

  private nightlyStop(props: DevHostStackProps, stopSchedule: string): void {
    const stopRole = new iam.Role(this, "StopScheduleRole", {
      assumedBy: new iam.ServicePrincipal("scheduler.amazonaws.com", {
        conditions: { StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID } },
      }),
      description: "Lets EventBridge Scheduler stop the Pourover dev host at night",
    });
    stopRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ["ec2:StopInstances"],
        resources: [
          this.formatArn({ service: "ec2", resource: "instance", resourceName: this.instance.instanceId }),
        ],
      }),
    );
    new scheduler.CfnSchedule(this, "NightlyStop", {
      description: `Stops the ${props.config.app} dev host; the next release finds it stopped (DevAgentOfflineError) until it is started`,
      scheduleExpression: stopSchedule,
      scheduleExpressionTimezone: props.stopScheduleTimezone ?? "UTC",
      flexibleTimeWindow: { mode: "OFF" },
      target: {
        arn: "arn:aws:scheduler:::aws-sdk:ec2:stopInstances",
        roleArn: stopRole.roleArn,
        input: this.toJsonString({ InstanceIds: [this.instance.instanceId] }),
        retryPolicy: { maximumRetryAttempts: 3 },
      },
    });
  }

  private acknowledgeFindings(config: AppConfig, nagName: string, deployLogGroupName: string): void {
    Validations.of(this.role).acknowledge(
      {
        id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]",
        reason:
          "The SSM agent needs the AWS managed instance core policy to register and receive Run Command; it is the documented minimum for managed nodes and replaces SSH entirely.",
      },
      {
        id: "AwsSolutions-IAM5[Resource::*]",
        reason:
          "ecr:GetAuthorizationToken returns a registry-wide login token and logs:DescribeLogGroups lists log group names only; both are granted on the wildcard resource (the Run Command CloudWatch output guide asks for DescribeLogGroups on *). Image pulls are limited to the configured repositories, log writes to the deploy log group.",
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagName}/releases/${config.app}/*]`,
        reason:
          "Compose files are keyed by release tag at run time, so keys are unknown at deploy time; GetObject is limited to this app's releases prefix of the pipeline bucket.",
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:${deployLogGroupName}:*]`,
        reason:
          "SSM Run Command creates one log stream per command and instance, named at run time; the wildcard covers streams of the deploy log group only.",
      },
    );
    Validations.of(this.instance).acknowledge(
      {
        id: "AwsSolutions-EC28",
        reason:
          "A single disposable dev host: basic five-minute monitoring is enough, and the deploy health is checked by the pipeline on every release.",
      },
      {
        id: "AwsSolutions-EC29",
        reason:
          "The dev host is disposable and recreated from this stack; termination protection would only block cdk destroy, and no data lives on it.",
      },
    );
  }
}

/** SSM agent, Docker and the docker compose plugin checked against its published sha256. */
function devHostUserData(compose: string): ec2.UserData {
  if (!/^v\d+\.\d+\.\d+$/.test(compose))
    throw new Error(`DevHostStack: composeVersion must be vX.Y.Z, got "${compose}"`);
  const userData = ec2.UserData.forLinux();
  userData.addCommands(
    "set -euo pipefail",
    "dnf -y upgrade --refresh amazon-ssm-agent || dnf -y install amazon-ssm-agent",
    "systemctl enable --now amazon-ssm-agent",
    "dnf -y install docker util-linux",
    "systemctl enable --now docker",
    'arch="$(uname -m)"',
    `base="https://github.com/docker/compose/releases/download/${compose}"`,
    'tmp="$(mktemp -d)"',
    'curl -fsSL -o "$tmp/docker-compose-linux-$arch" "$base/docker-compose-linux-$arch"',
    'curl -fsSL -o "$tmp/docker-compose-linux-$arch.sha256" "$base/docker-compose-linux-$arch.sha256"',
    '(cd "$tmp" && sha256sum -c "docker-compose-linux-$arch.sha256")',
    'install -D -m 0755 "$tmp/docker-compose-linux-$arch" /usr/local/lib/docker/cli-plugins/docker-compose',
    "docker compose version",
    "mkdir -p /opt/pourover",
  );
  return userData;
}

/**
 * The artifacts bucket's name as this stack uses it, and as cdk-nag prints it in a finding id.
 *
 * A bucket of another stack of the app is imported through an export with an explicit name. An
 * automatic cross-stack reference would be rewritten to `Fn::ImportValue` of a generated export
 * name only when the app is synthesized, after the acknowledgement below was written with the
 * bucket's logical id: `cdk synth` then reported AwsSolutions-IAM5 for an id that no
 * acknowledgement names. With a fixed export name the id is the same in every synth.
 */
function artifactsBucketName(stack: Stack, bucket: s3.IBucket): { bucketName: string; nagName: string } {
  if (!Token.isUnresolved(bucket.bucketName))
    return { bucketName: bucket.bucketName, nagName: bucket.bucketName };
  const cfn = bucket.node.defaultChild as CfnElement | undefined;
  if (!cfn) throw new Error("DevHostStack: artifactsBucket must be a literal name or a bucket of this app");
  const owner = Stack.of(cfn);
  if (owner === stack)
    // cfn.logicalId, not stack.getLogicalId(cfn): only the former honours overrideLogicalId.
    return { bucketName: bucket.bucketName, nagName: `<${stack.resolve(cfn.logicalId)}>` };
  const exportName = `${owner.stackName}-ArtifactsBucketName`;
  const bucketName = owner.exportValue(bucket.bucketName, { name: exportName });
  stack.addStackDependency(owner, "reads the pipeline's artifacts bucket through its export");
  return { bucketName, nagName: exportName };
}
