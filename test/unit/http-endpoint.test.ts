/** The Function URL endpoint kit both webhook endpoints use (their own tests cover each contract). */
import { describe, expect, it } from "vitest";
import {
  endpointLog,
  header,
  matchSecrets,
  readBody,
  requirePost,
  respond,
} from "../../shared/domain/http-endpoint.js";

describe("http-endpoint kit", () => {
  it("answers 405 with Allow: POST to anything but POST (any case)", () => {
    expect(requirePost({ method: "post" })).toBeNull();
    expect(requirePost({ method: "GET" })).toEqual({
      statusCode: 405,
      headers: { "content-type": "application/json", allow: "POST" },
      body: '{"message":"method not allowed"}',
    });
  });

  it("refuses a body over the cap before decoding it, plain or base64", () => {
    expect(readBody({ body: "x".repeat(11) }, 10)).toEqual({
      response: respond(413, "payload too large", { maxBytes: 10 }),
    });
    expect(readBody({ body: "x".repeat(10) }, 10)).toEqual({ raw: Buffer.from("x".repeat(10)) });
    // 4 base64 characters decode to 3 bytes: 16 characters are 12 bytes, over a cap of 10.
    const b64 = Buffer.from("y".repeat(12)).toString("base64");
    expect(readBody({ body: b64, isBase64Encoded: true }, 10)).toHaveProperty("response.statusCode", 413);
    expect(readBody({ body: Buffer.from("é").toString("base64"), isBase64Encoded: true }, 10)).toEqual({
      raw: Buffer.from("é"),
    });
    // Multi-byte characters: under the cap in UTF-16 units, over it in bytes.
    expect(readBody({ body: "é".repeat(6) }, 10)).toHaveProperty("response.statusCode", 413);
  });

  it("reads a header in any case, preferring the lowercase name a Function URL sends", () => {
    expect(header({ "X-GitHub-Event": "push" }, "x-github-event")).toBe("push");
    expect(header({ "x-github-event": "ping", "X-GitHub-Event": "push" }, "x-github-event")).toBe("ping");
    expect(header({ "X-Other": "1" }, "x-github-event")).toBeUndefined();
    expect(header(undefined, "x")).toBeUndefined();
  });

  it("matches against the secrets, refreshing once and trying only new values; none configured is its own answer", async () => {
    const calls: Array<boolean | undefined> = [];
    const provider = (current: string[], refreshed: string[]) => async (o?: { refresh?: boolean }) => {
      calls.push(o?.refresh);
      return o?.refresh ? refreshed : current;
    };
    const tried: string[][] = [];
    const matches = (want: string) => (secrets: readonly string[]) => {
      tried.push([...secrets]);
      return secrets.includes(want);
    };
    expect(await matchSecrets(provider(["a", ""], []), matches("a"))).toBe("match");
    expect(calls).toEqual([undefined]);
    expect(await matchSecrets(provider(["a"], ["a", "b"]), matches("b"))).toBe("match");
    expect(tried.at(-1)).toEqual(["b"]);
    expect(await matchSecrets(provider(["a"], ["a"]), matches("c"))).toBe("mismatch");
    expect(await matchSecrets(provider(["", ""], ["x"]), matches("x"))).toBe("none");
  });

  it("logs one line per answer and survives a logger that throws", () => {
    const lines: Record<string, unknown>[] = [];
    const { done } = endpointLog((e) => lines.push(e), "webhook");
    const res = respond(202, "ok");
    expect(done(res, { tag: "v1.0.0" })).toBe(res);
    expect(lines).toEqual([{ msg: "webhook", status: 202, tag: "v1.0.0" }]);
    const broken = endpointLog(() => {
      throw new Error("disk full");
    }, "x");
    expect(broken.done(res)).toBe(res);
  });
});
