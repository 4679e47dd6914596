// Chaos as the audience sees it: a pipeline run started from the Chaos panel, the parse stage
// killed from its node in the middle of the split run, the graph showing it die and come back,
// and the run ending with the split's checksum identical to the monolith's. Then a fault with no
// deadline, listed as "until cleared", removed by the emergency stop.

import { expect, test } from "@playwright/test";

const SHOTS = "../test-results/screenshots";
const CHAIN = ["ingest", "parse", "rules", "aggregate", "sink"];
/** Large enough that the split runs for several seconds on a busy two-core machine. */
const EVENTS = 3_000_000;

declare global {
  interface Window {
    __parseStates?: string[];
  }
}

test("kill parse mid-run: the graph shows it die and come back, and the checksum is identical", async ({ page }) => {
  test.setTimeout(420_000);
  await page.goto("/?chaos=1");
  await expect(page.getByTestId("chaos-panel")).toBeVisible();
  await expect(page.getByTestId("chaos-stream-status")).toHaveText("live", { timeout: 15_000 });
  for (const name of CHAIN) await expect(page.getByTestId(`node-${name}`)).toBeVisible({ timeout: 30_000 });
  // The speaker picks parse on the graph: its chaos actions and its process show beside it.
  await page.getByTestId("node-parse").click();
  const actions = page.getByTestId("node-chaos");
  await expect(actions).toHaveAttribute("data-target", "parse");
  await expect(actions).toHaveAttribute("data-state", "RUNNING", { timeout: 30_000 });
  const restartsBefore = Number(await actions.getAttribute("data-restarts"));

  // A DEAD parse lasts only until its restarted instance registers (a fraction of a second), so
  // every state the node shows is recorded as it happens rather than polled for.
  await page.evaluate(() => {
    const seen: string[] = [];
    window.__parseStates = seen;
    const record = () => {
      const s = document.querySelector('[data-testid="node-parse"]')?.getAttribute("data-state") ?? "absent";
      if (seen[seen.length - 1] !== s) seen.push(s);
    };
    record();
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"] });
  });

  const run = page.getByTestId("chaos-run");
  await page.getByTestId(`chaos-run-size-${EVENTS}`).click();
  await page.getByTestId("chaos-run-start").click();
  await expect(run).not.toHaveAttribute("data-phase", "idle", { timeout: 10_000 });
  // The monolith first (the reference), then the split: wait until the split is well under way.
  await expect(run).toHaveAttribute("data-mode", "split", { timeout: 240_000 });
  const bar = page.getByTestId("chaos-run-bar");
  await expect.poll(async () => Number(await bar.getAttribute("data-value")), { timeout: 30_000, intervals: [100] }).toBeGreaterThan(EVENTS * 0.1);
  await expect(run).toHaveAttribute("data-mode", "split");

  // Kill from the node.
  await page.getByTestId("node-chaos-kill").click();
  // Down: the node goes DEAD (red) the moment the process exits; the shot is taken right then.
  await page.waitForFunction(() => window.__parseStates!.includes("DEAD"), undefined, { timeout: 5_000, polling: "raf" });
  await page.screenshot({ path: `${SHOTS}/chaos-kill.png` });
  await expect(page.getByTestId("node-chaos-message")).toHaveAttribute("data-ok", "true");
  await expect(page.getByTestId("chaos-timeline")).toHaveAttribute("data-marker-kinds", /crashed/, { timeout: 5_000 });
  // Back: a new instance registers, the supervisor counts the restart, the timeline marks it.
  await expect(actions).toHaveAttribute("data-restarts", String(restartsBefore + 1), { timeout: 10_000 });
  // The graph says it came back, for long enough to be seen.
  await expect(page.getByTestId("node-parse").getByTestId("node-restarted")).toBeVisible({ timeout: 10_000 });
  await expect(page.getByTestId("chaos-timeline")).toHaveAttribute("data-marker-kinds", /restart/, { timeout: 10_000 });
  await expect(page.getByTestId("node-parse")).not.toHaveAttribute("data-state", "DEAD", { timeout: 15_000 });
  await expect(page.getByTestId("node-parse")).toContainText(`restarts ${restartsBefore + 1}`, { timeout: 10_000 });
  const states = await page.evaluate(() => window.__parseStates!);
  const dead = states.indexOf("DEAD");
  expect(states.slice(dead + 1).some((s) => s !== "DEAD" && s !== "absent"), `parse states: ${states.join(" → ")}`).toBe(true);

  // The run completes through the kill, and its result is the monolith's, byte for byte.
  const verdict = page.getByTestId("chaos-verdict");
  await expect(verdict).toBeVisible({ timeout: 240_000 });
  await expect(verdict).toHaveAttribute("data-verdict", "identical");
  await expect(page.getByTestId("chaos-verdict-text")).toHaveText("identical ✓");
  const split = (await page.getByTestId("chaos-checksum-split").textContent())!.trim();
  expect(split).toMatch(/^[0-9a-f]{64}$/);
  await expect(page.getByTestId("chaos-checksum-monolith")).toHaveText(split);
  // Confirmed by the report once the benchmark has written it.
  await expect(run).toHaveAttribute("data-phase", "done", { timeout: 180_000 });
  await expect(verdict).toContainText("from the report");
  await expect(verdict).toHaveAttribute("data-verdict", "identical");
  await page.getByRole("button", { name: "close details" }).click();
  await page.waitForTimeout(500);
  await page.screenshot({ path: `${SHOTS}/chaos-result.png` });
});

