import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatImageReference, imageName, parseImageReference } from "../../shared/domain/image-reference.js";

const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;
const ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

describe("parseImageReference", () => {
  it.each([
    ["postgres", { registry: null, repository: "postgres", tag: null, digest: null }],
    ["postgres:14-alpine", { registry: null, repository: "postgres", tag: "14-alpine", digest: null }],
    ["library/postgres:14", { registry: null, repository: "library/postgres", tag: "14", digest: null }],
    [
      "docker.io/library/postgres",
      { registry: "docker.io", repository: "library/postgres", tag: null, digest: null },
    ],
    [
      "chucthien03/go-coffeeshop-web",
      { registry: null, repository: "chucthien03/go-coffeeshop-web", tag: null, digest: null },
    ],
    ["localhost:5000/x", { registry: "localhost:5000", repository: "x", tag: null, digest: null }],
    ["localhost:5000/x:v1", { registry: "localhost:5000", repository: "x", tag: "v1", digest: null }],
    ["localhost/x", { registry: "localhost", repository: "x", tag: null, digest: null }],
    ["localhost", { registry: null, repository: "localhost", tag: null, digest: null }],
    ["localhost:5000", { registry: null, repository: "localhost", tag: "5000", digest: null }],
    [
      "registry:5000/team/app",
      { registry: "registry:5000", repository: "team/app", tag: null, digest: null },
    ],
    ["[::1]:5000/app:v1", { registry: "[::1]:5000", repository: "app", tag: "v1", digest: null }],
    [`${ECR}/go-coffeeshop-web`, { registry: ECR, repository: "go-coffeeshop-web", tag: null, digest: null }],
    [
      `${ECR}/go-coffeeshop-web:v2.4.5`,
      { registry: ECR, repository: "go-coffeeshop-web", tag: "v2.4.5", digest: null },
    ],
    [`${ECR}/web@${DIGEST}`, { registry: ECR, repository: "web", tag: null, digest: DIGEST }],
    [`${ECR}/web:v1.0.0@${DIGEST}`, { registry: ECR, repository: "web", tag: "v1.0.0", digest: DIGEST }],
    [
      `ghcr.io/a/b/c:latest@${DIGEST}`,
      { registry: "ghcr.io", repository: "a/b/c", tag: "latest", digest: DIGEST },
    ],
    [
      "rabbitmq:3.11-management-alpine",
      { registry: null, repository: "rabbitmq", tag: "3.11-management-alpine", digest: null },
    ],
    [
      "my_org/my__app-x--y.z",
      { registry: null, repository: "my_org/my__app-x--y.z", tag: null, digest: null },
    ],
  ])("%s", (input, expected) => {
    expect(parseImageReference(input)).toEqual(expected);
    expect(formatImageReference(expected)).toBe(input);
  });

  it.each([
    [""],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose interpolation, not a template.
    ["${REGISTRY}/web:${TAG}"],
    ["Web"],
    ["web:"],
    ["web@"],
    ["web@sha256:short"],
    ["web:v1 # comment"],
    ["with space"],
    ["/web"],
    ["web/"],
    ["a//b"],
    ["-web"],
    ["web:-bad"],
    ["host:port/web"],
    ["web:v1:v2"],
    ["repo:tag\n"],
    [`web:${"t".repeat(129)}`],
  ])("rejects %j", (input) => {
    expect(parseImageReference(input)).toBeNull();
  });

  it("the match name keeps registry and port but drops tag and digest", () => {
    const ref = parseImageReference(`localhost:5000/web:v1@${DIGEST}`);
    expect(ref && imageName(ref)).toBe("localhost:5000/web");
    const plain = parseImageReference("web-canary:v1");
    expect(plain && imageName(plain)).toBe("web-canary");
  });
});

const alnum = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789".split(""));
const lowerRun = fc.string({ unit: alnum, minLength: 1, maxLength: 6 });
const separator = fc.constantFrom(".", "_", "__", "-", "--");
const component = fc
  .tuple(lowerRun, fc.array(fc.tuple(separator, lowerRun), { maxLength: 2 }))
  .map(([head, rest]) => head + rest.map(([s, r]) => s + r).join(""));
const hostLabel = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,6}[a-z0-9])?$/);
const registry = fc.oneof(
  fc.constant(null),
  fc.constant("localhost"),
  fc.integer({ min: 1, max: 65535 }).map((port) => `localhost:${port}`),
  fc
    .tuple(fc.array(hostLabel, { minLength: 2, maxLength: 4 }), fc.option(fc.integer({ min: 1, max: 65535 })))
    .map(([labels, port]) => labels.join(".") + (port === null ? "" : `:${port}`)),
  fc.tuple(hostLabel, fc.integer({ min: 1, max: 65535 })).map(([host, port]) => `${host}:${port}`),
);
const tag = fc.stringMatching(/^[\w][\w.-]{0,20}$/);
const digest = fc.stringMatching(/^[a-f0-9]{64}$/).map((hex) => `sha256:${hex}`);

describe("format(parse(x)) === x", () => {
  it("holds for generated valid references", () => {
    fc.assert(
      fc.property(
        registry,
        fc.array(component, { minLength: 1, maxLength: 3 }),
        fc.option(tag),
        fc.option(digest),
        (reg, path, t, d) => {
          // A lone first component that looks like a registry would be read as one: docker's rule.
          fc.pre(reg !== null || path.length === 1 || !/[.:]|^localhost$/.test(path[0] ?? ""));
          const ref = (reg ? `${reg}/` : "") + path.join("/") + (t ? `:${t}` : "") + (d ? `@${d}` : "");
          const parsed = parseImageReference(ref);
          expect(parsed).not.toBeNull();
          if (!parsed) return;
          expect(formatImageReference(parsed)).toBe(ref);
          expect(parsed.registry).toBe(reg);
          expect(parsed.repository).toBe(path.join("/"));
          expect(parsed.tag).toBe(t);
          expect(parsed.digest).toBe(d);
        },
      ),
      { numRuns: 500 },
    );
  });
});
