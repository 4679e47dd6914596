import { defineConfig } from "vitest/config";

// Integration tests start real processes and servers; on a loaded 2-core machine that can take
// seconds, so the per-test limit is generous. No test asserts a duration.
export default defineConfig({ test: { testTimeout: 30_000, hookTimeout: 30_000 } });
