import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { buildApp } from "../../infra/app.js";
import {
  DEFAULT_ARGOCD_DIR,
  PLATFORM_CONTEXT_KEY,
  platformConfigFromContext,
} from "../../infra/constructs/platform/platform-config.js";
import { CHARTS } from "../../infra/constructs/platform/platform-versions.js";
import { PlatformStack } from "../../infra/stacks/platform-stack.js";
import { InvalidInputError } from "../../shared/domain/errors.js";
import { FIXTURE_CONFIG, type Json, REPO_ROOT, resourcesOf, SYNTH_TIMEOUT_MS } from "./synth-helper.js";

const PLATFORM_FIXTURE = join(REPO_ROOT, "test", "fixtures", "platform", "platform.yaml");
const NO_BUNDLING = { "aws:cdk:bundling-stacks": [] };

// One synth of the platform for the whole file (EKS brings nested stacks and a 37 MB kubectl layer).
let stack: PlatformStack;
let template: Template;
beforeAll(() => {
  const app = new App({ context: NO_BUNDLING, outdir: mkdtempSync(join(tmpdir(), "pourover-platform-")) });
  const config = platformConfigFromContext(PLATFORM_FIXTURE);
  if (!config) throw new Error("fixture config missing");
  stack = new PlatformStack(app, "Platform", { config });
  template = Template.fromStack(stack);
}, SYNTH_TIMEOUT_MS);

/** A Helm chart's `Values` is JSON, sometimes joined with tokens: render tokens as placeholders. */
function valuesOf(resource: Json): Json {
  const v = resource.Properties.Values;
  if (v === undefined) return {};
  if (typeof v === "string") return JSON.parse(v);
  const parts: Json[] = v["Fn::Join"][1];
  return JSON.parse(parts.map((p) => (typeof p === "string" ? p : "TOKEN")).join(""));
}

function manifestOf(resource: Json): Json[] {
  const m = resource.Properties.Manifest;
  if (typeof m === "string") return JSON.parse(m);
  const parts: Json[] = m["Fn::Join"][1];
  return JSON.parse(parts.map((p) => (typeof p === "string" ? p : "TOKEN")).join(""));
}

function manifests(): Json[] {
  return resourcesOf(template, "Custom::AWSCDK-EKS-KubernetesResource").flatMap(([, r]) => manifestOf(r));
}

function chart(name: string): Json {
  const found = resourcesOf(template, "Custom::AWSCDK-EKS-HelmChart").filter(
    ([, r]) => r.Properties.Chart === name,
  );
  expect(found, name).toHaveLength(1);
  return found[0]?.[1];
}

