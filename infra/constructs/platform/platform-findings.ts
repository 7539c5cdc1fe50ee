/**
 * cdk-nag AwsSolutions findings of the platform stack that stay, each with why; the rest are fixed
 * in the stack itself.
 */
import { type aws_eks as eks, type aws_rds as rds, type Stack, Validations } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import type { PlatformConfig } from "./platform-config.js";

export interface PlatformFindingsScope {
  readonly stack: Stack;
  readonly config: PlatformConfig;
  readonly cluster: eks.Cluster;
  readonly nodegroup: eks.Nodegroup;
  readonly database: rds.DatabaseInstance;
  /** The External Secrets controller's service account. */
  readonly eso: eks.ServiceAccount;
}

const ack = (scope: IConstruct | undefined, id: string, reason: string) => {
  if (scope) Validations.of(scope).acknowledge({ id, reason });
};
const managed = (name: string) => `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${name}]`;
const child = (scope: IConstruct, ...path: string[]) =>
  path.reduce<IConstruct | undefined>((c, id) => c?.node.tryFindChild(id), scope);

export function acknowledgePlatformFindings(p: PlatformFindingsScope): void {
  acknowledgeLibraryFindings(p);
  acknowledgeOwnFindings(p);
}

/**
 * Constructs aws-cdk-lib's EKS module creates for its custom resources (the cluster itself and
 * kubectl/helm) and its log retention singleton: their code and policies are the library's, not
 * ours to change.
 */
function acknowledgeLibraryFindings({ stack, config, cluster }: PlatformFindingsScope): void {
  const clusterProvider = child(stack, "@aws-cdk--aws-eks.ClusterResourceProvider");
  const kubectlProvider = child(stack, "@aws-cdk--aws-eks.KubectlProvider");
  const logRetention = stack.node.children.find((c) => c.node.id.startsWith("LogRetention"));
  const internal = [clusterProvider, kubectlProvider, child(cluster, "KubectlHandlerRole"), logRetention];

  for (const scope of internal) {
    ack(
      scope,
      managed("service-role/AWSLambdaBasicExecutionRole"),
      "Custom resource Lambdas created by aws-cdk-lib (EKS cluster provider, kubectl handler, log retention) use the AWS managed basic execution role for their own log groups only.",
    );
    ack(
      scope,
      managed("service-role/AWSLambdaVPCAccessExecutionRole"),
      "The aws-cdk-lib kubectl handler may run inside the VPC to reach the cluster endpoint and needs ENI management, which this AWS managed policy grants and nothing more.",
    );
  }
  ack(
    child(cluster, "KubectlHandlerRole"),
    managed("AmazonEC2ContainerRegistryPullOnly"),
    "The aws-cdk-lib kubectl handler pulls Helm charts stored as OCI artifacts in ECR; pull-only is the narrowest managed policy for that.",
  );
  ack(
    child(cluster, "KubectlHandlerRole"),
    'AwsSolutions-IAM4[Policy::{"Fn::If":["ClusterHasEcrPublic8EE1114E",{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly"]]},{"Ref":"AWS::NoValue"}]}]',
    "Conditional in aws-cdk-lib: read-only ECR Public access for OCI Helm charts, added only in the partitions where ECR Public exists.",
  );
  ack(
    child(cluster, "Role"),
    managed("AmazonEKSClusterPolicy"),
    "The EKS control plane's service role must carry AmazonEKSClusterPolicy; AWS maintains it as EKS gains features and documents no narrower replacement.",
  );
  const creationPolicy = child(cluster, "Resource", "CreationRole");
  for (const resource of [
    `arn:<AWS::Partition>:eks:<AWS::Region>:<AWS::AccountId>:cluster/${config.app}-prod/*`,
    `arn:<AWS::Partition>:eks:<AWS::Region>:<AWS::AccountId>:fargateprofile/${config.app}-prod/*`,
  ])
    ack(
      creationPolicy,
      `AwsSolutions-IAM5[Resource::${resource}]`,
      "The aws-cdk-lib cluster creation role manages sub-resources of this one named cluster (updates, profiles) whose ids EKS assigns at run time.",
    );
  ack(
    creationPolicy,
    "AwsSolutions-IAM5[Resource::*]",
    "The aws-cdk-lib cluster creation role calls EC2 describe and IAM pass-role style APIs that support no resource-level permissions during cluster creation.",
  );
  ack(
    logRetention,
    "AwsSolutions-IAM5[Resource::*]",
    "The aws-cdk-lib log retention singleton sets retention on log groups RDS creates at run time, so their ARNs are unknown at deploy time.",
  );
  acknowledgeProviderFindings(clusterProvider, kubectlProvider);
}

