import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { updateManifests } from "../../functions/update-manifests/update-manifests.js";
import { imageRepository } from "../../shared/contracts/app-config.js";
import type { ScanResult } from "../../shared/contracts/release.js";
import { VersionRegressionError } from "../../shared/domain/errors.js";
import type { ManifestRepository, PublishInput, PublishResult } from "../../shared/ports/index.js";
import { EXAMPLE_DIR, exampleConfig } from "../helpers/local.js";

const config = exampleConfig();
const SEED = join(EXAMPLE_DIR, config.manifests.localSeed ?? "manifests");
const DIGEST = `sha256:${"a".repeat(64)}`;
const BASE_COMMIT = "b".repeat(40);

/** An in-memory manifests repository: the example's seed files, and every publish recorded. */
function memoryRepo(overrides: Record<string, string> = {}) {
  const published: PublishInput[] = [];
  const repo: ManifestRepository = {
    async readFiles({ paths }) {
      const files: Record<string, string | null> = {};
      for (const p of paths) files[p] = overrides[p] ?? readFileSync(join(SEED, p), "utf8");
      return { baseCommit: BASE_COMMIT, files };
    },
    async publish(input): Promise<PublishResult> {
      published.push(input);
      return {
        commit: "c".repeat(40),
        url: "https://github.com/acme/gitops/pull/9",
        number: 9,
        unchanged: false,
      };
    },
  };
  return { repo, published };
}

const artifacts = { put: async (key: string) => `s3://artifacts/${key}` };

function input(tag: string, extra: Record<string, unknown> = {}) {
  return {
    app: "coffeeshop",
    tag,
    executionId: "arn:aws:states:us-east-1:123456789012:execution:release:x",
    images: config.services.map((s) => ({
      service: s.name,
      repository: imageRepository(config, s),
      tag,
      digest: DIGEST,
    })),
    scans: [] as ScanResult[],
    ...extra,
  };
}

async function run(tag: string, extra: Record<string, unknown> = {}, overrides?: Record<string, string>) {
  const { repo, published } = memoryRepo(overrides);
  const ref = await updateManifests(input(tag, extra), {
    config,
    repo,
    artifacts,
    executionUrl: (id) => `https://console.aws.amazon.com/states/home#/v2/executions/details/${id}`,
  });
  return { ref, published };
}

describe("UpdateManifests core", () => {
  it("publishes one change set on release/<app>/<tag>, asking to supersede older releases of the app", async () => {
    const { ref, published } = await run("v1.3.0");
    expect(published).toHaveLength(1);
    const p = published[0] as PublishInput;
    expect(p.branch).toBe("release/coffeeshop/v1.3.0");
    expect(p.baseCommit).toBe(BASE_COMMIT);
    expect(ref).toMatchObject({ branch: p.branch, number: 9, unchanged: false });
    expect(ref.changedFiles).toEqual(p.files.map((f) => f.path));

    const s = p.supersede;
    expect(s?.branchPrefix).toBe("release/coffeeshop/");
    const older = [
      "release/coffeeshop/v1.2.9",
      "release/coffeeshop/v1.3.0-rc.1",
      "release/coffeeshop/v1",
      "release/coffeeshop/v1.2",
    ];
    const notOlder = [
      "release/coffeeshop/v1.3.0",
      "release/coffeeshop/v1.3.1",
      "release/coffeeshop/v2",
      "release/coffeeshop/latest",
      "release/coffeeshop/v1.2.0/extra",
    ];
    expect(older.filter((b) => s?.isOlder(b))).toEqual(older);
    expect(notOlder.filter((b) => s?.isOlder(b))).toEqual([]);
    expect(s?.comment({ number: 9, url: "https://github.com/acme/gitops/pull/9" })).toBe(
      "Superseded by #9 (coffeeshop v1.3.0): https://github.com/acme/gitops/pull/9. Closed by Pourover; this branch is left in place.",
    );
  });

  it("the PR body lists every image change, the execution, and says the dev deploy is pending", async () => {
    const { published } = await run("v1.3.0");
    const body = published[0]?.pullRequest.body ?? "";
    expect(body).toContain("Pins **coffeeshop v1.3.0**");
    for (const s of config.services) {
      expect(body).toContain(`${imageRepository(config, s)}:v1.3.0@${DIGEST}`);
    }
    expect(body).toContain("Execution: https://console.aws.amazon.com/states/home#/v2/executions/details/");
    expect(body).toContain("Dev deploy: pending (see the execution)");
  });

  it("a manifest already at a newer short tag (v2) refuses v1.3.0 unless forced", async () => {
    const web = "123456789012.dkr.ecr.us-east-1.amazonaws.com/go-coffeeshop-web";
    const compose = readFileSync(join(SEED, "docker-compose.yml"), "utf8");
    const ahead = compose.replace(`${web}:v0.0.1`, `${web}:v2`);
    expect(ahead).not.toBe(compose);
    const overrides = { "docker-compose.yml": ahead };
    await expect(run("v1.3.0", {}, overrides)).rejects.toBeInstanceOf(VersionRegressionError);
    const forced = await run("v1.3.0", { force: true }, overrides);
    expect(forced.published).toHaveLength(1);
  });
});
