/**
 * The Go CoffeeShop deployment assets (examples/coffeeshop/manifests/) are what users copy, so they
 * are checked as a cluster and Argo CD would see them:
 * - every Kubernetes object against its schema: kubernetes-models for the built-in kinds and the
 *   generated CRD models for Argo CD, External Secrets (v1) and Traefik (traefik.io/v1alpha1);
 *   kustomization files, which are not API objects, against a zod schema of the fields used;
 * - kustomize consistency: every `resources:` entry exists, every file is reached exactly once;
 * - the compose file against the Compose Specification JSON schema (the copy shipped by dclint);
 * - cross-object rules: images, HPAs and ignoreDifferences, probes, ports, references, secrets,
 *   the AppProject whitelist, the notifications wiring;
 * - and that the pipeline's editor pins every service image of a six-service release.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, posix, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { Application } from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application";
import { AppProject } from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1/AppProject";
import { ExternalSecret } from "@kubernetes-models/external-secrets/external-secrets.io/v1/ExternalSecret";
import { SecretStore } from "@kubernetes-models/external-secrets/external-secrets.io/v1/SecretStore";
import { IngressRoute } from "@kubernetes-models/traefik/traefik.io/v1alpha1/IngressRoute";
import { Middleware } from "@kubernetes-models/traefik/traefik.io/v1alpha1/Middleware";
import { Ajv } from "ajv";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import * as z from "zod";
import { imageRepository, parseAppConfig, registryHost } from "../../shared/contracts/app-config.js";
import { editImages, type ImageUpdate } from "../../shared/domain/image-editor.js";
import { imageName, parseImageReference } from "../../shared/domain/image-reference.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/coffeeshop/", import.meta.url));
const MANIFESTS = join(EXAMPLE, "manifests");
const config = parseAppConfig(parse(readFileSync(join(EXAMPLE, "pourover.config.yaml"), "utf8")));
const SERVICES = config.services.map((s) => s.name);
const NAMESPACE = "coffeeshop";

// ---------------------------------------------------------------------------------------------
// Loading

type Obj = Record<string, unknown>;
interface K8sObject {
  file: string; // relative to manifests/
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string | undefined;
  body: Obj;
}

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : [path];
    });
}

const rel = (path: string) => relative(MANIFESTS, path).split("\\").join("/");
const ALL_FILES = walk(MANIFESTS).map(rel);
const isKustomization = (file: string) => posix.basename(file) === "kustomization.yaml";

function loadDocs(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(join(MANIFESTS, file), "utf8"));
  return docs.map((doc) => {
    expect(doc.errors, `${file}: ${doc.errors.map((e) => e.message).join("; ")}`).toEqual([]);
    return doc.toJS() as Obj;
  });
}

function toObject(file: string, body: Obj): K8sObject {
  const meta = (body.metadata ?? {}) as Obj;
  return {
    file,
    apiVersion: String(body.apiVersion),
    kind: String(body.kind),
    name: String(meta.name),
    namespace: meta.namespace as string | undefined,
    body,
  };
}

const KustomizationSchema = z.strictObject({
  apiVersion: z.literal("kustomize.config.k8s.io/v1beta1"),
  kind: z.literal("Kustomization"),
  namespace: z.string().optional(),
  resources: z.array(z.string().min(1)).min(1),
});

/** Resolves a kustomization tree: the files it renders, in order, each with its effective namespace. */
interface Rendered {
  file: string;
  namespace: string | undefined;
}
function renderKustomization(dir: string, namespace?: string): Rendered[] {
  const file = posix.join(dir, "kustomization.yaml");
  const k = KustomizationSchema.parse(parse(readFileSync(join(MANIFESTS, file), "utf8")));
  const ns = namespace ?? k.namespace;
  return [{ file, namespace: ns } as Rendered].concat(
    k.resources.flatMap((entry) => {
      const target = posix.normalize(posix.join(dir, entry));
      const abs = join(MANIFESTS, target);
      if (!existsSync(abs)) throw new Error(`${file}: resources entry ${entry} does not exist`);
      if (statSync(abs).isDirectory()) {
        if (!existsSync(join(abs, "kustomization.yaml")))
          throw new Error(`${file}: ${entry} is a directory without kustomization.yaml`);
        return renderKustomization(target, ns);
      }
      return [{ file: target, namespace: ns }];
    }),
  );
}

const K8S_TREE = renderKustomization("k8s");
const ARGOCD_TREE = renderKustomization("argocd");

