import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["./shared/polyfills.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // No test deploys to this machine's docker, whatever it has: local releases dry-run the dev deploy
    // (inherited by the CLI processes the tests start). Tests of the docker path pass a runner.
    env: { POUROVER_DRY_RUN_DEPLOY: "1" },
  },
});
