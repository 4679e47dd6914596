// The Services panel as a speaker uses it: restart a process with a click and see the new pid
// and restart count in the panel and on the topology; a crash loop is a FATAL banner.

import { expect, test } from "@playwright/test";

const SHOTS = "../test-results/screenshots";

test("restart from the Services panel: new pid, restart count +1 in the panel and on the graph", async ({ page }) => {
  await page.goto("/");
  const row = page.getByTestId("process-calculator-server");
  await expect(row).toHaveAttribute("data-state", "RUNNING", { timeout: 15_000 });
  const pidBefore = (await row.getByTestId("process-pid").textContent())!.trim();
  const restartsBefore = Number(await row.getByTestId("process-restarts").textContent());
  const node = page.getByTestId("node-calculator-server");
  await expect(node).toContainText(`restarts ${restartsBefore}`);

  await page.getByTestId("restart-calculator-server").click();
  await expect(row.getByTestId("process-restarts")).toHaveText(String(restartsBefore + 1), { timeout: 10_000 });
  await expect(row).toHaveAttribute("data-state", "RUNNING", { timeout: 10_000 });
  await expect(row.getByTestId("process-pid")).not.toHaveText(pidBefore);
  await expect(node).toContainText(`restarts ${restartsBefore + 1}`, { timeout: 10_000 });
  await expect(node).toHaveAttribute("data-state", "ACTIVE", { timeout: 15_000 });
  // The restart shows up as markers in the Logs panel.
  const markers = page.getByTestId("log-marker");
  await expect(markers.filter({ hasText: "calculator-server restart requested" })).toHaveCount(1, { timeout: 10_000 });
  await expect(markers.filter({ hasText: /calculator-server stopped \((signal SIGTERM|code \d+)\)/ }).last()).toBeVisible();
  await expect(markers.filter({ hasText: /calculator-server started \(pid \d+\)/ }).last()).toBeVisible();

  // A second click right away is refused by the rate limit, with the reason shown.
  await page.getByTestId("restart-calculator-server").click();
  await expect(page.getByTestId("action-message")).toContainText("manual restarts of \"calculator-server\" are limited");
  await page.screenshot({ path: `${SHOTS}/services-restarted.png` });
});

test("a crash loop ends in a FATAL banner, and Stop/Start work", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByTestId("process-crasher")).toHaveAttribute("data-state", "FATAL", { timeout: 15_000 });
  await expect(page.getByTestId("fatal-banner")).toContainText("crasher: 3 failed starts within 60 s (last: code 3)");
  await page.screenshot({ path: `${SHOTS}/services-fatal.png` });

  const row = page.getByTestId("process-calculator-batch");
  await expect(row).toHaveAttribute("data-state", "RUNNING", { timeout: 15_000 });
  await page.getByTestId("stop-calculator-batch").click();
  await expect(row).toHaveAttribute("data-state", "STOPPED", { timeout: 15_000 });
  await expect(page.getByTestId("node-calculator-batch")).toHaveCount(0, { timeout: 10_000 });
  await page.getByTestId("start-calculator-batch").click();
  await expect(row).toHaveAttribute("data-state", /STARTING|RUNNING/, { timeout: 10_000 });
  await expect(page.getByTestId("node-calculator-batch")).toBeVisible({ timeout: 15_000 });
});
