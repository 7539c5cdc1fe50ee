/**
 * Layer 4, offline part: the integration test app still synthesizes, and its templates match the
 * committed snapshot (asset hashes masked). A real run (README, "Contract and integration tests")
 * deploys exactly what the snapshot records; a change to the stacks must be re-run and re-recorded.
 */
import { describe, expect, it } from "vitest";
import { readSnapshot, SNAPSHOT_DIR, synthIntegTemplates } from "./snapshot.js";

describe("integration test snapshot (offline: synth only, no AWS)", () => {
  it("integ.release.ts synthesizes the templates recorded in its snapshot", () => {
    const now = synthIntegTemplates();
    const recorded = readSnapshot();
    expect([...now.keys()]).toEqual([...recorded.keys()]);
    for (const [name, text] of now) {
      expect(
        text,
        `${name} differs from ${SNAPSHOT_DIR}: run the integ test for real, then npm run test:integ:update-snapshot`,
      ).toBe(recorded.get(name));
    }
    // The assertion stack holds the release checks: it starts an execution and waits for NotifySuccess.
    const assertions = [...now.entries()].find(([n]) => n.startsWith("ReleaseToDev"))?.[1] ?? "";
    expect(assertions).toContain("NotifySuccess");
    expect(assertions).toContain("startExecution");
  }, 180_000);
});
