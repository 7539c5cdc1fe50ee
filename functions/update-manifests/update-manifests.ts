import * as z from "zod";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import { lazySchema } from "../../shared/contracts/lazy-schema.js";
import type { PullRequestRef, ScanResult } from "../../shared/contracts/release.js";
import { parseInput } from "../../shared/contracts/zod-problems.js";
import { ManifestInvalidError } from "../../shared/domain/errors.js";
import type { ImageChange } from "../../shared/domain/image-editor.js";
import { parseImageReference } from "../../shared/domain/image-reference.js";
import {
  CHANGELOG_LIMIT,
  type Changelog,
  renderPullRequestBody,
} from "../../shared/domain/pull-request-body.js";
import { compareReleaseTags } from "../../shared/domain/release-version.js";
import type { ArtifactStore, ManifestRepository } from "../../shared/ports/index.js";
import type { SourceHistory } from "../../shared/ports/release-review.js";

const inputSchema = lazySchema(() =>
  z.object({
    app: z.string(),
    tag: z.string(),
    force: z.boolean().default(false),
    executionId: z.string(),
    images: z
      .array(
        z.object({
          service: z.string(),
          repository: z.string(),
          tag: z.string(),
          digest: z.string().optional(),
        }),
      )
      .min(1),
    scans: z.array(z.custom<ScanResult>()).default([]),
    /** Set for a rollback (plan.rollback): its own branch, a downgrade on purpose, no PR superseded. */
    rollback: z.object({ from: z.string().nullable(), requestedAt: z.string() }).nullable().default(null),
  }),
);

type UpdateManifestsInput = z.infer<ReturnType<typeof inputSchema>>;

export interface UpdateManifestsDeps {
  config: AppConfig;
  repo: ManifestRepository;
  artifacts: ArtifactStore;
  executionUrl: (executionId: string) => string;
  /** The app's source history for the changelog; without it the body says it is unavailable. */
  history?: SourceHistory;
}

/**
 * Pins the release's images in every configured manifest with one commit on release/<app>/<tag> and
 * one pull request. Only image values change; a re-run makes no new commit.
 */
export async function updateManifests(rawInput: unknown, deps: UpdateManifestsDeps): Promise<PullRequestRef> {
  const input = parseInput(inputSchema(), rawInput, "UpdateManifests input");
  const { manifests, dev } = deps.config;
  const paths = manifests.files.map((f) => f.path);
  const { baseCommit, files } = await deps.repo.readFiles({ baseBranch: manifests.baseBranch, paths });
  const missing = paths.filter((p) => files[p] == null);
  if (missing.length > 0) {
    throw new ManifestInvalidError(`${manifests.repo}@${manifests.baseBranch} lacks ${missing.join(", ")}`);
  }

  const { changed, changes, composeText } = await editManifests(input, deps.config, files);

  const branchPrefix = `${input.rollback ? "rollback" : "release"}/${input.app}/`;
  const branch = `${branchPrefix}${input.tag}`;
  const composeObject = await deps.artifacts.put(
    `releases/${input.app}/${input.tag}/${dev.composeFile}`,
    composeText,
  );
  if (changed.length === 0) {
    // The base branch already pins exactly these images: nothing to commit, nothing to review.
    return {
      branch,
      commit: null,
      url: null,
      number: null,
      changedFiles: [],
      composeObject,
      unchanged: true,
    };
  }
  // A rollback closes no release PR: the newer releases stay open for when the fix lands.
  const supersede = input.rollback ? {} : { supersede: supersedeOlder(input, branchPrefix) };
  const previous = previousTag(changes, input.tag);
  const changelog = await changelogFor(input, previous, deps.history);
  const body = renderPullRequestBody({
    app: input.app,
    tag: input.tag,
    rollbackFrom: input.rollback ? (input.rollback.from ?? previous ?? "the current release") : null,
    changes,
    scans: input.scans,
    allowList: deps.config.scan.allow,
    changelog,
    executionUrl: deps.executionUrl(input.executionId),
  });
  const published = await deps.repo.publish({
    baseBranch: manifests.baseBranch,
    baseCommit,
    branch,
    message: `${input.rollback ? "rollback" : "release"}(${input.app}): pin ${input.tag}\n\n${changes.map((c) => `${c.path}: ${c.after}`).join("\n")}\n`,
    files: changed,
    pullRequest: {
      title: input.rollback ? `Roll back ${input.app} to ${input.tag}` : `Release ${input.app} ${input.tag}`,
      body,
    },
    ...supersede,
  });
  return {
    branch,
    commit: published.commit,
    url: published.url,
    number: published.number,
    changedFiles: changed.map((c) => c.path),
    composeObject,
    unchanged: published.unchanged,
    body,
    ...(published.superseded?.length ? { superseded: published.superseded } : {}),
    ...(published.supersedeError ? { supersedeError: published.supersedeError } : {}),
  };
}

