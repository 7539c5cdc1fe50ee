/**
 * The Argo CD objects the cluster is bootstrapped with, read at synth from the example's YAML
 * (`examples/coffeeshop/manifests/argocd/`) so the repo keeps one copy. Only the repo URL, path and
 * revision come from the platform config: the rest (ignoreDifferences for the HPAs, sync policy)
 * stays as written there.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { InvalidInputError } from "../../../shared/domain/errors.js";

type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown>;
};

export interface GitOpsSource {
  readonly repoUrl: string;
  readonly path: string;
  readonly targetRevision: string;
}

const BOOTSTRAP_KINDS = new Set(["AppProject", "Application"]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function loadArgoCdBootstrap(dir: string, source: GitOpsSource): K8sObject[] {
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort();
  } catch {
    throw new InvalidInputError(`${dir}: cannot read the Argo CD manifests directory`);
  }
  const objects: K8sObject[] = [];
  for (const file of files) {
    const path = join(dir, file);
    for (const doc of parseAllDocuments(readFileSync(path, "utf8"))) {
      if (doc.errors.length > 0)
        throw new InvalidInputError(`${path}: ${doc.errors[0]?.message.split("\n")[0]}`);
      const obj = doc.toJS() as unknown;
      if (!isRecord(obj)) continue;
      const apiVersion = String(obj.apiVersion ?? "");
      if (!apiVersion.startsWith("argoproj.io/") || !BOOTSTRAP_KINDS.has(String(obj.kind))) continue;
      if (!isRecord(obj.metadata) || typeof obj.metadata.name !== "string")
        throw new InvalidInputError(`${path}: ${String(obj.kind)} has no metadata.name`);
      objects.push(obj as K8sObject);
    }
  }
  const applications = objects.filter((o) => o.kind === "Application");
  if (applications.length === 0) throw new InvalidInputError(`${dir}: no Argo CD Application found`);
  const replaced = new Set(applications.map((app) => pointAt(app, source)));
  for (const project of objects.filter((o) => o.kind === "AppProject"))
    allowRepo(project, source.repoUrl, replaced);
  // Projects first: an Application naming a project that does not exist yet is rejected by Argo CD.
  return [...objects.filter((o) => o.kind === "AppProject"), ...applications];
}

/** Points the Application at the configured repo; returns the repo URL it named before. */
function pointAt(app: K8sObject, source: GitOpsSource): string {
  const spec = isRecord(app.spec) ? app.spec : undefined;
  if (!spec || !isRecord(spec.source))
    throw new InvalidInputError(
      `Application ${String(app.metadata.name)}: spec.source is required (one source)`,
    );
  const before = String(spec.source.repoURL ?? "");
  spec.source = {
    ...spec.source,
    repoURL: source.repoUrl,
    path: source.path,
    targetRevision: source.targetRevision,
  };
  return before;
}

/** The project must allow the configured repo; the example's placeholder repo is swapped for it. */
function allowRepo(project: K8sObject, repoUrl: string, replaced: Set<string>): void {
  const spec = isRecord(project.spec) ? project.spec : undefined;
  if (!spec || !Array.isArray(spec.sourceRepos)) return;
  const repos = spec.sourceRepos.filter((r) => !replaced.has(String(r)));
  if (!repos.includes("*") && !repos.includes(repoUrl)) repos.push(repoUrl);
  spec.sourceRepos = repos;
}
