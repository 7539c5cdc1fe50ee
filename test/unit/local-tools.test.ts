import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { detectTools, onPath } from "../../local/local-build.js";

describe("the local tool checks (docker engine, trivy)", () => {
  const dir = mkdtempSync(join(tmpdir(), "pourover-tools-"));
  const bin = join(dir, "bin");
  const other = join(dir, "other");
  mkdirSync(bin);
  mkdirSync(other);
  mkdirSync(join(bin, "a-directory"));
  writeFileSync(join(bin, "not-executable"), "#!/bin/sh\nexit 0\n");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A fake tool that records that it ran, then exits with `code`. */
  const tool = (name: string, code: number) => {
    const file = join(bin, name);
    writeFileSync(file, `#!/bin/sh\n: > "${join(dir, `${name}.ran`)}"\nexit ${code}\n`);
    chmodSync(file, 0o755);
  };

  it("onPath: an executable file in a folder of PATH; not a directory, not a plain file, not elsewhere", () => {
    tool("present", 0);
    const path = [other, bin].join(delimiter);
    expect(onPath("present", path)).toBe(true);
    expect(onPath("a-directory", path)).toBe(false);
    expect(onPath("not-executable", path)).toBe(false);
    expect(onPath("absent", path)).toBe(false);
    expect(onPath("present", other)).toBe(false);
    expect(onPath("present", "")).toBe(false);
  });

  it("a tool that is not on PATH is absent without a process; one that is runs and answers", async () => {
    tool("trivy", 0);
    tool("docker", 1); // a client without an engine: `docker info` fails
    expect(await detectTools({ path: bin })).toEqual({ docker: false, trivy: true, path: bin });
    expect(existsSync(join(dir, "trivy.ran"))).toBe(true);
    expect(existsSync(join(dir, "docker.ran"))).toBe(true);
    rmSync(join(dir, "trivy.ran"));
    expect(await detectTools({ path: other })).toEqual({ docker: false, trivy: false, path: other });
    expect(existsSync(join(dir, "trivy.ran"))).toBe(false);
  });
});
