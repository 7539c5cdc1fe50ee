import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { sep } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OutboxMailer, offerSesLocal, type SesLocal, startSesLocal } from "../../local/ses-local.js";
import { tempDir } from "../helpers/local.js";

describe("SES through aws-ses-v2-local on 127.0.0.1 (real SDK calls)", () => {
  let ses: SesLocal;
  const dir = tempDir();
  beforeAll(async () => {
    ses = await startSesLocal();
  });
  afterAll(async () => {
    await ses.close();
    dir.cleanup();
  });

  it("listens on loopback only", () => {
    expect(ses.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("runs in a thread of its own: the caller's thread never loads aws-ses-v2-local", () => {
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    expect(loaded.filter((path) => path.includes(`${sep}aws-ses-v2-local${sep}`))).toEqual([]);
  });

  it("an outbox mailer made while the emulator is still starting sends once it listens", async () => {
    let listening: (endpoint: string) => void = () => {};
    const starting = new Promise<string>((resolve) => {
      listening = resolve;
    });
    const mailer = new OutboxMailer(starting, dir.path, "us-east-1");
    const sent = mailer.send({
      from: "releases@example.com",
      to: ["dev-team@example.com"],
      subject: "[coffeeshop] v0.9.0 released to dev",
      text: "plain",
      html: "<p>html</p>",
    });
    listening(ses.endpoint);
    const { messageId } = await sent;
    const store = (await (await fetch(`${ses.endpoint}/store`)).json()) as {
      emails: { messageId: string }[];
    };
    expect(store.emails.map((e) => e.messageId)).toContain(messageId);
  });

  it("the emulator receives the email; the outbox keeps its .eml and .html", async () => {
    const mailer = new OutboxMailer(ses.endpoint, dir.path, "us-east-1");
    const { messageId } = await mailer.send({
      from: "releases@example.com",
      to: ["dev-team@example.com", "oncall@example.com"],
      subject: "[coffeeshop] v1.0.0 released to dev",
      text: "plain",
      html: "<p>html</p>",
    });
    const store = (await (await fetch(`${ses.endpoint}/store`)).json()) as {
      emails: { messageId: string; subject: string; destination: { to: string[] } }[];
    };
    const got = store.emails.find((e) => e.messageId === messageId);
    expect(got?.subject).toBe("[coffeeshop] v1.0.0 released to dev");
    expect(got?.destination.to).toEqual(["dev-team@example.com", "oncall@example.com"]);
    const eml = readFileSync(mailer.sent[0] as string, "utf8");
    expect(eml).toContain("Subject: [coffeeshop] v1.0.0 released to dev");
    expect(readFileSync((mailer.sent[0] as string).replace(/\.eml$/, ".html"), "utf8")).toBe("<p>html</p>");
  });

  it("an unreachable SES is a retryable NotificationFailedError", async () => {
    const mailer = new OutboxMailer("http://127.0.0.1:9", dir.path, "us-east-1");
    await expect(
      mailer.send({ from: "a@example.com", to: ["b@example.com"], subject: "s", text: "t", html: "h" }),
    ).rejects.toMatchObject({
      name: "NotificationFailedError",
    });
  });

  it("a thread offered by the bin is taken once: the next start makes a new one", async () => {
    const offered = Promise.resolve(ses);
    offerSesLocal(offered);
    expect(startSesLocal()).toBe(offered);
    const fresh = await startSesLocal();
    try {
      expect(fresh.endpoint).not.toBe(ses.endpoint);
    } finally {
      await fresh.close();
    }
  });
});