/** Pins the images in every manifest file; the files that changed, each change, and the dev compose file. */
async function editManifests(
  input: UpdateManifestsInput,
  config: AppConfig,
  files: Record<string, string | null | undefined>,
): Promise<{ changed: { path: string; content: string }[]; changes: ImageChange[]; composeText: string }> {
  const { manifests, dev } = config;
  const updates = input.images.map(({ service, repository, tag, digest }) => ({
    service,
    repository,
    tag,
    ...(digest ? { digest } : {}),
  }));
  const changed: { path: string; content: string }[] = [];
  const changes: ImageChange[] = [];
  let composeText = files[dev.composeFile] ?? null;
  // The editor and the `yaml` library it falls back on (about 130 KB of minified code) are loaded
  // here, not when the Lambda's bundle is, so that they stay out of the cold start's init.
  const { editImages } = await import("../../shared/domain/image-editor.js");
  for (const file of manifests.files) {
    const text = files[file.path] as string;
    const result = editImages(text, updates, {
      kind: file.kind,
      pin: manifests.pin,
      // A rollback goes back to an older version on purpose: the downgrade refusal does not apply.
      force: input.force || input.rollback !== null,
      path: file.path,
      ...(file.kind === "helm" ? { helmPaths: file.imagePaths } : {}),
    });
    if (result.changes.length === 0) continue;
    changed.push({ path: file.path, content: result.text });
    changes.push(...result.changes);
    if (file.path === dev.composeFile) composeText = result.text;
  }
  if (composeText === null) {
    throw new ManifestInvalidError(`the dev compose file ${dev.composeFile} is not among the manifest files`);
  }
  return { changed, changes, composeText };
}

/** Which open release PRs this one closes: those of older releases only. */
function supersedeOlder(input: UpdateManifestsInput, branchPrefix: string) {
  return {
    branchPrefix,
    // Only a release this one is newer than; an unordered tag (or a newer release) stays open.
    isOlder: (head: string) => (compareReleaseTags(head.slice(branchPrefix.length), input.tag) ?? 0) < 0,
    comment: (pull: { number: number | null; url: string | null }) =>
      `Superseded by ${pull.number !== null ? `#${pull.number}` : "the release PR"} (${input.app} ${input.tag})${
        pull.url ? `: ${pull.url}` : ""
      }. Closed by Pourover; this branch is left in place.`,
  };
}

/** The commits since the previous release, or why the body has none. */
async function changelogFor(
  input: UpdateManifestsInput,
  previous: string | null,
  history: SourceHistory | undefined,
): Promise<Changelog> {
  return input.rollback
    ? {
        available: false,
        reason: `a rollback: the commits after ${input.tag}${input.rollback.from ? ` up to ${input.rollback.from}` : ""} leave dev`,
      }
    : !previous
      ? { available: false, reason: "the manifests held no earlier release tag to compare with" }
      : history
        ? await history.changelog(previous, input.tag, CHANGELOG_LIMIT)
        : { available: false, reason: "no source history here (locally: pass --source <checkout>)" };
}

/** The release tag the manifests held before this edit (the first image whose tag changes). */
function previousTag(changes: ImageChange[], tag: string): string | null {
  for (const c of changes) {
    const before = parseImageReference(c.before)?.tag;
    if (before && before !== tag && /^v\d/.test(before)) return before;
  }
  return null;
}
