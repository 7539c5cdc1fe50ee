import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { DeployRunner } from "../../local/local-tasks.js";
import { releasesCommand } from "../../local/releases.js";
import { type SesLocal, sesLocalClient, startSesLocal } from "../../local/ses-local.js";
import { SesMailer } from "../../shared/adapters/aws/ses-mailer.js";
import { initManifestRepo } from "../../shared/adapters/local/git-manifest-repository.js";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import { NotificationFailedError } from "../../shared/domain/errors.js";
import type { Mailer } from "../../shared/ports/index.js";
import { CRITICAL_REPORT, exampleConfig, manifestsSeedAt, startRuntime } from "../helpers/local.js";

interface StoredEmail {
  messageId: string;
  subject: string;
  from: string;
  destination: { to: string[] };
  body: { html?: string; text?: string };
}

/** What aws-ses-v2-local received: asserted on the emulator's side, not on what we meant to send. */
async function received(endpoint: string, tag: string): Promise<StoredEmail[]> {
  const store = (await (await fetch(`${endpoint}/store`)).json()) as { emails: StoredEmail[] };
  return store.emails.filter((e) => e.subject.includes(` ${tag} `));
}

/** The example app with one extra recipient for scan rejections (notify.byOutcome). */
function config(overrides: Partial<AppConfig> = {}): AppConfig {
  const base = exampleConfig();
  return {
    ...base,
    notify: { ...base.notify, byOutcome: { "scan-rejected": ["security@example.com"] } },
    ...overrides,
  };
}

const deployed: DeployRunner = {
  mode: "custom",
  run: async () => ({
    instanceId: "i-0aaaaaaaaaaaaaaaa",
    status: "Success",
    output: 'up -d --wait ok\n{"status":"deployed","step":"health"}',
  }),
};