/** The provider framework behind the cluster and kubectl custom resources. */
function acknowledgeProviderFindings(
  clusterProvider: IConstruct | undefined,
  kubectlProvider: IConstruct | undefined,
): void {
  for (const scope of [clusterProvider, kubectlProvider]) {
    for (const fn of [
      "OnEventHandler42BEBAE0",
      "IsCompleteHandler7073F4DA",
      "ProviderframeworkisComplete26D7B0CB",
      "ProviderframeworkonTimeout0B47CA38",
      "Handler886CB40B",
    ])
      ack(
        scope,
        `AwsSolutions-IAM5[Resource::<${fn}.Arn>:*]`,
        "The custom resource provider framework of aws-cdk-lib invokes its own handler function by ARN; the trailing wildcard covers that function's versions and aliases only.",
      );
  }
  ack(
    clusterProvider,
    "AwsSolutions-SF1",
    "The waiter state machine belongs to the aws-cdk-lib provider framework, only polls cluster creation, and exposes no logging properties to configure.",
  );
  ack(
    clusterProvider,
    "AwsSolutions-SF2",
    "The waiter state machine belongs to the aws-cdk-lib provider framework, only polls cluster creation, and exposes no tracing properties to configure.",
  );
  ack(
    kubectlProvider,
    "AwsSolutions-L1",
    "The kubectl handler's runtime is chosen by aws-cdk-lib to match the kubectl layer it bundles; it moves forward when aws-cdk-lib is upgraded.",
  );
}

/** Findings on what the stack configures itself: the cluster endpoint, nodes, ESO and the database. */
function acknowledgeOwnFindings({ config, cluster, nodegroup, eso, database }: PlatformFindingsScope): void {
  ack(
    cluster,
    "AwsSolutions-EKS1",
    "The public endpoint lets admins and the CDK kubectl handler reach the API; access entries with IAM authentication gate it and apiAllowedCidrs narrows it.",
  );
  for (const name of [
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
  ])
    ack(
      nodegroup.role,
      managed(name),
      `EKS managed nodes need ${name} to join the cluster, run the VPC CNI and pull images; AWS maintains these policies for exactly that role.`,
    );
  if (config.ssmPortForward)
    ack(
      nodegroup.role,
      managed("AmazonSSMManagedInstanceCore"),
      "Opted in with ssmPortForward: Session Manager on the nodes is the bastion-free way to port-forward to the private database; no SSH, no open port.",
    );
  ack(
    eso.role,
    `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${config.app}/prod/*]`,
    "External Secrets reads only this app's prod secrets; Secrets Manager appends a random suffix to every secret ARN, so the prefix needs a wildcard.",
  );
  ack(
    child(database, "Secret"),
    "AwsSolutions-SMG4",
    "Pods read the password through an ExternalSecret at start; rotating it would break running connections until a restart, so rotation is a documented manual step.",
  );
  ack(
    database,
    "AwsSolutions-RDS3",
    "Single-AZ by default to keep the example's prod affordable; automated backups cover data loss and `database.multiAz: true` switches Multi-AZ on.",
  );
  ack(
    database,
    "AwsSolutions-RDS11",
    "The app's manifests expect PostgreSQL on 5432; the database is in isolated subnets reachable only from the cluster security group, so a different port adds nothing.",
  );
}
