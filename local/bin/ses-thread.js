// aws-ses-v2-local, the local mode's SES, on a thread of its own. Plain JavaScript so that the
// `pourover` bin can start it before it loads the CLI bundle: loading the emulator is about 0.3 s of
// CPU, and a local release is CPU-bound on a 2-core machine, so it is best done on the second core
// while the first loads the CLI. local/ses-local.ts starts it the same way when nothing did before.
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

// The thread answers `{ port }` once listening; close() ends it, server and all.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
try {
  const mod = require(workerData.entry);
  const start = typeof mod.default === "function" ? mod.default : mod.default.default;
  start({ host: "127.0.0.1", port: 0 }).then(
    (server) => {
      parentPort.postMessage({ port: server.address().port });
    },
    (e) => parentPort.postMessage({ error: String((e && e.stack) || e) }),
  );
} catch (e) {
  parentPort.postMessage({ error: String((e && e.stack) || e) });
}
`;

/** Starts aws-ses-v2-local on 127.0.0.1 (never all interfaces) on a free port, in a worker thread. */
export async function startSesThread() {
  const entry = createRequire(import.meta.url).resolve("aws-ses-v2-local");
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { entry } });
  const exited = new Promise((resolve) => worker.once("exit", () => resolve(undefined)));
  const port = await new Promise((resolve, reject) => {
    worker.once("message", (m) =>
      m.port ? resolve(m.port) : reject(new Error(`aws-ses-v2-local did not start: ${m.error}`)),
    );
    worker.once("error", reject);
    worker.once("exit", (code) =>
      reject(new Error(`aws-ses-v2-local's thread ended (exit ${code}) before listening`)),
    );
  }).catch(async (error) => {
    await worker.terminate();
    throw error;
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    // Every email was read back from the emulator when it was sent: nothing is left to hand over,
    // so the thread (and its server with it) is ended at once rather than closed politely.
    close: async () => {
      await worker.terminate();
      await exited;
    },
  };
}