function objectsOf(tree: Rendered[]): K8sObject[] {
  return tree
    .filter((t) => !isKustomization(t.file))
    .flatMap((t) =>
      loadDocs(t.file).map((body) => {
        const o = toObject(t.file, body);
        return { ...o, namespace: t.namespace ?? o.namespace };
      }),
    );
}

/** What Argo CD syncs into the namespace (Application path k8s/). */
const APP_OBJECTS = objectsOf(K8S_TREE);
/** What the admin applies once (argocd/). */
const BOOTSTRAP_OBJECTS = objectsOf(ARGOCD_TREE);
const ALL_OBJECTS = [...APP_OBJECTS, ...BOOTSTRAP_OBJECTS];

const ofKind = <T = Obj>(kind: string, objects = ALL_OBJECTS) =>
  objects.filter((o) => o.kind === kind) as (K8sObject & { body: T })[];
const one = (kind: string, name: string) => {
  const found = ALL_OBJECTS.filter((o) => o.kind === kind && o.name === name);
  expect(found, `exactly one ${kind}/${name}`).toHaveLength(1);
  return found[0] as K8sObject;
};

// Loose shapes for the cross-object rules; the schemas above have already checked the types.
interface Probe {
  exec?: unknown;
  httpGet?: { port: number | string; path?: string };
  tcpSocket?: { port: number | string };
  grpc?: { port: number };
}
interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  env?: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
}
interface Workload {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        containers: Container[];
        initContainers?: Container[];
        volumes?: { configMap?: { name: string }; secret?: { secretName: string } }[];
      };
    };
  };
}
const WORKLOAD_KINDS = ["Deployment", "StatefulSet"];
const workloads = () =>
  APP_OBJECTS.filter((o) => WORKLOAD_KINDS.includes(o.kind)) as (K8sObject & {
    body: Workload;
  })[];
const containersOf = (w: Workload) => [
  ...w.spec.template.spec.containers,
  ...(w.spec.template.spec.initContainers ?? []),
];

// ---------------------------------------------------------------------------------------------
// Schemas

type Validating = new (data: unknown) => { validate(): void };
const MODELS: Record<string, Validating> = {};
for (const model of [
  ConfigMap,
  Namespace,
  Service,
  ServiceAccount,
  Deployment,
  StatefulSet,
  HorizontalPodAutoscaler,
  ExternalSecret,
  SecretStore,
  IngressRoute,
  Middleware,
  Application,
  AppProject,
]) {
  MODELS[`${model.apiVersion}/${model.kind}`] = model as unknown as Validating;
}

