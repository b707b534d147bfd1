import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each file starts its own sidecar; two cores, so keep the fan-out small.
    maxWorkers: 2,
  },
});
