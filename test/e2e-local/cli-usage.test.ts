import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../local/runtime.js";
import { runBin, runMain, stderrLines } from "../helpers/cli.js";
import { tempDir } from "../helpers/local.js";

/**
 * The CLI behaves like the tools people know: help never runs anything, unknown commands and flags
 * are named, each command takes only its own flags and arguments, bad input writes nothing, and
 * faults of the machine are one line. Every case records its exact line and exit code.
 */
const bin = runBin;
const cli = runMain;

const lines = stderrLines;

const dir = tempDir("pourover-cli-usage-");
afterAll(() => dir.cleanup());
const fresh = (name: string) => join(dir.path, name);

describe("help and version never run anything", () => {
  it.each([["--help"], ["-h"], ["help"]])("pourover %s: the command list, exit 0", async (flag) => {
    const res = await cli([flag]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^usage: pourover <command> \[arguments\] \[flags\]\n/);
    for (const c of [
      "release",
      "config",
      "executions",
      "show",
      "releases",
      "status",
      "event",
      "serve",
      "help",
    ])
      expect(res.stdout).toMatch(new RegExp(`\\n  ${c} `));
  });

  it("pourover --version: name, version and Node, exit 0 (the real bin)", async () => {
    const res = await bin(["--version"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^pourover \d+\.\d+\.\d+ \(node v\d+\.\d+\.\d+\)\n$/);
    expect(res.stderr).toBe("");
  });

  const commands = [
    "release",
    "config",
    "executions",
    "show",
    "releases",
    "status",
    "event",
    "serve",
    "help",
  ];
  it.each(commands.flatMap((c) => [[c, "--help"] as const, [c, "-h"] as const]))(
    "pourover %s %s: that command's usage, exit 0, nothing written",
    async (command, flag) => {
      const stateDir = fresh(`help-${command}${flag}`);
      const res = await cli([command, flag, "--state-dir", stateDir]);
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(new RegExp(`^usage: pourover ${command} `));
      expect(res.stderr).toBe("");
      expect(existsSync(stateDir)).toBe(false);
    },
  );

  it("pourover release v5.0.0 --help prints help and makes no release (the real bin)", async () => {
    const stateDir = fresh("help-release-bin");
    const res = await bin(["release", "v5.0.0", "--state-dir", stateDir, "--help"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^usage: pourover release <tag> \| --next \[flags\]\n/);
    expect(res.stdout).toContain("--scan-report <svc>=<file>");
    expect(res.stderr).toBe("");
    expect(existsSync(stateDir)).toBe(false);
  });

  it("help wins over bad flags on the same line", async () => {
    const res = await cli(["release", "--bogus", "-h"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^usage: pourover release /);
  });

  it("pourover help release = pourover release --help", async () => {
    expect((await cli(["help", "release"])).stdout).toBe((await cli(["release", "--help"])).stdout);
  });
});

describe("bad usage: one line on stderr, exit 2, nothing written", () => {
  it.each([
    [["relase", "v1.0.0"], "pourover: unknown command 'relase'; did you mean 'release'?"],
    [["exections"], "pourover: unknown command 'exections'; did you mean 'executions'?"],
    [["frobnicate"], "pourover: unknown command 'frobnicate'; see 'pourover --help' for the commands"],
    [["help", "relase"], "pourover: unknown command 'relase'; did you mean 'release'?"],
    [["--json"], "pourover: a command comes first, then its flags (got '--json'); see 'pourover --help'"],
    [
      ["release", "v1.0.0", "--bogus"],
      "pourover: unknown flag '--bogus' for release; see 'pourover release --help'",
    ],
    [
      ["release", "v1.0.0", "--port", "1"],
      "pourover: unknown flag '--port' for release (it is a flag of serve); see 'pourover release --help'",
    ],
    [
      ["release", "v1.0.0", "--stat-dir", "x"],
      "pourover: unknown flag '--stat-dir' for release; did you mean '--state-dir'?; see 'pourover release --help'",
    ],
    [
      ["executions", "--force"],
      "pourover: unknown flag '--force' for executions (it is a flag of release); see 'pourover executions --help'",
    ],
    [["release", "v1.0.0", "--app"], "pourover: --app needs a value; see 'pourover release --help'"],
    [
      ["release", "v1.0.0", "v2.0.0"],
      "pourover: release takes one tag; unexpected 'v2.0.0'; see 'pourover release --help'",
    ],
    [
      ["executions", "extra"],
      "pourover: executions takes no arguments; unexpected 'extra'; see 'pourover executions --help'",
    ],
    [
      ["config", "a", "b"],
      "pourover: config takes no arguments; unexpected 'a' 'b'; see 'pourover config --help'",
    ],
    [["show"], "pourover: show needs one execution id or name: pourover show <executionId> [flags]"],
    [["status"], "pourover: status needs one tag: pourover status <tag> [flags]"],
  ])("%j", async (args, line) => {
    const res = await cli(args);
    expect(res.code).toBe(2);
    expect(lines(res.stderr)).toEqual([line]);
    expect(res.stdout).toBe("");
  });

  it("a rejected flag creates no state dir", async () => {
    const stateDir = fresh("bad-flag");
    const res = await cli(["release", "v1.0.0", "--state-dir", stateDir, "--bogus"]);
    expect(res.code).toBe(2);
    expect(existsSync(stateDir)).toBe(false);
  });

  it("a rejected tag creates no state dir, ledger or manifests repo", async () => {
    for (const tag of ["1.0.0", "v1.0.0+build.5", "latest"]) {
      const stateDir = fresh(`bad-tag-${tag}`);
      const res = await cli(["release", tag, "--state-dir", stateDir]);
      expect(res.code).toBe(2);
      expect(lines(res.stderr)).toHaveLength(1);
      expect(existsSync(stateDir)).toBe(false);
    }
  });

  it("an over-long tag: one line with its length, exit 2, nothing written", async () => {
    const stateDir = fresh("long-tag");
    const tag = `v1.0.0-${"a".repeat(100_000)}`;
    const res = await cli(["release", tag, "--state-dir", stateDir]);
    expect(res.code).toBe(2);
    expect(lines(res.stderr)).toEqual([
      "pourover: the tag is 100007 characters; a release tag is at most 128 (it is also a docker image tag)",
    ]);
    expect(existsSync(stateDir)).toBe(false);
  });

  it("--scan-report /dev/zero is refused at once, without reading it", async () => {
    const stateDir = fresh("dev-zero");
    const started = Date.now();
    const res = await cli(["release", "v1.0.0", "--scan-report", "web=/dev/zero", "--state-dir", stateDir]);
    expect(res.code).toBe(2);
    expect(lines(res.stderr)).toEqual(["pourover: --scan-report web: /dev/zero is not a regular file"]);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(existsSync(stateDir)).toBe(false);
  });

  it("a --scan-report over the 64 MiB cap is refused from its size (a sparse file: nothing read)", async () => {
    const big = join(dir.path, "huge-report.json");
    writeFileSync(big, "");
    truncateSync(big, 65 * 1024 * 1024);
    const res = await cli(["release", "v1.0.0", "--scan-report", `web=${big}`, "--state-dir", fresh("big")]);
    expect(res.code).toBe(2);
    expect(lines(res.stderr)).toEqual([
      `pourover: --scan-report web: ${big} is 65.0 MiB, over the 64 MiB cap for a scan report`,
    ]);
  });

  it("--state-dir naming a file: one line, exit 2", async () => {
    const file = join(dir.path, "a-file");
    writeFileSync(file, "x");
    const res = await cli(["release", "v1.0.0", "--state-dir", file]);
    expect(res.code).toBe(2);
    expect(lines(res.stderr)).toEqual([`pourover: --state-dir ${file} is a file, not a directory`]);
  });

  it.each([["executions"], ["releases"], ["show", "x"]])(
    '%s with --state-dir naming a file: one line, exit 2, not "nothing here"',
    async (...command) => {
      const file = join(dir.path, "a-file");
      writeFileSync(file, "x");
      const res = await cli([...command, "--state-dir", file]);
      expect(res.code).toBe(2);
      expect(lines(res.stderr)).toEqual([`pourover: --state-dir ${file} is a file, not a directory`]);
      expect(res.stdout).toBe("");
    },
  );
});

/** Root ignores permission bits; a read-only or tiny tmpfs stands in for a read-only or full disk. */
const isRoot = process.getuid?.() === 0;
function canMount(): boolean {
  if (!isRoot) return false;
  const probe = fresh("mount-probe");
  mkdirSync(probe, { recursive: true });
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe], { stdio: "ignore" });
    execFileSync("umount", [probe], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const mounts: string[] = [];
function mountTmpfs(name: string, opts: string): string {
  const at = fresh(name);
  mkdirSync(at, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", opts, "tmpfs", at]);
  mounts.push(at);
  return at;
}
afterAll(() => {
  for (const at of mounts) {
    try {
      execFileSync("umount", [at], { stdio: "ignore" });
    } catch {
      // already gone
    }
  }
});

describe("faults of the machine: one line, never a stack trace", () => {
  const mountable = canMount();

  it.runIf(!isRoot)("a read-only state dir (permissions) names the path: exit 1, EACCES", async () => {
    const ro = fresh("ro-perm");
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    const res = await cli(["release", "v1.0.0", "--state-dir", join(ro, "state")]);
    expect(res.code).toBe(1);
    expect(lines(res.stderr)).toEqual([
      `pourover: cannot write the state dir ${join(ro, "state")}: ${ro} is read-only for this user (EACCES); give a writable --state-dir`,
    ]);
  });

  it.runIf(mountable)("a state dir on a read-only file system names the path: exit 1, EROFS", async () => {
    const ro = mountTmpfs("ro-fs", "ro,size=64k");
    const res = await cli(["release", "v1.0.0", "--state-dir", join(ro, "state")]);
    expect(res.code).toBe(1);
    expect(lines(res.stderr)).toEqual([
      `pourover: cannot write the state dir ${join(ro, "state")}: ${ro} is on a read-only file system (EROFS); give a writable --state-dir`,
    ]);
  });

  it.runIf(mountable)(
    "a full disk (ENOSPC): one line naming the state dir, exit 1",
    async () => {
      const tiny = mountTmpfs("tiny-fs", "size=200k");
      const stateDir = join(tiny, "state");
      const res = await bin(["release", "v1.0.0", "--state-dir", stateDir]);
      expect(res.code).toBe(1);
      expect(lines(res.stderr)).toEqual([
        `pourover: no space left on the device holding the state dir ${stateDir} (ENOSPC); free some space or give another --state-dir`,
      ]);
      expect(res.stderr).not.toMatch(/\n\s+at /);
    },
    60_000,
  );

  it("a corrupt ledger.sqlite names the file and the recovery: exit 1", async () => {
    const stateDir = fresh("corrupt");
    mkdirSync(stateDir);
    writeFileSync(join(stateDir, "ledger.sqlite"), Buffer.alloc(8192, 0x5a));
    const ledger = join(stateDir, "ledger.sqlite");
    const res = await cli(["release", "v1.0.0", "--state-dir", stateDir]);
    expect(res.code).toBe(1);
    expect(lines(res.stderr)).toEqual([
      `pourover: the ledger ${ledger} is corrupt or not a SQLite database (SQLITE_NOTADB); move it aside (mv ${ledger} ${ledger}.broken) and run again to start a fresh ledger`,
    ]);
  });

  describe("a truncated ledger.sqlite", () => {
    const good = fresh("good");
    beforeAll(async () => {
      const res = await cli(["release", "v1.0.0", "--state-dir", good, "--json"]);
      expect(res.code, res.stderr).toBe(0);
    }, 60_000);

    it("names the file and the recovery: exit 1", async () => {
      const stateDir = fresh("truncated");
      mkdirSync(stateDir);
      const ledger = join(stateDir, "ledger.sqlite");
      copyFileSync(join(good, "ledger.sqlite"), ledger);
      truncateSync(ledger, 3000);
      const res = await cli(["release", "v1.0.1", "--state-dir", stateDir]);
      expect(res.code).toBe(1);
      expect(lines(res.stderr)).toEqual([
        `pourover: the ledger ${ledger} is corrupt or not a SQLite database (SQLITE_CORRUPT); move it aside (mv ${ledger} ${ledger}.broken) and run again to start a fresh ledger`,
      ]);
    }, 60_000);
  });

  describe("a busy --port", () => {
    let blocker: Server;
    let port: number;
    beforeAll(async () => {
      blocker = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
      port = (blocker.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((resolve) => blocker.close(() => resolve())));

    it("is one line, exit 2, and no state dir is created", async () => {
      const stateDir = fresh("busy-port");
      const res = await bin(["serve", "--port", String(port), "--state-dir", stateDir], {
        POUROVER_WEBHOOK_SECRET: "s",
      });
      expect(res.code).toBe(2);
      expect(lines(res.stderr)).toEqual([
        `pourover: port ${port} on 127.0.0.1 is already in use: stop what listens there or pass another --port`,
      ]);
      expect(existsSync(stateDir)).toBe(false);
    }, 60_000);
  });

  it("serve without its secret or with a bad port: one line, exit 2", async () => {
    const saved = process.env.POUROVER_WEBHOOK_SECRET;
    delete process.env.POUROVER_WEBHOOK_SECRET;
    try {
      const res = await cli(["serve", "--state-dir", fresh("no-secret")]);
      expect(res.code).toBe(2);
      expect(lines(res.stderr)).toEqual([
        "pourover: serve needs the webhook secret in POUROVER_WEBHOOK_SECRET",
      ]);
      process.env.POUROVER_WEBHOOK_SECRET = "s";
      const port = await cli(["serve", "--port", "80x", "--state-dir", fresh("bad-port")]);
      expect(port.code).toBe(2);
      expect(lines(port.stderr)).toEqual(['pourover: --port must be a port number, got "80x"']);
    } finally {
      if (saved === undefined) delete process.env.POUROVER_WEBHOOK_SECRET;
      else process.env.POUROVER_WEBHOOK_SECRET = saved;
    }
  });
});

describe("the Node notice", () => {
  it("a real release prints at most one line about Node, and none of the AWS SDK's nine", async () => {
    const res = await bin(["release", "v1.0.0", "--state-dir", fresh("node-notice"), "--json"]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).not.toContain("NodeVersionSupportWarning");
    const notices = res.stderr.split("\n").filter((l) => /Node v?\d/.test(l));
    const major = Number(process.versions.node.split(".")[0]);
    if (major < 22) {
      expect(notices).toEqual([
        `pourover: note: Node ${process.version} still works, but Pourover supports Node 22 and 24 (24 is the Lambda runtime; AWS SDK releases after early January 2027 need Node 22)`,
      ]);
    } else expect(notices).toEqual([]);
  }, 60_000);
});

describe("the bundled bin is rebuilt when a source changes", () => {
  it("a source rewritten with its OLD mtime put back still gets a new bundle (its ctime moves)", async () => {
    const cache = join(PROJECT_ROOT, "node_modules", ".cache", "pourover");
    const bundles = () => readdirSync(cache).filter((n) => /^cli-[0-9a-f]+\.mjs$/.test(n));
    // A probe file under local/ stands in for a source (removed below); same size, old mtime.
    const probe = join(PROJECT_ROOT, "local", "bin", ".fingerprint-probe.txt");
    writeFileSync(probe, "probe-1");
    utimesSync(probe, new Date("2001-01-01"), new Date("2001-01-01"));
    try {
      expect((await bin(["--version"])).code).toBe(0);
      const first = bundles();
      writeFileSync(probe, "probe-2");
      utimesSync(probe, new Date("2001-01-01"), new Date("2001-01-01"));
      expect((await bin(["--version"])).code).toBe(0);
      const second = bundles();
      expect(second).toHaveLength(1);
      expect(second).not.toEqual(first);
    } finally {
      rmSync(probe, { force: true });
    }
  }, 120_000);
});
