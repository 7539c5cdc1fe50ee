import { describe, expect, it } from "vitest";
import { nextPatch } from "../../local/runtime.js";
import { newestFirst } from "../../shared/domain/release-from-images.js";
import { compareReleaseTags } from "../../shared/domain/release-version.js";

describe("one release-tag ordering", () => {
  it("compares semver tags and the short vN / vN.N tags real histories hold; other tags have no order", () => {
    expect(compareReleaseTags("v1.2.3", "v1.10.0")).toBeLessThan(0);
    expect(compareReleaseTags("v2.0", "v2.0.0")).toBe(0);
    expect(compareReleaseTags("v6", "v4.9.9")).toBeGreaterThan(0);
    expect(compareReleaseTags("v1.0.0-rc.2", "v1.0.0-rc.10")).toBeLessThan(0);
    expect(compareReleaseTags("v1.0.0-rc.1", "v1.0.0")).toBeLessThan(0);
    expect(compareReleaseTags("latest", "v1.0.0")).toBeNull();
  });

  it("newestFirst sorts full semver tags newest first, pre-releases below their release, others last", () => {
    expect(["v1.0.0", "latest", "v1.0.0-rc.1", "v1.10.0", "v1.2.0", "v1.0.0-beta"].sort(newestFirst)).toEqual(
      ["v1.10.0", "v1.2.0", "v1.0.0", "v1.0.0-rc.1", "v1.0.0-beta", "latest"],
    );
  });

  it("pourover release --next: the patch after the newest released full version; v0.1.0 first", () => {
    expect(nextPatch([])).toBe("v0.1.0");
    expect(nextPatch(["v1.2.9", "v1.10.0", "v1.3.0"])).toBe("v1.10.1");
    // A pre-release or a tag outside the policy does not count.
    expect(nextPatch(["v1.2.0", "v2.0.0-rc.1", "latest"])).toBe("v1.2.1");
  });
});