describe("every outcome's email arrives at aws-ses-v2-local on 127.0.0.1 (real SDK, real ASL)", () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  it("released to dev: subject, recipients, digests, PR, execution link, who started it, duration", async () => {
    const env = await startRuntime({ config: config(), deployRunner: deployed });
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v2.0.0" });
    expect(out.status).toBe("SUCCEEDED");
    const [mail, ...more] = await received(env.runtime.sesEndpoint as string, "v2.0.0");
    expect(more).toHaveLength(0);
    expect(mail?.subject).toBe("[coffeeshop] v2.0.0 released to dev");
    expect(mail?.from).toBe("releases@example.com");
    expect(mail?.destination.to).toEqual(["dev-team@example.com"]);
    const text = mail?.body.text ?? "";
    expect(text).toMatch(/web\s+\S+go-coffeeshop-web:v2\.0\.0\s+sha256:[a-f0-9]{64}/);
    expect(text).toContain("release/coffeeshop/v2.0.0");
    expect(text).toMatch(/Started by:\s+\S+ \(pourover CLI\)/);
    expect(text).toMatch(/Duration:\s+\d+s from claim to this email/);
    expect(text).toContain(`Execution: pourover show ${out.executionId.split(":").pop()}`);
    expect(text).toContain("i-0aaaaaaaaaaaaaaaa");
    expect(mail?.body.html).toContain("<h3");
    // The outbox keeps the same email as .eml and .html.
    expect(readFileSync(out.emails[0] as string, "utf8")).toContain(
      "Subject: [coffeeshop] v2.0.0 released to dev",
    );
    expect(readFileSync((out.emails[0] as string).replace(/\.eml$/, ".html"), "utf8")).toBe(mail?.body.html);
  });

  it("scan rejected: per service CVE ids and the link to the full list (packages, fixed versions); onFailure and byOutcome recipients", async () => {
    const env = await startRuntime({ config: config() });
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v2.1.0", scanReports: { web: CRITICAL_REPORT } });
    expect(out.status).toBe("FAILED");
    const [mail] = await received(env.runtime.sesEndpoint as string, "v2.1.0");
    expect(mail?.subject).toBe("[coffeeshop] v2.1.0 blocked: 1 critical, 1 high vulnerabilities");
    expect(mail?.destination.to).toEqual([
      "dev-team@example.com",
      "oncall@example.com",
      "security@example.com",
    ]);
    const text = mail?.body.text ?? "";
    expect(text).toContain("web blocked by 2 findings (1 critical, 1 high)");
    expect(text).toMatch(/- CVE-2024-45337\n\s+- CVE-2023-5363\n/);
    expect(text).toMatch(/Full list with packages and fixed versions: file:\/\/\S+\/web\/findings\.json/);
    expect(text).toContain("Next: Fix or upgrade the affected packages");
    expect(text).toMatch(/Scan report web: file:\/\/\S+\/web\/trivy\.json/);
    expect(text).not.toContain("Pull request");
  });

  it("build failed: names the failing service", async () => {
    const base = config();
    const services = base.services.map((s) => {
      if (s.name !== "kitchen") return s;
      const { sampleScanReport: _none, ...rest } = s;
      return rest;
    });
    const env = await startRuntime({ config: { ...base, services } });
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v2.2.0" });
    expect(out.status).toBe("FAILED");
    const [mail] = await received(env.runtime.sesEndpoint as string, "v2.2.0");
    expect(mail?.subject).toBe("[coffeeshop] v2.2.0 build failed: kitchen");
    expect(mail?.destination.to).toEqual(["dev-team@example.com", "oncall@example.com"]);
    expect(mail?.body.text).toContain("Building kitchen of v2.2.0 failed; nothing was pushed or pinned.");
    expect(mail?.body.text).toContain("Open the build logs");
  });

  it("manifest update failed: says nothing was pinned and how to move back on purpose", async () => {
    const seedEnv = await startRuntime();
    const repoDir = join(seedEnv.dir, "gitops");
    await initManifestRepo(repoDir, manifestsSeedAt("v9.0.0", seedEnv.dir), "main");
    await seedEnv.runtime.close();
    const env = await startRuntime({ config: config(), manifestsDir: repoDir });
    stop = async () => {
      await env.stop();
      await seedEnv.stop().catch(() => {});
    };
    const out = await env.runtime.release({ tag: "v2.3.0" });
    expect(out.error?.error).toBe("VersionRegressionError");
    const [mail] = await received(env.runtime.sesEndpoint as string, "v2.3.0");
    expect(mail?.subject).toBe("[coffeeshop] v2.3.0 manifest update failed");
    expect(mail?.body.text).toContain("release this one again with force");
    expect(mail?.body.text).toMatch(/Error: VersionRegressionError: .*v9\.0\.0/);
  });

  it("dev deploy failed: the host's rollback result from its output", async () => {
    const failing: DeployRunner = {
      mode: "custom",
      run: async () => ({
        instanceId: "i-0123456789abcdef0",
        status: "Failed",
        output:
          'health check failed\n{"status":"rolled-back","step":"health","error":"health check failed: http://localhost:8888/","rollback":"ok"}',
      }),
    };
    const env = await startRuntime({ config: config(), deployRunner: failing });
    stop = env.stop;
    const out = await env.runtime.release({ tag: "v2.4.0" });
    expect(out.error?.error).toMatch(/^DevDeploy(RolledBack|Failed)Error$/);
    const [mail] = await received(env.runtime.sesEndpoint as string, "v2.4.0");
    expect(mail?.subject).toBe("[coffeeshop] v2.4.0 dev deploy failed (rolled back)");
    const text = mail?.body.text ?? "";
    expect(text).toContain("dev was rolled back and runs the previous release");
    expect(text).toMatch(/i-0123456789abcdef0\s+Failed\s+rolled-back\s+health\s+ok/);
    expect(text).toContain("release/coffeeshop/v2.4.0");
  });

  it("waiting for images timed out (ImagesNotReadyError): lists what is missing", async () => {
    // Only web was pushed: without sample reports the local registry knows no other image of the tag.
    const base = config();
    const services = base.services.map(({ sampleScanReport, ...rest }) =>
      rest.name === "web" ? { ...rest, sampleScanReport } : rest,
    );
    const env = await startRuntime({ config: { ...base, services } });
    stop = env.stop;
    const out = await env.runtime.release({
      tag: "v2.5.0",
      trigger: { source: "ecr", repository: "go-coffeeshop-web", digest: `sha256:${"e".repeat(64)}` },
    });
    expect(out.error?.error).toBe("ImagesNotReadyError");
    const [mail] = await received(env.runtime.sesEndpoint as string, "v2.5.0");
    expect(mail?.subject).toBe("[coffeeshop] v2.5.0 images not ready: gave up waiting for 5 images");
    expect(mail?.destination.to).toEqual(["dev-team@example.com", "oncall@example.com"]);
    expect(mail?.body.text).toContain("go-coffeeshop-kitchen:v2.5.0");
    expect(mail?.body.text).not.toContain("go-coffeeshop-web:v2.5.0\n");
    expect(mail?.body.text).toMatch(/Triggered by:\s+image push to ECR go-coffeeshop-web@sha256:e{64}/);
  });
});

