/**
 * Manifest edits: 1,000 generated Deployments pinned with `editImages`, against the original
 * pipeline's `sed -i "s|<repo>.*|<repo>:<tag>|"` run with the real sed on temp copies.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { editImages } from "../shared/domain/image-editor.js";
import { BENCH_REGISTRY, benchDeployment, differingLines, median, onlyImageLinesDiffer } from "./helpers.js";

export interface ManifestEditResult {
  files: number;
  lines: number;
  /** The first pass over the 1,000 files (a cold Lambda edits once). */
  firstPassMs: number;
  /** Median of the next passes, warm. */
  warmMedianMs: number;
  filesPerSecond: number;
  /** Files whose edited text is exactly the expected one. */
  editorCorrect: number;
  /** Files where only image lines differ. */
  editorOnlyImageLines: number;
  sedAvailable: boolean;
  sedMs: number;
  sedCorrect: number;
  sedOnlyImageLines: number;
  /** One wrong sed edit, to show in the notes. */
  sedExample?: { file: string; line: number; before: string; after: string };
  /** Lines sed got wrong, by kind (the repository shown as <repo>): before → after, and how many. */
  sedWrongKinds: { before: string; after: string; expected: string; count: number }[];
}

const FILES = 1000;
const REPOS = 50;
const OLD_TAG = "v0.0.1";
const NEW_TAG = "v1.0.0";

function repositoryOf(i: number): string {
  return `${BENCH_REGISTRY}/bench-edit-${String(i % REPOS).padStart(2, "0")}`;
}

function digestOf(repository: string): string {
  return `sha256:${createHash("sha256").update(repository).digest("hex")}`;
}

export function manifestEdits(tmp: string): ManifestEditResult {
  const files = Array.from({ length: FILES }, (_, i) => {
    const repository = repositoryOf(i);
    const digest = digestOf(repository);
    return {
      path: `k8s/svc-${i}/deployment.yaml`,
      repository,
      digest,
      before: benchDeployment(i, repository, `${repository}:${OLD_TAG}`),
      expectedPinned: benchDeployment(i, repository, `${repository}:${NEW_TAG}@${digest}`),
      expectedTagOnly: benchDeployment(i, repository, `${repository}:${NEW_TAG}`),
    };
  });
  const lines = files.reduce((n, f) => n + f.before.split("\n").length - 1, 0);

  const pass = () => {
    const t0 = performance.now();
    const out = files.map((f) =>
      editImages(f.before, [{ repository: f.repository, tag: NEW_TAG, digest: f.digest }], {
        kind: "kubernetes",
        pin: "tag+digest",
        path: f.path,
      }),
    );
    return { ms: performance.now() - t0, out };
  };
  const first = pass();
  const warm = [pass().ms, pass().ms, pass().ms];
  let editorCorrect = 0;
  let editorOnlyImageLines = 0;
  first.out.forEach((r, i) => {
    const f = files[i] as (typeof files)[number];
    if (r.text === f.expectedPinned) editorCorrect++;
    if (onlyImageLinesDiffer(f.before, r.text)) editorOnlyImageLines++;
  });

  const sed = sedBaseline(tmp, files);
  return {
    files: FILES,
    lines,
    firstPassMs: first.ms,
    warmMedianMs: median(warm),
    filesPerSecond: FILES / (first.ms / 1000),
    editorCorrect,
    editorOnlyImageLines,
    ...sed,
  };
}

type SedResult = Pick<
  ManifestEditResult,
  "sedAvailable" | "sedMs" | "sedCorrect" | "sedOnlyImageLines" | "sedExample" | "sedWrongKinds"
>;

/** The original pipeline's edit: one real `sed -i` per file, with that file's repository. */
function sedBaseline(
  tmp: string,
  files: { path: string; repository: string; before: string; expectedTagOnly: string }[],
): SedResult {
  // sed: one invocation per file, with that file's repository (a loop over services and files).
  const dir = join(tmp, "sed");
  for (const f of files) {
    mkdirSync(join(dir, f.path, ".."), { recursive: true });
    writeFileSync(join(dir, f.path), f.before);
  }
  const sedCheck = spawnSync("sed", ["--version"], { encoding: "utf8" });
  const sedAvailable = sedCheck.status === 0;
  let sedMs = Number.NaN;
  let sedCorrect = 0;
  let sedOnlyImageLines = 0;
  let sedExample: ManifestEditResult["sedExample"];
  const kinds = new Map<string, ManifestEditResult["sedWrongKinds"][number]>();
  if (sedAvailable) {
    const t0 = performance.now();
    for (const f of files) {
      spawnSync("sed", ["-i", `s|${f.repository}.*|${f.repository}:${NEW_TAG}|`, join(dir, f.path)]);
    }
    sedMs = performance.now() - t0;
    for (const f of files) {
      const after = readFileSync(join(dir, f.path), "utf8");
      if (after === f.expectedTagOnly) sedCorrect++;
      if (onlyImageLinesDiffer(f.before, after)) sedOnlyImageLines++;
      const generic = (line: string | undefined) => (line ?? "").trim().replaceAll(f.repository, "<repo>");
      const expectedLines = f.expectedTagOnly.split("\n");
      const beforeLines = f.before.split("\n");
      const afterLines = after.split("\n");
      for (const i of differingLines(f.expectedTagOnly, after)) {
        const kind = {
          before: generic(beforeLines[i]),
          after: generic(afterLines[i]),
          expected: generic(expectedLines[i]),
        };
        const key = JSON.stringify(kind);
        const seen = kinds.get(key);
        if (seen) seen.count++;
        else kinds.set(key, { ...kind, count: 1 });
      }
      if (!sedExample && after !== f.expectedTagOnly) {
        const wrong = differingLines(f.expectedTagOnly, after)[0] ?? 0;
        sedExample = {
          file: f.path,
          line: wrong + 1,
          before: (f.before.split("\n")[wrong] ?? "").trim(),
          after: (after.split("\n")[wrong] ?? "").trim(),
        };
      }
    }
  }
  return {
    sedAvailable,
    sedMs,
    sedCorrect,
    sedOnlyImageLines,
    ...(sedExample ? { sedExample } : {}),
    sedWrongKinds: [...kinds.values()].sort((a, b) => b.count - a.count),
  };
}
