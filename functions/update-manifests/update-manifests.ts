import * as z from "zod";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import type { PullRequestRef, ScanResult } from "../../shared/contracts/release.js";
import { zodProblems } from "../../shared/contracts/zod-problems.js";
import { InvalidInputError, ManifestInvalidError } from "../../shared/domain/errors.js";
import { compareReleaseTags, editImages, type ImageChange } from "../../shared/domain/image-editor.js";
import { renderPullRequestBody } from "../../shared/domain/pull-request-body.js";
import type { ArtifactStore, ManifestRepository } from "../../shared/ports/index.js";

const InputSchema = z.object({
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
});

export interface UpdateManifestsDeps {
  config: AppConfig;
  repo: ManifestRepository;
  artifacts: ArtifactStore;
  executionUrl: (executionId: string) => string;
}

/**
 * Pins the release's images in every configured manifest with one commit on release/<app>/<tag> and
 * one pull request. Only image values change; a re-run makes no new commit.
 */
export async function updateManifests(rawInput: unknown, deps: UpdateManifestsDeps): Promise<PullRequestRef> {
  const parsed = InputSchema.safeParse(rawInput);
  if (!parsed.success)
    throw new InvalidInputError(`UpdateManifests input: ${zodProblems(parsed.error).join("; ")}`);
  const input = parsed.data;
  const { manifests, dev } = deps.config;
  const paths = manifests.files.map((f) => f.path);
  const { baseCommit, files } = await deps.repo.readFiles({ baseBranch: manifests.baseBranch, paths });
  const missing = paths.filter((p) => files[p] == null);
  if (missing.length > 0) {
    throw new ManifestInvalidError(`${manifests.repo}@${manifests.baseBranch} lacks ${missing.join(", ")}`);
  }

  const updates = input.images.map(({ service, repository, tag, digest }) => ({
    service,
    repository,
    tag,
    ...(digest ? { digest } : {}),
  }));
  const changed: { path: string; content: string }[] = [];
  const changes: ImageChange[] = [];
  let composeText = files[dev.composeFile] ?? null;
  for (const file of manifests.files) {
    const text = files[file.path] as string;
    const result = editImages(text, updates, {
      kind: file.kind,
      pin: manifests.pin,
      force: input.force,
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

  const branchPrefix = `release/${input.app}/`;
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
  const published = await deps.repo.publish({
    baseBranch: manifests.baseBranch,
    baseCommit,
    branch,
    message: `release(${input.app}): pin ${input.tag}\n\n${changes.map((c) => `${c.path}: ${c.after}`).join("\n")}\n`,
    files: changed,
    pullRequest: {
      title: `Release ${input.app} ${input.tag}`,
      body: renderPullRequestBody({
        app: input.app,
        tag: input.tag,
        changes,
        scans: input.scans,
        executionUrl: deps.executionUrl(input.executionId),
      }),
    },
    supersede: {
      branchPrefix,
      // Only a release this one is newer than; an unordered tag (or a newer release) stays open.
      isOlder: (head) => (compareReleaseTags(head.slice(branchPrefix.length), input.tag) ?? 0) < 0,
      comment: (pull) =>
        `Superseded by ${pull.number !== null ? `#${pull.number}` : "the release PR"} (${input.app} ${input.tag})${
          pull.url ? `: ${pull.url}` : ""
        }. Closed by Pourover; this branch is left in place.`,
    },
  });
  return {
    branch,
    commit: published.commit,
    url: published.url,
    number: published.number,
    changedFiles: changed.map((c) => c.path),
    composeObject,
    unchanged: published.unchanged,
    ...(published.superseded?.length ? { superseded: published.superseded } : {}),
    ...(published.supersedeError ? { supersedeError: published.supersedeError } : {}),
  };
}