test("a latency fault until cleared is listed, a refused one says why, and Clear all empties the list", async ({ page }) => {
  await page.goto("/?chaos=1");
  await expect(page.getByTestId("chaos-stream-status")).toHaveText("live", { timeout: 15_000 });
  await expect(page.getByTestId("node-calculator-server")).toBeVisible({ timeout: 15_000 });
  const list = page.getByTestId("active-faults");
  await expect(list).toHaveAttribute("data-count", "0");
  await expect(page.getByTestId("clear-all-faults")).toHaveCount(0);

  // A network fault on a process without a fault proxy is refused, with the server's reason.
  await page.getByTestId("chaos-custom-target").selectOption("rules");
  await page.getByTestId("chaos-custom-type").selectOption("DELAY");
  await page.getByTestId("chaos-custom-param").fill("200");
  await page.getByTestId("chaos-custom-duration").fill("0");
  await page.getByTestId("chaos-custom-inject").click();
  await expect(page.getByTestId("chaos-message")).toContainText("FAILED_PRECONDITION");
  await expect(page.getByTestId("chaos-message")).toContainText("fault proxy");
  await expect(list).toHaveAttribute("data-count", "0");

  // The same on calculator-server (it has a fault proxy), until cleared.
  await page.getByTestId("chaos-custom-target").selectOption("calculator-server");
  await page.getByTestId("chaos-custom-inject").click();
  const row = list.getByTestId("active-fault");
  await expect(row).toHaveCount(1, { timeout: 5_000 });
  await expect(row).toHaveAttribute("data-type", "DELAY");
  await expect(row).toContainText("calculator-server");
  await expect(row).toContainText("+200 ms");
  await expect(row.getByTestId("fault-countdown")).toHaveText("until cleared");

  // A second one with a deadline counts down.
  await page.getByTestId("chaos-custom-type").selectOption("ERROR_INJECT");
  await page.getByTestId("chaos-custom-param").fill("20");
  await page.getByTestId("chaos-custom-duration").fill("60");
  await page.getByTestId("chaos-custom-inject").click();
  await expect(row).toHaveCount(2, { timeout: 5_000 });
  const countdown = list.locator('[data-type="ERROR_INJECT"]').getByTestId("fault-countdown");
  await expect(countdown).toHaveText(/^(60|59|58) s$|^1:00$/);
  await expect(countdown).toHaveText(/^5\d s$/, { timeout: 5_000 });

  // The emergency stop: in the header while anything is active.
  const stop = page.getByTestId("clear-all-faults");
  await expect(stop).toBeVisible();
  await expect(stop).toContainText("2");
  await page.screenshot({ path: `${SHOTS}/chaos-faults.png` });
  await stop.click();
  await expect(list).toHaveAttribute("data-count", "0", { timeout: 5_000 });
  await expect(row).toHaveCount(0);
  await expect(stop).toHaveCount(0);
  await expect(page.getByTestId("chaos-message")).toContainText("all faults cleared (2)");
});

test("faults show as markers on the Load panel's charts", async ({ page }) => {
  await page.goto("/?tab=load");
  await expect(page.getByTestId("load-stream-status")).toHaveText("live", { timeout: 15_000 });
  await expect(page.getByTestId("load-target").locator("option", { hasText: "calculator-server" })).toHaveCount(1, { timeout: 15_000 });
  await page.getByTestId("load-target").selectOption("calculator-server");
  await page.getByTestId("load-preset-100").click();
  await page.getByTestId("load-start").click();
  const charts = page.getByTestId("load-charts");
  await expect.poll(async () => Number(await charts.getAttribute("data-points")), { timeout: 15_000 }).toBeGreaterThanOrEqual(2);

  // Injected through the API (as `pipeline chaos` or buf curl would), cleared from the header.
  const res = await page.request.post("/runtime.v1.ChaosService/InjectFault", {
    data: { target: "calculator-server", type: "FAULT_TYPE_ERROR_INJECT", durationMs: 0, params: { errorRate: 0.2 } },
    headers: { "content-type": "application/json" },
  });
  expect(res.ok(), await res.text()).toBe(true);
  await expect(charts).toHaveAttribute("data-markers", "1", { timeout: 5_000 });
  await page.waitForTimeout(3000);
  await page.getByTestId("clear-all-faults").click();
  await expect(charts).toHaveAttribute("data-markers", "2", { timeout: 5_000 });
  await expect(page.getByTestId("load-marker")).toHaveText([/^\d+ s 20 % errors calculator-server$/, /^\d+ s cleared 20 % errors calculator-server$/]);
  await page.waitForTimeout(2000);
  await page.screenshot({ path: `${SHOTS}/chaos-load-markers.png` });
  const row = page.locator('[data-testid^="load-test-"][data-state="RUNNING"]').first();
  await row.locator('[data-testid^="load-stop-"]').click();
});
