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
} from "aws-cdk-lib";
import type { Construct } from "constructs";
import { loadArgoCdBootstrap } from "../constructs/platform/argocd-bootstrap.js";
import { DatadogAgent, traefikDatadogValues } from "../constructs/platform/datadog-agent.js";
import { DEFAULT_ARGOCD_DIR, type PlatformConfig } from "../constructs/platform/platform-config.js";
import { acknowledgePlatformFindings } from "../constructs/platform/platform-findings.js";
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
/**
 * Every release waits until its objects are ready (helm --wait, kstatus with Helm 4), so what is
 * applied after a chart (custom resources its webhooks validate, objects of its CRDs) finds the
 * controller serving. Without it the chart's custom resource completes as soon as Helm has submitted
 * the objects: a ClusterSecretStore applied then hits ESO's validating webhook (failurePolicy Fail)
 * before its pod is up, and the kubectl handler retries only i/o timeouts.
 */
const HELM_READY = { wait: true, timeout: Duration.minutes(HELM_TIMEOUT_MINUTES) };

export class PlatformStack extends Stack {
  readonly cluster: eks.Cluster;
  readonly database: rds.DatabaseInstance;
  readonly certificate: acm.Certificate;
  /** Only with a `datadog` section in the config. */
  readonly datadog?: DatadogAgent;

  constructor(scope: Construct, id: string, props: PlatformStackProps) {
    super(scope, id, props);
    const { config } = props;
    const vpc = this.network();
    this.cluster = this.newCluster(config, vpc);
    const nodegroup = this.nodes(config);
    this.addChart("MetricsServer", CHARTS.metricsServer, {
      release: "metrics-server",
      namespace: "kube-system",
    });
    const zone = route53.HostedZone.fromHostedZoneAttributes(this, "Zone", {
      hostedZoneId: config.hostedZone.id,
      zoneName: config.hostedZone.name,
    });
    // TLS: the certificate is validated through the configured zone, offline at synth.
    this.certificate = new acm.Certificate(this, "Certificate", {
      domainName: config.appHost,
      validation: acm.CertificateValidation.fromDns(zone),
    });
    this.ingress(config, zone);
    const secretName = `${config.app}/prod/postgres`;
    this.database = this.newDatabase(config, vpc, secretName);
    const eso = this.externalSecrets(config);
    this.argoCd(config, eso.secretStore);

    if (config.datadog)
      this.datadog = new DatadogAgent(this, "Datadog", {
        cluster: this.cluster,
        config: config.datadog,
        app: config.app,
        // The literal name (the construct's clusterName is a token until deploy).
        clusterName: `${config.app}-prod`,
        clusterSecretStoreName: config.clusterSecretStoreName,
        externalSecretsChart: eso.chart,
        secretStore: eso.secretStore,
      });

    new CfnOutput(this, "ClusterName", { value: this.cluster.clusterName });
    new CfnOutput(this, "DatabaseEndpoint", { value: this.database.dbInstanceEndpointAddress });
    new CfnOutput(this, "DatabaseSecretName", { value: secretName });
    new CfnOutput(this, "AppUrl", { value: `https://${config.appHost}` });

    acknowledgePlatformFindings({
      stack: this,
      config,
      cluster: this.cluster,
      nodegroup,
      database: this.database,
      eso: eso.serviceAccount,
    });
  }

  /** A chart from platform-versions, installed once its objects are ready (HELM_READY). */
  private addChart(
    id: string,
    chart: (typeof CHARTS)[keyof typeof CHARTS],
    options: Omit<eks.HelmChartOptions, "chart" | "repository" | "version">,
  ): eks.HelmChart {
    return this.cluster.addHelmChart(id, { ...chart, ...HELM_READY, ...options });
  }

  /**
   * One NAT gateway: nodes need egress (image pulls, AWS APIs) but the app's traffic comes in
   * through the NLB, so losing the NAT's AZ only stops pulls and syncs until it is back; a second
   * gateway would add about $33/month for that.
   */
  private network(): ec2.Vpc {
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
    return vpc;
  }

