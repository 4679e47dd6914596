// The Load panel as a speaker uses it: pick calculator-server, start a preset, watch the live
// chart grow and the edge appear on the topology, stop the test, keep a screenshot.

import { expect, test } from "@playwright/test";

const SHOTS = "../test-results/screenshots";

test("start a load from the UI, see the live chart move, stop it", async ({ page }) => {
  await page.goto("/");
  await page.getByTestId("tab-load").click();
  await expect(page).toHaveURL(/tab=load/);
  const panel = page.getByTestId("load-panel");
  await expect(panel).toBeVisible();
  await expect(page.getByTestId("load-stream-status")).toHaveText("live", { timeout: 15_000 });
  // The target picker lists services from the topology.
  await expect(page.getByTestId("load-target").locator("option", { hasText: "calculator-server" })).toHaveCount(1, { timeout: 15_000 });
  await page.getByTestId("load-target").selectOption("calculator-server");
  await page.getByTestId("load-preset-100").click();
  await page.getByTestId("load-start").click();

  const row = page.locator('[data-testid^="load-test-"][data-state]').first();
  await expect(row).toHaveAttribute("data-state", "RUNNING", { timeout: 10_000 });
  // The chart gets a point per second: it moves.
  const charts = page.getByTestId("load-charts");
  await expect.poll(async () => Number(await charts.getAttribute("data-points")), { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
  const sentBefore = Number(await row.getByTestId("load-test-sent").textContent());
  await expect.poll(async () => Number(await row.getByTestId("load-test-sent").textContent()), { timeout: 10_000 }).toBeGreaterThan(sentBefore);
  // The req/s line is drawn through the points (a steady rate draws it flat, which Playwright
  // would call "hidden", so look at the path itself).
  await expect(page.getByTestId("load-rps-chart").locator("path.recharts-curve").first()).toHaveAttribute("d", /^M[\d.]+,[\d.]+(C[\d.,]+){2,}/);
  // The load is an edge on the topology.
  await expect(page.getByTestId("node-load-generator")).toBeVisible({ timeout: 10_000 });
  await page.screenshot({ path: `${SHOTS}/load.png` });

  const id = (await row.getAttribute("data-testid"))!.replace("load-test-", "");
  await page.getByTestId(`load-stop-${id}`).click();
  await expect(page.getByTestId("load-action-message")).toContainText("stopped after");
  await expect(row).toHaveAttribute("data-state", "STOPPED", { timeout: 10_000 });
});
