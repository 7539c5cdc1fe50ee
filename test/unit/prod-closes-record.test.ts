import { afterEach, describe, expect, it } from "vitest";
import { receiveArgocdNotification } from "../../functions/receive-argocd-notification/receive-argocd-notification.js";
import { releasesCommand } from "../../local/releases.js";
import { stateDirLayout } from "../../shared/adapters/local/file-stores.js";
import { SqliteLedger } from "../../shared/adapters/local/sqlite-ledger.js";
import { exampleConfig, tempDir } from "../helpers/local.js";

const config = exampleConfig();
const REGISTRY = `${config.registry.accountId}.dkr.ecr.${config.registry.region}.amazonaws.com`;
const TOKEN = "tok-0123456789abcdefghijklmnopqrstuvwxyz";
const REVISION = "c".repeat(40);

describe("prod closes the record", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it("Synced and Healthy for a merged release PR: the ledger says in prod, the PR gets one comment, releases shows dev and prod", async () => {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const file = stateDirLayout(dir.path).ledger;
    const ledger = new SqliteLedger(file);
    cleanups.push(() => ledger.close());
    for (const [tag, pr] of [
      ["v1.3.0", 7],
      ["v1.4.0", 8],
    ] as const) {
      const executionId = `arn:aws:states:us-east-1:123456789012:execution:pourover-coffeeshop-release:coffeeshop-${tag}-1`;
      await ledger.claim({
        app: "coffeeshop",
        tag,
        executionId,
        claimedAt: `2026-11-2${pr}T10:00:00.000Z`,
        trigger: { source: "cli", pusher: "me" },
      });
      await ledger.record({
        app: "coffeeshop",
        tag,
        executionId,
        status: "SUCCEEDED",
        finishedAt: `2026-11-2${pr}T10:05:00.000Z`,
        summary: {
          pullRequest: {
            branch: `release/coffeeshop/${tag}`,
            url: `https://github.com/your-org/coffeeshop-gitops/pull/${pr}`,
            commit: "d".repeat(40),
          },
          deploy: { instances: [{ instanceId: "i-1", status: "Success", summary: "ok" }], dryRun: false },
        },
      });
    }
    const comments: { number: number | null; branch: string; body: string }[] = [];
    const notify = () =>
      receiveArgocdNotification(
        {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify({
            event: "on-deployed",
            app: "coffeeshop",
            revision: REVISION,
            health: "Healthy",
            images: config.services.map((s) => `${REGISTRY}/${s.repository}:v1.3.0`),
          }),
        },
        {
          config,
          tokens: async () => [TOKEN],
          ledger,
          publisher: { publish: async () => {} },
          mailer: { send: async () => ({ messageId: "m-1" }) },
          clock: { now: () => new Date("2026-11-29T09:00:00.000Z") },
          pullRequests: { comment: async (c) => void comments.push(c) },
        },
      );
    const first = await notify();
    expect(JSON.parse(first.body)).toMatchObject({
      message: "recorded",
      tag: "v1.3.0",
      status: "DEPLOYED",
      commented: true,
    });
    expect((await ledger.get("coffeeshop", "v1.3.0"))?.prod?.status).toBe("DEPLOYED");
    expect(comments).toEqual([
      {
        number: 7,
        branch: "release/coffeeshop/v1.3.0",
        body: `In prod: Argo CD coffeeshop reports coffeeshop v1.3.0 Synced and Healthy at revision ${REVISION.slice(0, 12)} (2026-11-29T09:00:00.000Z). Recorded by Pourover.`,
      },
    ]);
    // Argo CD repeats itself: the record is unchanged and the PR gets no second comment.
    expect(JSON.parse((await notify()).body).message).toBe("duplicate notification");
    expect(comments).toHaveLength(1);

    let out = "";
    await releasesCommand({ stateDir: dir.path, json: false }, (t) => {
      out += t;
    });
    expect(out).toContain("coffeeshop on dev now: v1.4.0");
    expect(out).toContain(
      "coffeeshop in prod now: v1.3.0 (Argo CD coffeeshop Healthy at 2026-11-29T09:00:00.000Z)",
    );
  });
});
