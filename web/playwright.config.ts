// Browser tests in Debian's Chromium (never a downloaded browser) against a real control server
// started with e2e/runtime.e2e.yaml on ports of its own.
import { defineConfig } from "@playwright/test";

const HTTP_PORT = Number(process.env.MR_E2E_HTTP_PORT ?? 3310);
const H2C_PORT = Number(process.env.MR_E2E_H2C_PORT ?? 3311);

export default defineConfig({
  testDir: "e2e",
  timeout: 90_000,
  workers: 1,
  retries: 0,
  outputDir: "../test-results/e2e-artifacts",
  reporter: [["list"], ["json"]],
  use: {
    baseURL: `http://localhost:${HTTP_PORT}`,
    viewport: { width: 1400, height: 820 },
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    },
    trace: "off",
  },
  webServer: {
    // A fresh log per run, so markers of earlier runs cannot satisfy this run's expectations.
    command: `rm -rf ../test-results/e2e-logs ../test-results/e2e-bench && node --import tsx ../server/src/main.ts --config e2e/runtime.e2e.yaml --http-port ${HTTP_PORT} --h2c-port ${H2C_PORT}`,
    url: `http://localhost:${HTTP_PORT}/`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "pipe",
    stderr: "pipe",
  },
});