describe("platform config (pourover:platform)", () => {
  it("is off when the context is unset", () => {
    expect(platformConfigFromContext(undefined)).toBeUndefined();
    expect(platformConfigFromContext("")).toBeUndefined();
  });

  it("applies the defaults: 2 x t3.large, deletion protection, db.t4g.micro, Kubernetes 1.36", () => {
    const config = platformConfigFromContext(
      JSON.stringify({
        hostedZone: { id: "Z123ABC", name: "example.org" },
        appHost: "shop.example.org",
        adminPrincipalArn: "arn:aws:iam::123456789012:role/Admin",
        gitops: { repoUrl: "https://github.com/acme/gitops" },
      }),
    );
    expect(config?.nodes).toMatchObject({ instanceType: "t3.large", desiredSize: 2 });
    expect(config?.deletionProtection).toBe(true);
    expect(config?.database.instanceClass).toBe("db.t4g.micro");
    expect(config?.kubernetesVersion).toBe("1.36");
    expect(config?.gitops).toMatchObject({ path: "k8s", targetRevision: "main" });
  });

  it("rejects a bad config with one line per bad field", () => {
    let error: unknown;
    try {
      platformConfigFromContext({
        hostedZone: { id: "nope", name: "example.org" },
        appHost: "shop.elsewhere.net",
        adminPrincipalArn: "root",
        gitops: { repoUrl: "https://github.com/acme/gitops" },
        nodes: { desiredSize: 0 },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    const problems = (error as InvalidInputError).problems;
    expect(problems.every((p) => !p.includes("\n"))).toBe(true);
    for (const field of ["hostedZone.id", "adminPrincipalArn", "nodes.desiredSize"])
      expect(
        problems.some((p) => p.includes(`${PLATFORM_CONTEXT_KEY}: ${field}:`)),
        field,
      ).toBe(true);
  });
});

describe("platform stack", () => {
  it("creates an EKS cluster on the newest supported Kubernetes, API access entries, encrypted secrets", () => {
    template.hasResourceProperties("Custom::AWSCDK-EKS-Cluster", {
      Config: Match.objectLike({
        name: "coffeeshop-prod",
        version: "1.36",
        accessConfig: Match.objectLike({ authenticationMode: "API" }),
        encryptionConfig: [Match.objectLike({ resources: ["secrets"] })],
      }),
    });
    template.hasResourceProperties("AWS::EKS::AccessEntry", {
      PrincipalArn: "arn:aws:iam::123456789012:role/PlatformAdmin",
      AccessPolicies: [Match.objectLike({ AccessScope: { Type: "cluster" } })],
    });
  });

  it("runs a managed node group of 2 x t3.large in the private subnets, one NAT gateway", () => {
    template.hasResourceProperties("AWS::EKS::Nodegroup", {
      InstanceTypes: ["t3.large"],
      ScalingConfig: { DesiredSize: 2, MinSize: 2, MaxSize: 4 },
      AmiType: "AL2023_x86_64_STANDARD",
    });
    template.resourceCountIs("AWS::EC2::NatGateway", 1);
    const subnets = resourcesOf(template, "AWS::EC2::Subnet");
    expect(subnets).toHaveLength(6);
  });

  it("installs every Helm chart at the version pinned in platform-versions.ts", () => {
    for (const pinned of Object.values(CHARTS)) {
      const props = chart(pinned.chart).Properties;
      expect(props.Version, pinned.chart).toBe(pinned.version);
      expect(props.Repository, pinned.chart).toBe(pinned.repository);
      expect(props.Version).toMatch(/^\d+\.\d+\.\d+$/);
    }
  });

  it("waits for every chart's release to be ready (helm --wait, timeout under the 15-minute handler) before applying the objects of its CRDs", () => {
    const charts = resourcesOf(template, "Custom::AWSCDK-EKS-HelmChart");
    expect(charts.length).toBeGreaterThanOrEqual(Object.keys(CHARTS).length);
    for (const [id, r] of charts) {
      expect(r.Properties.Wait, id).toBe(true);
      const seconds = Number(/^(\d+)s$/.exec(String(r.Properties.Timeout))?.[1]);
      expect(seconds, id).toBeGreaterThanOrEqual(300);
      // The kubectl handler Lambda has 15 minutes for download, kubeconfig and the wait together.
      expect(seconds, id).toBeLessThan(900);
    }
    const chartId = (name: string) => charts.find(([, r]) => r.Properties.Chart === name)?.[0];
    // API groups served by each chart's CRDs (and validated by its webhooks).
    const owner: Record<string, string> = {
      "external-secrets.io": "external-secrets",
      "argoproj.io": "argo-cd",
      "traefik.io": "traefik",
    };
    let checked = 0;
    for (const [id, r] of resourcesOf(template, "Custom::AWSCDK-EKS-KubernetesResource")) {
      for (const obj of manifestOf(r)) {
        const group = String(obj.apiVersion).split("/")[0] ?? "";
        const chartName = owner[group];
        if (!chartName) continue;
        checked++;
        expect(r.DependsOn, `${id} ${obj.kind}`).toContain(chartId(chartName));
      }
    }
    expect(checked).toBeGreaterThanOrEqual(3); // ClusterSecretStore, AppProject, Application
    // The NLB host name is read from Traefik's Service only once the release is ready.
    const [[hostnameId, hostname]] = resourcesOf(template, "Custom::AWSCDK-EKS-KubernetesObjectValue") as [
      [string, Json],
    ];
    expect(hostname.DependsOn, hostnameId).toContain(chartId("traefik"));
  });

  it("gives External Secrets AWS access through Pod Identity only, read-only on the app's prod secrets", () => {
    template.hasResourceProperties("AWS::EKS::Addon", { AddonName: "eks-pod-identity-agent" });
    template.hasResourceProperties("AWS::EKS::PodIdentityAssociation", {
      Namespace: "external-secrets",
      ServiceAccount: "external-secrets",
    });
    expect(valuesOf(chart("external-secrets")).serviceAccount).toEqual({
      create: false,
      name: "external-secrets",
    });
    const store = manifests().find((m) => m.kind === "ClusterSecretStore");
    expect(store.apiVersion).toBe("external-secrets.io/v1");
    expect(store.spec.provider.aws).toEqual({ service: "SecretsManager", region: "TOKEN" });
    const [[, role]] = resourcesOf(template, "AWS::IAM::Role").filter(([id]) =>
      id.startsWith("ClusterExternalSecretsServiceAccountRole"),
    ) as [[string, Json]];
    expect(JSON.stringify(role.Properties.AssumeRolePolicyDocument)).toContain("pods.eks.amazonaws.com");
    const policies = resourcesOf(template, "AWS::IAM::Policy").filter(([id]) =>
      id.startsWith("ClusterExternalSecretsServiceAccountRoleDefaultPolicy"),
    );
    const statements: Json[] = policies.flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    expect(statements.flatMap((s) => s.Action).sort()).toEqual([
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue",
    ]);
    expect(JSON.stringify(statements.map((s) => s.Resource))).toContain(":secret:coffeeshop/prod/*");
  });

  it("has no static AWS keys anywhere: no IAM user, no access key, no secretRef auth", () => {
    template.resourceCountIs("AWS::IAM::User", 0);
    template.resourceCountIs("AWS::IAM::AccessKey", 0);
    const text = JSON.stringify(template.toJSON());
    expect(text).not.toMatch(/accessKeyID|secretAccessKey|AKIA[0-9A-Z]{16}/);
  });

  it("exposes Traefik through an NLB that terminates TLS with the ACM certificate", () => {
    const traefik = chart("traefik");
    const values = valuesOf(traefik);
    const annotations = values.service.annotations;
    expect(annotations["service.beta.kubernetes.io/aws-load-balancer-type"]).toBe("nlb");
    expect(annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"]).toBe("TOKEN");
    expect(JSON.stringify(traefik.Properties.Values)).toContain('"Ref":"Certificate');
    expect(values.ports.web.expose.default).toBe(false);
  });

  it("validates the certificate in the configured zone and points the app host at the load balancer", () => {
    template.hasResourceProperties("AWS::CertificateManager::Certificate", {
      DomainName: "coffee.example.com",
      ValidationMethod: "DNS",
      DomainValidationOptions: [{ DomainName: "coffee.example.com", HostedZoneId: "Z0123456789ABCDEFGHIJ" }],
    });
    template.hasResourceProperties("Custom::AWSCDK-EKS-KubernetesObjectValue", {
      ObjectType: "service",
      ObjectName: "traefik",
      ObjectNamespace: "traefik",
      JsonPath: ".status.loadBalancer.ingress[0].hostname",
    });
    const hostnameId = resourcesOf(template, "Custom::AWSCDK-EKS-KubernetesObjectValue")[0]?.[0];
    expect(hostnameId).toBeDefined();
    template.hasResourceProperties("AWS::Route53::RecordSet", {
      HostedZoneId: "Z0123456789ABCDEFGHIJ",
      Name: "coffee.example.com.",
      Type: "CNAME",
      ResourceRecords: [{ "Fn::GetAtt": [hostnameId, "Value"] }],
    });
  });

  it("runs PostgreSQL private, encrypted, backed up, deletion-protected, from the cluster only", () => {
    template.hasResourceProperties("AWS::RDS::DBInstance", {
      Engine: "postgres",
      DBInstanceClass: "db.t4g.micro",
      PubliclyAccessible: false,
      StorageEncrypted: true,
      DeletionProtection: true,
      BackupRetentionPeriod: 7,
    });
    template.hasResource("AWS::RDS::DBInstance", { DeletionPolicy: "Snapshot" });
    template.hasResourceProperties("AWS::SecretsManager::Secret", { Name: "coffeeshop/prod/postgres" });
    const [[, db]] = resourcesOf(template, "AWS::RDS::DBInstance") as [[string, Json]];
    const sgIds = db.Properties.VPCSecurityGroups.map((g: Json) => g["Fn::GetAtt"][0]);
    expect(sgIds).toHaveLength(1);
    const [[, sg]] = resourcesOf(template, "AWS::EC2::SecurityGroup").filter(([id]) => id === sgIds[0]) as [
      [string, Json],
    ];
    expect(sg.Properties.SecurityGroupIngress ?? []).toEqual([]);
    const ingress = resourcesOf(template, "AWS::EC2::SecurityGroupIngress").filter(
      ([, r]) => r.Properties.GroupId["Fn::GetAtt"]?.[0] === sgIds[0],
    );
    expect(ingress.map(([, r]) => r.Properties)).toEqual([
      expect.objectContaining({
        FromPort: 5432,
        ToPort: 5432,
        SourceSecurityGroupId: {
          "Fn::GetAtt": [expect.stringMatching(/^Cluster/), "ClusterSecurityGroupId"],
        },
      }),
    ]);
    const subnetRefs: string[] = resourcesOf(
      template,
      "AWS::RDS::DBSubnetGroup",
    )[0]?.[1].Properties.SubnetIds.map((s: Json) => s.Ref);
    expect(subnetRefs.every((ref) => ref.startsWith("Vpcdatabase"))).toBe(true);
  });

  it("bootstraps Argo CD with the example's AppProject and Application, read from disk and pointed at the config", () => {
    const fromDisk = readFileSync(join(DEFAULT_ARGOCD_DIR, "application.yaml"), "utf8");
    const [exampleApp] = parseAllDocuments(fromDisk).map((d) => d.toJS());
    const applied = manifests().filter((m) => String(m.apiVersion).startsWith("argoproj.io/"));
    const app = applied.find((m) => m.kind === "Application");
    expect(app.metadata.name).toBe(exampleApp.metadata.name);
    expect(app.spec.ignoreDifferences).toEqual(exampleApp.spec.ignoreDifferences);
    expect(app.spec.source).toMatchObject({
      repoURL: "https://github.com/example/coffeeshop-gitops",
      path: "k8s",
      targetRevision: "main",
    });
    const project = applied.find((m) => m.kind === "AppProject");
    if (project) {
      expect(applied.indexOf(project)).toBeLessThan(applied.indexOf(app));
      expect(project.spec.sourceRepos).toContain("https://github.com/example/coffeeshop-gitops");
    }
    const [[bootstrapId, bootstrap]] = resourcesOf(template, "Custom::AWSCDK-EKS-KubernetesResource").filter(
      ([id]) => id.includes("ArgoCdBootstrap"),
    ) as [[string, Json]];
    expect(bootstrapId).toBeDefined();
    expect(bootstrap.DependsOn).toEqual(
      expect.arrayContaining([expect.stringMatching(/^ClusterchartArgoCd/)]),
    );
  });

  it("passes cdk-nag AwsSolutions, every acknowledgement with a reason", () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    const findings = report.violations.map(
      (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(", ")}`,
    );
    expect(findings).toEqual([]);
    let acks = 0;
    for (const c of stack.node.findAll())
      for (const entry of c.node.metadata) {
        if (entry.type !== "aws:cdk:acknowledged-rules" || !entry.data) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          if (!id.includes("AwsSolutions-")) continue;
          acks++;
          expect(String(reason).split(/\s+/).length, `${c.node.path} ${id}`).toBeGreaterThanOrEqual(10);
          if (id.includes("IAM5")) expect(id).toMatch(/IAM5\[(Resource|Action)::.+\]$/);
        }
      }
    expect(acks).toBeGreaterThan(0);
  });
});

describe("app wiring", () => {
  const stackNames = (app: App) => app.node.children.filter(Stack.isStack).map((s) => s.stackName);

  it("creates no platform stack without the context, and one with it", () => {
    const off = buildApp({ configFile: FIXTURE_CONFIG, nag: false, context: NO_BUNDLING });
    expect(off.platform).toBeUndefined();
    expect(stackNames(off.app)).toEqual([off.stack.stackName]);
    const on = buildApp({
      configFile: FIXTURE_CONFIG,
      nag: false,
      context: { ...NO_BUNDLING, [PLATFORM_CONTEXT_KEY]: PLATFORM_FIXTURE },
    });
    expect(stackNames(on.app)).toEqual([on.stack.stackName, "Pourover-coffeeshop-platform"]);
    // The pipeline stack is built the same way whether or not the platform exists beside it.
    expect(on.stack.node.findAll().map((c) => c.node.path)).toEqual(
      off.stack.node.findAll().map((c) => c.node.path),
    );
  });
});
