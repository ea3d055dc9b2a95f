/**
 * End-to-end tests in Debian's chromium (never a downloaded browser). tests/e2e/test_dashboard.py starts the
 * server and worker and runs `npx playwright test` with E2E_BASE_URL and the users it made; the spec files
 * run in name order, one at a time (01-loop creates what the later ones look at).
 */
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "e2e",
  testMatch: /.*\.spec\.ts/,
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 180_000,
  expect: { timeout: 15_000 },
  reporter: [["list"]],
  outputDir: "../var/e2e-results",
  use: {
    baseURL: process.env.E2E_BASE_URL,
    screenshot: "only-on-failure",
    trace: "off",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
      // the machines' network is closed: without these, chromium keeps trying to reach Google's hosts
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    },
  },
});