describe("a failing SES", () => {
  let ses: SesLocal;
  beforeAll(async () => {
    ses = await startSesLocal();
  });
  afterAll(async () => ses.close());

  it("a throttled send is retried by the workflow: one email arrives, the release SUCCEEDS", async () => {
    const real = new SesMailer(sesLocalClient(ses.endpoint, "us-east-1"));
    let attempts = 0;
    const throttled: Mailer = {
      send: async (m) => {
        attempts++;
        if (attempts <= 2)
          throw new NotificationFailedError(
            "SES did not accept the email: Throttling: Maximum sending rate exceeded",
          );
        return real.send(m);
      },
    };
    const env = await startRuntime({ mailer: throttled });
    try {
      const out = await env.runtime.release({ tag: "v2.6.0" });
      expect(out.status).toBe("SUCCEEDED");
      expect(attempts).toBe(3);
      expect(await received(ses.endpoint, "v2.6.0")).toHaveLength(1);
      const record = await env.runtime.ledger.get("coffeeshop", "v2.6.0");
      expect(record?.summary).toMatchObject({ notified: true, notificationError: null });
    } finally {
      await env.stop();
    }
  });

  it("SES unreachable for good: the release is recorded and SUCCEEDED, the email error kept", async () => {
    // Port 9 (discard) on loopback: nothing listens, so every real SDK call fails to connect.
    const down = new SesMailer(sesLocalClient("http://127.0.0.1:9", "us-east-1"));
    const env = await startRuntime({ mailer: down });
    try {
      const out = await env.runtime.release({ tag: "v2.7.0" });
      expect(out.status).toBe("SUCCEEDED");
      const record = await env.runtime.ledger.get("coffeeshop", "v2.7.0");
      expect(record?.status).toBe("SUCCEEDED");
      expect(record?.summary).toMatchObject({ notified: false });
      expect(String(record?.summary?.notificationError)).toContain("SES did not accept the email");
    } finally {
      await env.stop();
    }
  });
});

describe("pourover releases: the local release record", () => {
  it("what is on dev now, lead times, and what a release contained", async () => {
    const env = await startRuntime({ deployRunner: deployed });
    const stateDir = env.runtime.options.stateDir;
    try {
      expect((await env.runtime.release({ tag: "v3.0.0" })).status).toBe("SUCCEEDED");
      expect((await env.runtime.release({ tag: "v3.0.1" })).status).toBe("SUCCEEDED");
      expect(
        (await env.runtime.release({ tag: "v3.1.0", scanReports: { web: CRITICAL_REPORT } })).status,
      ).toBe("FAILED");
      let out = "";
      expect(await releasesCommand({ stateDir, json: true }, (t) => (out += t))).toBe(0);
      const listing = JSON.parse(out) as {
        onDev: Record<string, { tag: string; leadTimeMs: number }>;
        releases: { tag: string; status: string; leadTimeMs: number | null }[];
      };
      // The failed v3.1.0 is newer but not on dev: v3.0.1 is.
      expect(listing.onDev.coffeeshop?.tag).toBe("v3.0.1");
      expect(listing.releases.map((r) => `${r.tag} ${r.status}`)).toEqual([
        "v3.1.0 FAILED",
        "v3.0.1 SUCCEEDED",
        "v3.0.0 SUCCEEDED",
      ]);
      expect(listing.releases.every((r) => typeof r.leadTimeMs === "number" && r.leadTimeMs >= 0)).toBe(true);

      out = "";
      await releasesCommand({ stateDir, app: "coffeeshop", tag: "v3.0.0", json: true }, (t) => (out += t));
      const one = JSON.parse(out) as {
        images: { service: string; digest: string }[];
        pullRequest: { branch: string; commit: string };
        dryRun: boolean;
      };
      expect(one.images.map((i) => i.service).sort()).toEqual([
        "barista",
        "counter",
        "kitchen",
        "product",
        "proxy",
        "web",
      ]);
      expect(one.images.every((i) => /^sha256:[a-f0-9]{64}$/.test(i.digest))).toBe(true);
      expect(one.pullRequest.branch).toBe("release/coffeeshop/v3.0.0");
      expect(one.pullRequest.commit).toMatch(/^[a-f0-9]{40}$/);
      expect(one.dryRun).toBe(false);

      out = "";
      await releasesCommand({ stateDir, json: false }, (t) => (out += t));
      expect(out).toMatch(/^coffeeshop on dev now: v3\.0\.1 \(finished \S+, lead time \d+s\)/);
      await expect(releasesCommand({ stateDir, tag: "v9.9.9", json: false }, () => {})).rejects.toMatchObject(
        { name: "InvalidInputError" },
      );
    } finally {
      await env.stop();
    }
  });
});
