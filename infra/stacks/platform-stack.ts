/**
 * The Go CoffeeShop prod platform (optional, off unless `pourover:platform` is set): a two-AZ VPC,
 * an EKS cluster with a managed node group, Argo CD bootstrapped with the example's Application,
 * External Secrets Operator reading Secrets Manager through Pod Identity, Traefik behind an NLB
 * that terminates TLS with an ACM certificate, a DNS record for the app host, and RDS PostgreSQL
 * reachable only from the cluster. See docs/prod-platform.md.
 */
import {
  ArnFormat,
  aws_certificatemanager as acm,
  CfnOutput,
  Duration,
  aws_ec2 as ec2,
  aws_eks as eks,
  aws_iam as iam,
  aws_kms as kms,
  aws_logs as logs,
  RemovalPolicy,
  aws_rds as rds,
  aws_route53 as route53,
  Stack,
  type StackProps,
  Validations,
} from "aws-cdk-lib";
import type { Construct, IConstruct } from "constructs";
import { loadArgoCdBootstrap } from "../constructs/platform/argocd-bootstrap.js";
import { DatadogAgent, traefikDatadogValues } from "../constructs/platform/datadog-agent.js";
import { DEFAULT_ARGOCD_DIR, type PlatformConfig } from "../constructs/platform/platform-config.js";
import {
  CHARTS,
  EXTERNAL_SECRETS_API_VERSION,
  HELM_TIMEOUT_MINUTES,
  KUBERNETES_VERSIONS,
  POSTGRES_VERSION,
} from "../constructs/platform/platform-versions.js";

export interface PlatformStackProps extends StackProps {
  /** The validated `pourover:platform` config (defaults applied). */
  readonly config: PlatformConfig;
}

const ESO_NAMESPACE = "external-secrets";
const ESO_SERVICE_ACCOUNT = "external-secrets";
const TRAEFIK_NAMESPACE = "traefik";
const ARGOCD_NAMESPACE = "argocd";
const POSTGRES_PORT = 5432;

export class PlatformStack extends Stack {
  readonly cluster: eks.Cluster;
  readonly database: rds.DatabaseInstance;
  readonly certificate: acm.Certificate;
  /** Only with a `datadog` section in the config. */
  readonly datadog?: DatadogAgent;