  private newCluster(config: PlatformConfig, vpc: ec2.IVpc): eks.Cluster {
    const k8s = KUBERNETES_VERSIONS[config.kubernetesVersion];
    return new eks.Cluster(this, "Cluster", {
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
  }

  /** The managed node group and the admin's access entry. */
  private nodes(config: PlatformConfig): eks.Nodegroup {
    const nodegroup = this.cluster.addNodegroupCapacity("Nodes", {
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

    this.cluster.grantAccess("AdminAccess", config.adminPrincipalArn, [
      eks.AccessPolicy.fromAccessPolicyName("AmazonEKSClusterAdminPolicy", {
        accessScopeType: eks.AccessScopeType.CLUSTER,
      }),
    ]);
    return nodegroup;
  }

  /**
   * Traefik behind an NLB made by the cluster's cloud controller from these annotations. The NLB
   * terminates TLS with the ACM certificate and forwards plain HTTP to Traefik's `web` entrypoint,
   * so only 443 is exposed and the Ingresses keep `router.entrypoints: web`.
   */
  private ingress(config: PlatformConfig, zone: route53.IHostedZone): void {
    const traefik = this.addChart("Traefik", CHARTS.traefik, {
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
      cluster: this.cluster,
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
  }

  /**
   * Private isolated subnets, only the cluster security group (which EKS attaches to every managed
   * node, so to every pod on them) may connect.
   */
  private newDatabase(config: PlatformConfig, vpc: ec2.IVpc, secretName: string): rds.DatabaseInstance {
    const dbSecurityGroup = new ec2.SecurityGroup(this, "DatabaseSecurityGroup", {
      vpc,
      description: `${config.app} prod PostgreSQL: from the EKS cluster only`,
      allowAllOutbound: false,
    });
    dbSecurityGroup.addIngressRule(
      this.cluster.clusterSecurityGroup,
      ec2.Port.tcp(POSTGRES_PORT),
      "PostgreSQL from the EKS cluster security group (nodes and pods)",
    );
    return new rds.DatabaseInstance(this, "Database", {
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
  }

  /**
   * External Secrets: the controller's service account gets AWS credentials from Pod Identity (no
   * keys in any Secret), read-only on this app's prod secrets.
   */
  private externalSecrets(config: PlatformConfig): {
    serviceAccount: eks.ServiceAccount;
    chart: eks.HelmChart;
    secretStore: eks.KubernetesManifest;
  } {
    const cluster = this.cluster;
    const esoNamespace = cluster.addManifest("ExternalSecretsNamespace", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ESO_NAMESPACE },
    });
    const serviceAccount = cluster.addServiceAccount("ExternalSecretsServiceAccount", {
      name: ESO_SERVICE_ACCOUNT,
      namespace: ESO_NAMESPACE,
      identityType: eks.IdentityType.POD_IDENTITY,
    });
    serviceAccount.node.addDependency(esoNamespace);
    const appSecretsArn = this.formatArn({
      service: "secretsmanager",
      resource: "secret",
      resourceName: `${config.app}/prod/*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    serviceAccount.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        resources: [appSecretsArn],
      }),
    );
    // ESO's webhook answers only once its cert-controller has injected the CA bundle into the
    // webhook configuration and CRDs and the webhook's endpoints are ready: that is the
    // cert-controller's readiness check, so waiting for the release covers it.
    const chart = this.addChart("ExternalSecrets", CHARTS.externalSecrets, {
      release: "external-secrets",
      namespace: ESO_NAMESPACE,
      createNamespace: false,
      values: {
        installCRDs: true,
        serviceAccount: { create: false, name: ESO_SERVICE_ACCOUNT },
      },
    });
    chart.node.addDependency(serviceAccount);
    const secretStore = cluster.addManifest("ClusterSecretStore", {
      apiVersion: EXTERNAL_SECRETS_API_VERSION,
      kind: "ClusterSecretStore",
      metadata: { name: config.clusterSecretStoreName },
      // No `auth`: the provider uses the controller pod's own credentials, i.e. Pod Identity.
      spec: { provider: { aws: { service: "SecretsManager", region: this.region } } },
    });
    secretStore.node.addDependency(chart);
    return { serviceAccount, chart, secretStore };
  }

  /**
   * Argo CD, then the AppProject/Application from the example: from here on the manifests repo
   * drives the cluster (a person merges the release PR, Argo CD syncs).
   */
  private argoCd(config: PlatformConfig, secretStore: eks.KubernetesManifest): void {
    const argoCd = this.addChart("ArgoCd", CHARTS.argoCd, {
      release: "argocd",
      namespace: ARGOCD_NAMESPACE,
      createNamespace: true,
      values: { dex: { enabled: false } },
    });
    const bootstrap = this.cluster.addManifest(
      "ArgoCdBootstrap",
      ...loadArgoCdBootstrap(config.gitops.argocdManifestsDir ?? DEFAULT_ARGOCD_DIR, config.gitops),
    );
    bootstrap.node.addDependency(argoCd);
    // The app's ExternalSecrets need the store to exist before Argo CD's first sync.
    bootstrap.node.addDependency(secretStore);
  }
}