describe("coffeeshop manifests: Kubernetes schemas", () => {
  it("every YAML document under k8s/ and argocd/ is a known kind", () => {
    expect(ALL_OBJECTS.length).toBeGreaterThan(30);
    const unknown = ALL_OBJECTS.filter((o) => !MODELS[`${o.apiVersion}/${o.kind}`]).map(
      (o) => `${o.file}: ${o.apiVersion}/${o.kind}`,
    );
    expect(unknown).toEqual([]);
  });

  it.each(ALL_OBJECTS.map((o) => [`${o.file} ${o.kind}/${o.name}`, o] as const))(
    "%s validates against its schema",
    (_label, o) => {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`] as Validating;
      expect(() => new Model(o.body).validate()).not.toThrow();
    },
  );

  it("the schemas bite: a broken object is rejected", () => {
    const deployment = structuredClone(one("Deployment", "web").body) as unknown as Workload;
    (deployment.spec.template.spec.containers[0] as unknown as Obj).name = undefined;
    expect(() => new Deployment(deployment as never).validate()).toThrow(/name/);
    const es = structuredClone(one("ExternalSecret", "coffeeshop-db").body) as Obj;
    (es.spec as Obj).refreshInterval = 3600;
    expect(() => new ExternalSecret(es as never).validate()).toThrow(/refreshInterval/);
  });

  it("every object is named, and app objects carry no namespace of their own (kustomize sets it)", () => {
    for (const o of ALL_OBJECTS) expect(o.name, o.file).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    for (const t of K8S_TREE) expect(t.namespace, t.file).toBe(NAMESPACE);
    for (const o of APP_OBJECTS) expect((o.body.metadata as Obj).namespace, o.file).toBeUndefined();
    const keys = APP_OBJECTS.map((o) => `${o.kind}/${o.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe("coffeeshop manifests: kustomize", () => {
  it("every file is reached exactly once from k8s/ or argocd/, or is a known top-level file", () => {
    const reached = [...K8S_TREE, ...ARGOCD_TREE].map((t) => t.file);
    expect(new Set(reached).size).toBe(reached.length);
    const topLevel = ["coffeeshop.env.example", "docker-compose.yml"];
    expect([...reached, ...topLevel].sort()).toEqual(ALL_FILES);
  });

  it("the Application syncs the k8s/ kustomization", () => {
    const app = one("Application", "coffeeshop").body as { spec: { source: { path: string } } };
    expect(existsSync(join(MANIFESTS, app.spec.source.path, "kustomization.yaml"))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Workloads

describe("coffeeshop manifests: workloads", () => {
  it("one Deployment per service, RabbitMQ as a StatefulSet with a volume claim, no in-cluster postgres", () => {
    expect(
      ofKind("Deployment")
        .map((d) => d.name)
        .sort(),
    ).toEqual([...SERVICES].sort());
    const rabbit = one("StatefulSet", "rabbitmq").body as { spec: Obj };
    expect(rabbit.spec.replicas).toBe(1);
    expect(rabbit.spec.volumeClaimTemplates).toEqual([
      expect.objectContaining({ metadata: { name: "data" } }),
    ]);
    const headless = one("Service", String(rabbit.spec.serviceName)).body as { spec: Obj };
    expect(headless.spec.clusterIP).toBe("None");
    const images = workloads().flatMap((w) => containersOf(w.body).map((c) => c.image));
    expect(images.filter((i) => /postgres/.test(i))).toEqual([]);
  });

  it("every Deployment has an autoscaling/v2 HPA, and leaves replicas to it", () => {
    const hpas = ofKind<{ spec: { scaleTargetRef: Obj; minReplicas: number; maxReplicas: number } }>(
      "HorizontalPodAutoscaler",
    );
    for (const d of ofKind<Workload>("Deployment")) {
      expect(d.body.spec.replicas, `${d.name} sets spec.replicas`).toBeUndefined();
      const mine = hpas.filter(
        (h) =>
          h.body.spec.scaleTargetRef.kind === "Deployment" &&
          h.body.spec.scaleTargetRef.apiVersion === "apps/v1" &&
          h.body.spec.scaleTargetRef.name === d.name,
      );
      expect(mine, `HPA for ${d.name}`).toHaveLength(1);
      expect(mine[0]?.apiVersion).toBe("autoscaling/v2");
      expect(mine[0]?.body.spec.minReplicas).toBeLessThanOrEqual(mine[0]?.body.spec.maxReplicas ?? 0);
    }
    // No HPA points at something that does not exist (e.g. the StatefulSet, which has none).
    for (const h of hpas)
      expect(ofKind("Deployment").map((d) => d.name)).toContain(h.body.spec.scaleTargetRef.name);
  });

  it("probes never exec (FROM scratch images have no shell); every listening container is probed", () => {
    const serialized = JSON.stringify(APP_OBJECTS.map((o) => o.body));
    expect(serialized).not.toMatch(/"exec"\s*:/);
    const unprobed: string[] = [];
    for (const w of workloads()) {
      for (const c of containersOf(w.body)) {
        const ports = c.ports ?? [];
        if (ports.length === 0) {
          unprobed.push(c.name);
          continue;
        }
        for (const probe of [c.readinessProbe, c.livenessProbe]) {
          expect(probe, `${w.name}/${c.name} probe`).toBeDefined();
          const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port ?? probe?.grpc?.port;
          const declared = ports.flatMap((p) => [p.containerPort, p.name]);
          expect(declared, `${w.name}/${c.name} probes a port it declares`).toContain(port);
        }
      }
    }
    // Queue consumers with no listener: nothing to probe over TCP/HTTP (see their deployment.yaml).
    expect(unprobed.sort()).toEqual(["barista", "kitchen"]);
  });

  it("containers and probes use only real field names (kubernetes-models accepts unknown fields)", () => {
    const CONTAINER_FIELDS = new Set(
      "args command env envFrom image imagePullPolicy lifecycle livenessProbe name ports readinessProbe resizePolicy resources restartPolicy securityContext startupProbe stdin stdinOnce terminationMessagePath terminationMessagePolicy tty volumeDevices volumeMounts workingDir".split(
        " ",
      ),
    );
    const PROBE_FIELDS = new Set(
      "exec failureThreshold grpc httpGet initialDelaySeconds periodSeconds successThreshold tcpSocket terminationGracePeriodSeconds timeoutSeconds".split(
        " ",
      ),
    );
    for (const w of workloads()) {
      for (const c of containersOf(w.body)) {
        expect(
          Object.keys(c).filter((k) => !CONTAINER_FIELDS.has(k)),
          `${w.name}/${c.name}`,
        ).toEqual([]);
        for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
          expect(
            Object.keys(probe ?? {}).filter((k) => !PROBE_FIELDS.has(k)),
            `${w.name}/${c.name}`,
          ).toEqual([]);
        }
      }
    }
  });

  it("every container has cpu and memory requests and limits", () => {
    for (const w of workloads()) {
      for (const c of containersOf(w.body)) {
        for (const bound of ["requests", "limits"] as const) {
          expect(Object.keys(c.resources?.[bound] ?? {}).sort(), `${w.name}/${c.name} ${bound}`).toEqual([
            "cpu",
            "memory",
          ]);
        }
      }
    }
  });

  it("Services expose the real ports and select an existing workload by a named container port", () => {
    const expected: Record<string, number[]> = {
      proxy: [5000],
      product: [5001],
      counter: [5002],
      web: [8888],
      rabbitmq: [5672, 15672],
    };
    for (const [name, ports] of Object.entries(expected)) {
      const svc = one("Service", name).body as { spec: { ports: { port: number }[] } };
      expect(svc.spec.ports.map((p) => p.port)).toEqual(ports);
    }
    for (const s of ofKind<{ spec: { selector: Record<string, string>; ports: { targetPort: unknown }[] } }>(
      "Service",
    )) {
      const targets = workloads().filter((w) =>
        Object.entries(s.body.spec.selector).every(([k, v]) => w.body.spec.template.metadata.labels[k] === v),
      );
      expect(targets, `Service ${s.name} selects one workload`).toHaveLength(1);
      const declared = containersOf((targets[0] as { body: Workload }).body).flatMap((c) =>
        (c.ports ?? []).flatMap((p) => [p.name, p.containerPort]),
      );
      for (const p of s.body.spec.ports) expect(declared, `Service ${s.name}`).toContain(p.targetPort);
    }
  });

  it("selectors match their pod templates", () => {
    for (const w of workloads()) {
      for (const [k, v] of Object.entries(w.body.spec.selector.matchLabels)) {
        expect(w.body.spec.template.metadata.labels[k], w.name).toBe(v);
      }
    }
  });

  it("ConfigMaps carry the services' real settings, and no credentials", () => {
    const data = (name: string) => (one("ConfigMap", name).body as { data: Record<string, string> }).data;
    expect(data("proxy-config")).toMatchObject({
      GRPC_PRODUCT_HOST: "product",
      GRPC_PRODUCT_PORT: "5001",
      GRPC_COUNTER_HOST: "counter",
      GRPC_COUNTER_PORT: "5002",
    });
    expect(data("counter-config")).toMatchObject({ PRODUCT_CLIENT_URL: "product:5001", IN_DOCKER: "true" });
    expect(data("web-config")).toMatchObject({ WEB_PORT: "8888" });
    // The browser fetches this URL: it must be the public /proxy route, not an in-cluster name.
    expect(data("web-config").REVERSE_PROXY_URL).toMatch(/^https:\/\/[^/]+\/proxy$/);
    for (const cm of ofKind<{ data: Record<string, string> }>("ConfigMap", APP_OBJECTS)) {
      for (const [key, value] of Object.entries(cm.body.data)) {
        expect(key, `${cm.name}`).not.toMatch(/PASS|SECRET|TOKEN|^PG_|RABBITMQ_URL/);
        expect(value, `${cm.name}.${key}`).not.toMatch(/:\/\/[^/\s]+:[^/\s]+@/);
      }
    }
  });

  it("every ConfigMap and Secret a pod reads exists (Secrets as External Secrets targets)", () => {
    const configMaps = ofKind("ConfigMap", APP_OBJECTS).map((c) => c.name);
    const secretKeys = new Map<string, string[]>();
    for (const es of ofKind<{ spec: { target: { name: string; template?: { data?: Obj } } } }>(
      "ExternalSecret",
      APP_OBJECTS,
    )) {
      secretKeys.set(es.body.spec.target.name, Object.keys(es.body.spec.target.template?.data ?? {}));
    }
    for (const w of workloads()) {
      const spec = w.body.spec.template.spec;
      for (const c of containersOf(w.body)) {
        for (const from of c.envFrom ?? []) {
          if (from.configMapRef) expect(configMaps, w.name).toContain(from.configMapRef.name);
          if (from.secretRef) expect([...secretKeys.keys()], w.name).toContain(from.secretRef.name);
        }
        for (const env of c.env ?? []) {
          const ref = env.valueFrom?.secretKeyRef;
          if (ref) expect(secretKeys.get(ref.name), `${w.name} ${env.name}`).toContain(ref.key);
        }
      }
      for (const v of spec.volumes ?? []) {
        if (v.configMap) expect(configMaps, w.name).toContain(v.configMap.name);
        if (v.secret) expect([...secretKeys.keys()], w.name).toContain(v.secret.secretName);
      }
    }
    // The services that talk to postgres and RabbitMQ get exactly the keys they read.
    expect(secretKeys.get("coffeeshop-db")?.sort()).toEqual(["PG_DSN_URL", "PG_URL"]);
    expect(secretKeys.get("coffeeshop-rabbitmq-client")).toEqual(["RABBITMQ_URL"]);
    for (const name of ["counter", "barista", "kitchen"]) {
      const refs = (
        one("Deployment", name).body as unknown as Workload
      ).spec.template.spec.containers.flatMap((c) =>
        (c.envFrom ?? []).flatMap((f) => (f.secretRef ? [f.secretRef.name] : [])),
      );
      expect(refs.sort(), name).toEqual(["coffeeshop-db", "coffeeshop-rabbitmq-client"]);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Secrets

describe("coffeeshop manifests: secrets", () => {
  it("no Secret object in git, and no known default or sample credential anywhere", () => {
    expect(ofKind("Secret")).toEqual([]);
    for (const file of ALL_FILES) {
      const text = readFileSync(join(MANIFESTS, file), "utf8");
      expect(text, file).not.toMatch(/P@ssw0rd|guest:guest|aws_secret_access_key|AKIA[0-9A-Z]{16}/i);
    }
  });

  it("External Secrets use the v1 API and IRSA: no static keys, a ServiceAccount with a role ARN", () => {
    for (const file of ALL_FILES) {
      expect(readFileSync(join(MANIFESTS, file), "utf8"), file).not.toMatch(/external-secrets\.io\/v1beta1/);
    }
    const stores = ofKind<{ spec: { provider: { aws: Obj } } }>("SecretStore");
    expect(stores.length).toBeGreaterThan(0);
    expect(ofKind("ClusterSecretStore")).toEqual([]);
    for (const store of stores) {
      const aws = store.body.spec.provider.aws as {
        service: string;
        auth: { secretRef?: unknown; jwt?: { serviceAccountRef: { name: string } } };
      };
      expect(aws.service).toBe("SecretsManager");
      expect(aws.auth.secretRef, `${store.name} uses static keys`).toBeUndefined();
      const saName = aws.auth.jwt?.serviceAccountRef.name;
      const sa = ALL_OBJECTS.find(
        (o) => o.kind === "ServiceAccount" && o.name === saName && o.namespace === store.namespace,
      );
      expect(sa, `${store.name}: ServiceAccount ${saName} in ${store.namespace}`).toBeDefined();
      const annotations = ((sa?.body.metadata ?? {}) as Obj).annotations as Record<string, string>;
      expect(annotations["eks.amazonaws.com/role-arn"]).toMatch(/^arn:aws:iam::\d{12}:role\/[\w+=,.@-]+$/);
    }
    for (const es of ofKind<{ spec: { secretStoreRef: { kind: string; name: string } } }>("ExternalSecret")) {
      const ref = es.body.spec.secretStoreRef;
      expect(
        stores.some((s) => s.name === ref.name && s.namespace === es.namespace && ref.kind === "SecretStore"),
        `${es.name} -> ${ref.kind}/${ref.name}`,
      ).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Ingress

describe("coffeeshop manifests: Traefik ingress", () => {
  interface Route {
    match: string;
    middlewares?: { name: string }[];
    services: { name: string; port: number }[];
  }
  const route = one("IngressRoute", "coffeeshop").body as { spec: { routes: Route[] } };
  const byPrefix = (prefix: string) =>
    route.spec.routes.find((r) => r.match.includes(`PathPrefix(\`${prefix}\`)`)) as Route;

  it("/ goes to web:8888 and /proxy to proxy:5000 through a strip-prefix middleware", () => {
    expect(byPrefix("/").services).toEqual([expect.objectContaining({ name: "web", port: 8888 })]);
    const proxy = byPrefix("/proxy");
    expect(proxy.services).toEqual([expect.objectContaining({ name: "proxy", port: 5000 })]);
    expect(proxy.middlewares).toHaveLength(1);
    const mw = one("Middleware", proxy.middlewares?.[0]?.name ?? "").body as {
      spec: { stripPrefix: { prefixes: string[] } };
    };
    expect(mw.spec.stripPrefix.prefixes).toEqual(["/proxy"]);
    expect(byPrefix("/").middlewares ?? []).toEqual([]);
  });

  it("the web page is told the public /proxy URL on the same host the ingress serves", () => {
    const host = /Host\(`([^`]+)`\)/.exec(byPrefix("/").match)?.[1];
    const url = (one("ConfigMap", "web-config").body as { data: Record<string, string> }).data
      .REVERSE_PROXY_URL;
    expect(url).toBe(`https://${host}/proxy`);
  });
});

// ---------------------------------------------------------------------------------------------
// Argo CD

describe("coffeeshop manifests: Argo CD", () => {
  interface AppSpec {
    project: string;
    source: { repoURL: string; path: string; targetRevision: string };
    destination: { server: string; namespace: string };
    syncPolicy: { automated: { prune: boolean; selfHeal: boolean }; syncOptions?: string[] };
    ignoreDifferences: { group: string; kind: string; name: string; jsonPointers: string[] }[];
  }
  const app = one("Application", "coffeeshop") as K8sObject & { body: { spec: AppSpec } };
  const spec = app.body.spec;

  it("automated sync with prune and self-heal from the base branch of the configured repo", () => {
    expect(spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
    expect(spec.source.repoURL).toBe(`https://github.com/${config.manifests.repo}`);
    expect(spec.source.targetRevision).toBe(config.manifests.baseBranch);
    expect(spec.destination.namespace).toBe(NAMESPACE);
  });

  it("ignoreDifferences covers /spec/replicas of exactly the HPA-managed Deployments", () => {
    const hpaTargets = ofKind<{ spec: { scaleTargetRef: { kind: string; name: string } } }>(
      "HorizontalPodAutoscaler",
    )
      .filter((h) => h.body.spec.scaleTargetRef.kind === "Deployment")
      .map((h) => h.body.spec.scaleTargetRef.name)
      .sort();
    expect(hpaTargets).toEqual([...SERVICES].sort());
    const ignored = spec.ignoreDifferences
      .filter(
        (d) => d.group === "apps" && d.kind === "Deployment" && d.jsonPointers.includes("/spec/replicas"),
      )
      .map((d) => d.name)
      .sort();
    expect(ignored).toEqual(hpaTargets);
    expect(spec.syncPolicy.syncOptions).toContain("RespectIgnoreDifferences=true");
  });

  it("the AppProject is scoped to the repo, the namespace and exactly the kinds k8s/ uses", () => {
    const project = one("AppProject", spec.project).body as {
      spec: {
        sourceRepos: string[];
        destinations: { server: string; namespace: string }[];
        clusterResourceWhitelist: unknown[];
        namespaceResourceWhitelist: { group: string; kind: string }[];
      };
    };
    expect(project.spec.sourceRepos).toEqual([spec.source.repoURL]);
    expect(project.spec.destinations).toEqual([spec.destination]);
    expect(project.spec.clusterResourceWhitelist).toEqual([]);
    const used = [
      ...new Set(
        APP_OBJECTS.map((o) => `${o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : ""}/${o.kind}`),
      ),
    ];
    const allowed = project.spec.namespaceResourceWhitelist.map((w) => `${w.group}/${w.kind}`);
    expect(allowed.sort()).toEqual(used.sort());
    // Nothing cluster-scoped is synced: the Namespace comes from the bootstrap.
    expect(ofKind("Namespace", APP_OBJECTS)).toEqual([]);
    expect(ofKind("Namespace", BOOTSTRAP_OBJECTS).map((n) => n.name)).toEqual([NAMESPACE]);
    expect(spec.syncPolicy.syncOptions ?? []).not.toContain("CreateNamespace=true");
  });

  it("notifications: on-deployed and on-health-degraded go to the pipeline webhook, token by reference", () => {
    const cm = one("ConfigMap", "argocd-notifications-cm") as K8sObject & {
      body: { data: Record<string, string> };
    };
    expect(cm.namespace).toBe("argocd");
    const data = cm.body.data;
    const service = parse(data["service.webhook.pourover"] ?? "") as {
      url: string;
      headers: { name: string; value: string }[];
    };
    expect(service.url).toMatch(/^https:\/\//);
    const auth = service.headers.find((h) => h.name === "Authorization");
    // `$key` is resolved by Argo CD from argocd-notifications-secret: never an inline token.
    expect(auth?.value).toMatch(/^Bearer \$[a-z0-9-]+$/);
    const tokenKey = auth?.value.slice("Bearer $".length);
    const filler = ofKind<{
      spec: { target: { name: string; creationPolicy: string }; data: { secretKey: string }[] };
    }>("ExternalSecret", BOOTSTRAP_OBJECTS).find(
      (es) => es.body.spec.target.name === "argocd-notifications-secret",
    );
    expect(filler?.body.spec.target.creationPolicy).toBe("Merge");
    expect(filler?.body.spec.data.map((d) => d.secretKey)).toEqual([tokenKey]);

    const annotations = (app.body.metadata as Obj).annotations as Record<string, string>;
    for (const trigger of ["on-deployed", "on-health-degraded"]) {
      expect(annotations).toHaveProperty([`notifications.argoproj.io/subscribe.${trigger}.pourover`]);
      const conditions = parse(data[`trigger.${trigger}`] ?? "") as { when: string; send: string[] }[];
      expect(conditions.length, trigger).toBeGreaterThan(0);
      for (const c of conditions) {
        expect(c.when).toMatch(/app\.status\.health\.status == '(Healthy|Degraded)'/);
        for (const template of c.send) {
          const body = parse(data[`template.${template}`] ?? "") as {
            webhook: { pourover: { method: string; body: string } };
          };
          expect(body.webhook.pourover.method).toBe("POST");
          expect(body.webhook.pourover.body).toContain(".app.status.sync.revision");
        }
      }
    }
    expect(parse(data["trigger.on-deployed"] ?? "")[0].oncePer).toBe("app.status.sync.revision");
  });
});

// ---------------------------------------------------------------------------------------------
// Compose

const COMPOSE_FILE = config.dev.composeFile;
const compose = parse(readFileSync(join(MANIFESTS, COMPOSE_FILE), "utf8")) as {
  services: Record<
    string,
    {
      image: string;
      env_file?: string[];
      environment?: Record<string, string>;
      healthcheck?: { test: string[] };
      depends_on?: Record<string, { condition: string }>;
      ports?: string[];
    }
  >;
};

describe("coffeeshop manifests: the dev compose file", () => {
  it("validates against the Compose Specification schema", () => {
    const require = createRequire(import.meta.url);
    const schemaPath = join(
      dirname(require.resolve("dclint/package.json")),
      "schemas",
      "compose.schema.json",
    );
    const { $schema: _draft, ...schema } = JSON.parse(readFileSync(schemaPath, "utf8"));
    const ajv = new Ajv({ allErrors: true, strict: false });
    const validate = ajv.compile(schema);
    expect(validate(compose), ajv.errorsText(validate.errors)).toBe(true);
    // The schema bites: an unknown service key and a bad depends_on condition are rejected.
    const broken = structuredClone(compose) as Obj & { services: Record<string, Obj> };
    (broken.services.web as Obj).imagee = "x";
    (broken.services.counter as Obj).depends_on = { postgres: { condition: "healthy" } };
    expect(validate(broken)).toBe(false);
  });

  it("the same six services plus postgres and rabbitmq, both with health checks", () => {
    expect(Object.keys(compose.services).sort()).toEqual([...SERVICES, "postgres", "rabbitmq"].sort());
    for (const infra of ["postgres", "rabbitmq"]) {
      expect(compose.services[infra]?.healthcheck?.test.length, infra).toBeGreaterThan(0);
    }
  });

  it("whoever uses postgres or rabbitmq waits for them to be healthy", () => {
    for (const name of ["counter", "barista", "kitchen"]) {
      expect(compose.services[name]?.depends_on, name).toMatchObject({
        postgres: { condition: "service_healthy" },
        rabbitmq: { condition: "service_healthy" },
      });
    }
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const [dep, { condition }] of Object.entries(svc.depends_on ?? {})) {
        expect(compose.services, `${name} depends on ${dep}`).toHaveProperty([dep]);
        if (dep === "postgres" || dep === "rabbitmq") expect(condition).toBe("service_healthy");
      }
    }
  });

  it("no credentials in the file: they come from coffeeshop.env, whose example holds placeholders only", () => {
    const needed = new Set<string>();
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const [key, value] of Object.entries(svc.environment ?? {})) {
        expect(key, name).not.toMatch(/PASS|SECRET|TOKEN|^PG_|RABBITMQ_URL/);
        expect(String(value), `${name}.${key}`).not.toMatch(/:\/\/[^/\s]+:[^/\s]+@/);
      }
      if (svc.env_file) expect(svc.env_file, name).toEqual(["coffeeshop.env"]);
      if (["postgres", "rabbitmq", "counter", "barista", "kitchen"].includes(name)) {
        expect(svc.env_file, `${name} reads coffeeshop.env`).toBeDefined();
      }
      if (name === "postgres")
        for (const k of ["POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"]) needed.add(k);
      if (name === "rabbitmq")
        for (const k of ["RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"]) needed.add(k);
      if (["counter", "barista", "kitchen"].includes(name))
        for (const k of ["PG_URL", "PG_DSN_URL", "RABBITMQ_URL"]) needed.add(k);
    }
    const example = readFileSync(join(MANIFESTS, "coffeeshop.env.example"), "utf8");
    const entries = Object.fromEntries(
      example
        .split("\n")
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    expect(Object.keys(entries).sort()).toEqual([...needed].sort());
    for (const [key, value] of Object.entries(entries)) {
      if (/PASS|_URL$/.test(key)) expect(value, key).toContain("change-me");
    }
  });

  it("publishes the ports the dev health checks use", () => {
    expect(compose.services.web?.ports).toEqual(["8888:8888"]);
    expect(compose.services.proxy?.ports).toEqual(["5000:5000"]);
    expect(config.dev.healthUrls).toEqual(["http://localhost:8888/", "http://localhost:5000/"]);
  });
});

// ---------------------------------------------------------------------------------------------
// Images and the editor

describe("coffeeshop manifests: images", () => {
  const repos = Object.fromEntries(config.services.map((s) => [s.name, imageRepository(config, s)]));
  const nameOf = (image: string) => {
    const ref = parseImageReference(image);
    expect(ref, image).not.toBeNull();
    return imageName(ref as NonNullable<typeof ref>);
  };

  it("every image of the config is in the compose file and in exactly one k8s Deployment", () => {
    for (const service of SERVICES) {
      const repo = repos[service];
      const inCompose = Object.values(compose.services).filter((s) => nameOf(s.image) === repo);
      expect(inCompose, `${service} in compose`).toHaveLength(1);
      const inK8s = workloads().flatMap((w) => containersOf(w.body).filter((c) => nameOf(c.image) === repo));
      expect(inK8s, `${service} in k8s`).toHaveLength(1);
    }
  });

  it("every pipeline image lives in a file the config lists, so a release pins it", () => {
    const listed = config.manifests.files.map((f) => f.path);
    const host = registryHost(config);
    for (const file of ALL_FILES) {
      if (readFileSync(join(MANIFESTS, file), "utf8").includes(host)) expect(listed, file).toContain(file);
    }
  });

  it("a six-service release pins every image once per file it appears in, and changes nothing else", () => {
    const digestOf = (i: number) => `sha256:${String(i + 1).repeat(64)}`;
    const updates: ImageUpdate[] = SERVICES.map((s, i) => ({
      repository: repos[s] as string,
      tag: "v1.2.3",
      digest: digestOf(i),
    }));
    let total = 0;
    for (const file of config.manifests.files) {
      const text = readFileSync(join(MANIFESTS, file.path), "utf8");
      const out = editImages(text, updates, { kind: file.kind, pin: config.manifests.pin, path: file.path });
      const present = SERVICES.filter((s) => text.includes(`${repos[s]}:`));
      expect(present.length, file.path).toBeGreaterThan(0);
      expect(out.changes.map((c) => c.repository).sort(), file.path).toEqual(
        present.map((s) => repos[s]).sort(),
      );
      total += out.changes.length;
      // Only the image values differ: undo them and the original bytes come back.
      let restored = out.text;
      for (const c of out.changes) restored = restored.replace(c.after, c.before);
      expect(restored, file.path).toBe(text);
      for (const [i, s] of SERVICES.entries()) {
        if (present.includes(s)) expect(out.text).toContain(`${repos[s]}:v1.2.3@${digestOf(i)}`);
      }
      // Third-party images (postgres, rabbitmq) are not the pipeline's to pin.
      expect(out.changes.map((c) => c.before).filter((b) => /postgres|rabbitmq/.test(b))).toEqual([]);
      // A re-run is a no-op.
      expect(editImages(out.text, updates, { kind: file.kind, pin: config.manifests.pin }).text).toBe(
        out.text,
      );
    }
    // compose (6) + one Deployment per service (6).
    expect(total).toBe(2 * SERVICES.length);
  });
});