  constructor(scope: Construct, id: string, props: PlatformStackProps) {
    super(scope, id, props);
    const { config } = props;

    // One NAT gateway: nodes need egress (image pulls, AWS APIs) but the app's traffic comes in
    // through the NLB, so losing the NAT's AZ only stops pulls and syncs until it is back; a second
    // gateway would add about $33/month for that.
    const vpc = new ec2.Vpc(this, "Vpc", {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: "public", subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: "nodes", subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 19 },
        { name: "database", subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
    });
    const flowLogs = new logs.LogGroup(this, "VpcFlowLogs", {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    vpc.addFlowLog("FlowLog", {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });

    const k8s = KUBERNETES_VERSIONS[config.kubernetesVersion];
    this.cluster = new eks.Cluster(this, "Cluster", {
      clusterName: `${config.app}-prod`,
      version: k8s.version,
      kubectlLayer: k8s.kubectlLayer(this, "KubectlLayer"),
      vpc,
      vpcSubnets: [{ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }],
      defaultCapacity: 0,
      authenticationMode: eks.AuthenticationMode.API,
      endpointAccess: eks.EndpointAccess.PUBLIC_AND_PRIVATE.onlyFrom(...config.apiAllowedCidrs),
      secretsEncryptionKey: new kms.Key(this, "ClusterSecretsKey", {
        description: `Envelope encryption of Kubernetes secrets in ${config.app}-prod`,
        enableKeyRotation: true,
      }),
      clusterLogging: [
        eks.ClusterLoggingTypes.API,
        eks.ClusterLoggingTypes.AUDIT,
        eks.ClusterLoggingTypes.AUTHENTICATOR,
        eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
        eks.ClusterLoggingTypes.SCHEDULER,
      ],
    });
    const cluster = this.cluster;

    const nodegroup = cluster.addNodegroupCapacity("Nodes", {
      nodegroupName: "default",
      instanceTypes: [new ec2.InstanceType(config.nodes.instanceType)],
      amiType: /^[a-z]+\d+g/.test(config.nodes.instanceType)
        ? eks.NodegroupAmiType.AL2023_ARM_64_STANDARD
        : eks.NodegroupAmiType.AL2023_X86_64_STANDARD,
      desiredSize: config.nodes.desiredSize,
      minSize: config.nodes.minSize,
      maxSize: config.nodes.maxSize,
      diskSize: config.nodes.diskGiB,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    });
    if (config.ssmPortForward)
      nodegroup.role.addManagedPolicy(
        iam.ManagedPolicy.fromAwsManagedPolicyName("AmazonSSMManagedInstanceCore"),
      );

    cluster.grantAccess("AdminAccess", config.adminPrincipalArn, [
      eks.AccessPolicy.fromAccessPolicyName("AmazonEKSClusterAdminPolicy", {
        accessScopeType: eks.AccessScopeType.CLUSTER,
      }),
    ]);

    // Every release waits until its objects are ready (helm --wait, kstatus with Helm 4), so what
    // is applied after a chart (custom resources its webhooks validate, objects of its CRDs) finds
    // the controller serving. Without it the chart's custom resource completes as soon as Helm has
    // submitted the objects: a ClusterSecretStore applied then hits ESO's validating webhook
    // (failurePolicy Fail) before its pod is up, and the kubectl handler retries only i/o timeouts.
    const helmReady = { wait: true, timeout: Duration.minutes(HELM_TIMEOUT_MINUTES) };

    // HPAs read CPU from the metrics API; EKS does not install metrics-server by itself.
    cluster.addHelmChart("MetricsServer", {
      ...CHARTS.metricsServer,
      ...helmReady,
      release: "metrics-server",
      namespace: "kube-system",
    });

    // DNS and TLS: the certificate is validated through the configured zone, offline at synth.
    const zone = route53.HostedZone.fromHostedZoneAttributes(this, "Zone", {
      hostedZoneId: config.hostedZone.id,
      zoneName: config.hostedZone.name,
    });
    this.certificate = new acm.Certificate(this, "Certificate", {
      domainName: config.appHost,
      validation: acm.CertificateValidation.fromDns(zone),
    });

    // Traefik behind an NLB made by the cluster's cloud controller from these annotations. The NLB
    // terminates TLS with the ACM certificate and forwards plain HTTP to Traefik's `web`
    // entrypoint, so only 443 is exposed and the Ingresses keep `router.entrypoints: web`.
    const traefik = cluster.addHelmChart("Traefik", {
      ...CHARTS.traefik,
      ...helmReady,
      release: "traefik",
      namespace: TRAEFIK_NAMESPACE,
      createNamespace: true,
      values: {
        ...(config.datadog ? traefikDatadogValues() : {}),
        deployment: { replicas: 2 },
        ports: {
          web: { expose: { default: false } },
          websecure: { targetPort: "web", tls: { enabled: false } },
        },
        service: {
          annotations: {
            "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
            "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": this.certificate.certificateArn,
            "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443",
            "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "tcp",
            "service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy":
              "ELBSecurityPolicy-TLS13-1-2-2021-06",
          },
        },
      },
    });

    // The NLB exists only once Traefik's Service is reconciled, so no CDK construct knows it: read
    // its host name back from the Service and point a CNAME at it (the app host is a sub-domain).
    const lbHostname = new eks.KubernetesObjectValue(this, "TraefikLoadBalancerHostname", {
      cluster,
      objectType: "service",
      objectName: "traefik",
      objectNamespace: TRAEFIK_NAMESPACE,
      jsonPath: ".status.loadBalancer.ingress[0].hostname",
      timeout: Duration.minutes(10),
    });
    lbHostname.node.addDependency(traefik);
    new route53.CnameRecord(this, "AppRecord", {
      zone,
      recordName: config.appHost,
      domainName: lbHostname.value,
      ttl: Duration.minutes(5),
      comment: `${config.app} prod: Traefik's NLB`,
    });

    // Database: private isolated subnets, only the cluster security group (which EKS attaches to
    // every managed node, so to every pod on them) may connect.
    const dbSecurityGroup = new ec2.SecurityGroup(this, "DatabaseSecurityGroup", {
      vpc,
      description: `${config.app} prod PostgreSQL: from the EKS cluster only`,
      allowAllOutbound: false,
    });
    dbSecurityGroup.addIngressRule(
      cluster.clusterSecurityGroup,
      ec2.Port.tcp(POSTGRES_PORT),
      "PostgreSQL from the EKS cluster security group (nodes and pods)",
    );
    const secretName = `${config.app}/prod/postgres`;
    this.database = new rds.DatabaseInstance(this, "Database", {
      engine: rds.DatabaseInstanceEngine.postgres({ version: POSTGRES_VERSION }),
      instanceType: new ec2.InstanceType(config.database.instanceClass.replace(/^db\./, "")),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [dbSecurityGroup],
      port: POSTGRES_PORT,
      databaseName: config.database.name,
      credentials: rds.Credentials.fromGeneratedSecret(config.database.username, { secretName }),
      storageEncrypted: true,
      storageType: rds.StorageType.GP3,
      allocatedStorage: config.database.allocatedStorageGiB,
      maxAllocatedStorage: config.database.allocatedStorageGiB * 5,
      backupRetention: Duration.days(config.database.backupRetentionDays),
      multiAz: config.database.multiAz,
      publiclyAccessible: false,
      iamAuthentication: true,
      autoMinorVersionUpgrade: true,
      cloudwatchLogsExports: ["postgresql"],
      cloudwatchLogsRetention: logs.RetentionDays.ONE_MONTH,
      deletionProtection: config.deletionProtection,
      removalPolicy: config.deletionProtection ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
    });

    // External Secrets: the controller's service account gets AWS credentials from Pod Identity
    // (no keys in any Secret), read-only on this app's prod secrets.
    const esoNamespace = cluster.addManifest("ExternalSecretsNamespace", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ESO_NAMESPACE },
    });
    const esoServiceAccount = cluster.addServiceAccount("ExternalSecretsServiceAccount", {
      name: ESO_SERVICE_ACCOUNT,
      namespace: ESO_NAMESPACE,
      identityType: eks.IdentityType.POD_IDENTITY,
    });
    esoServiceAccount.node.addDependency(esoNamespace);
    const appSecretsArn = this.formatArn({
      service: "secretsmanager",
      resource: "secret",
      resourceName: `${config.app}/prod/*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    esoServiceAccount.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        resources: [appSecretsArn],
      }),
    );
    // ESO's webhook answers only once its cert-controller has injected the CA bundle into the
    // webhook configuration and CRDs and the webhook's endpoints are ready: that is the
    // cert-controller's readiness check, so waiting for the release covers it.
    const externalSecrets = cluster.addHelmChart("ExternalSecrets", {
      ...CHARTS.externalSecrets,
      ...helmReady,
      release: "external-secrets",
      namespace: ESO_NAMESPACE,
      createNamespace: false,
      values: {
        installCRDs: true,
        serviceAccount: { create: false, name: ESO_SERVICE_ACCOUNT },
      },
    });
    externalSecrets.node.addDependency(esoServiceAccount);
    const secretStore = cluster.addManifest("ClusterSecretStore", {
      apiVersion: EXTERNAL_SECRETS_API_VERSION,
      kind: "ClusterSecretStore",
      metadata: { name: config.clusterSecretStoreName },
      // No `auth`: the provider uses the controller pod's own credentials, i.e. Pod Identity.
      spec: { provider: { aws: { service: "SecretsManager", region: this.region } } },
    });
    secretStore.node.addDependency(externalSecrets);

    // Argo CD, then the AppProject/Application from the example: from here on the manifests repo
    // drives the cluster (a person merges the release PR, Argo CD syncs).
    const argoCd = cluster.addHelmChart("ArgoCd", {
      ...CHARTS.argoCd,
      ...helmReady,
      release: "argocd",
      namespace: ARGOCD_NAMESPACE,
      createNamespace: true,
      values: { dex: { enabled: false } },
    });
    const bootstrap = cluster.addManifest(
      "ArgoCdBootstrap",
      ...loadArgoCdBootstrap(config.gitops.argocdManifestsDir ?? DEFAULT_ARGOCD_DIR, config.gitops),
    );
    bootstrap.node.addDependency(argoCd);
    // The app's ExternalSecrets need the store to exist before Argo CD's first sync.
    bootstrap.node.addDependency(secretStore);

    if (config.datadog)
      this.datadog = new DatadogAgent(this, "Datadog", {
        cluster,
        config: config.datadog,
        app: config.app,
        // The literal name (the construct's clusterName is a token until deploy).
        clusterName: `${config.app}-prod`,
        clusterSecretStoreName: config.clusterSecretStoreName,
        externalSecretsChart: externalSecrets,
        secretStore,
      });

    new CfnOutput(this, "ClusterName", { value: cluster.clusterName });
    new CfnOutput(this, "DatabaseEndpoint", { value: this.database.dbInstanceEndpointAddress });
    new CfnOutput(this, "DatabaseSecretName", { value: secretName });
    new CfnOutput(this, "AppUrl", { value: `https://${config.appHost}` });

    this.acknowledgeFindings(config, nodegroup, esoServiceAccount);
  }

  /** cdk-nag AwsSolutions findings that stay, each with why; the rest were fixed above. */
  private acknowledgeFindings(
    config: PlatformConfig,
    nodegroup: eks.Nodegroup,
    eso: eks.ServiceAccount,
  ): void {
    const ack = (scope: IConstruct | undefined, id: string, reason: string) => {
      if (scope) Validations.of(scope).acknowledge({ id, reason });
    };
    const managed = (name: string) =>
      `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${name}]`;
    const cluster = this.cluster;
    const child = (scope: IConstruct, ...path: string[]) =>
      path.reduce<IConstruct | undefined>((c, id) => c?.node.tryFindChild(id), scope);
    // Constructs aws-cdk-lib's EKS module creates for its custom resources (the cluster itself and
    // kubectl/helm): their code and policies are the library's, not ours to change.
    const clusterProvider = child(this, "@aws-cdk--aws-eks.ClusterResourceProvider");
    const kubectlProvider = child(this, "@aws-cdk--aws-eks.KubectlProvider");
    const logRetention = this.node.children.find((c) => c.node.id.startsWith("LogRetention"));
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
      child(this.database, "Secret"),
      "AwsSolutions-SMG4",
      "Pods read the password through an ExternalSecret at start; rotating it would break running connections until a restart, so rotation is a documented manual step.",
    );
    ack(
      this.database,
      "AwsSolutions-RDS3",
      "Single-AZ by default to keep the example's prod affordable; automated backups cover data loss and `database.multiAz: true` switches Multi-AZ on.",
    );
    ack(
      this.database,
      "AwsSolutions-RDS11",
      "The app's manifests expect PostgreSQL on 5432; the database is in isolated subnets reachable only from the cluster security group, so a different port adds nothing.",
    );
  }
}
