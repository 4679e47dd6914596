// The Benchmark view as a speaker uses it: a small three-way benchmark (DuckDB, the C++ monolith,
// the split chain of this runtime's five stages) started from the browser, watched live, then
// read (verdict, table, charts), found in the history and exported. Screenshots for a look.

import { readFile } from "node:fs/promises";
import { expect, test } from "@playwright/test";

const SHOTS = "../test-results/screenshots";

test("run a small benchmark from the browser, watch it live, read and export the result", async ({ page, browser }) => {
  test.setTimeout(200_000);
  await page.goto("/?view=bench");
  await expect(page.getByTestId("view-bench")).toHaveAttribute("aria-pressed", "true");
  await expect(page.getByTestId("bench-view")).toBeVisible();

  for (const m of ["duckdb", "monolith", "split"]) await page.getByTestId(`bench-mode-${m}`).check();
  await page.getByTestId("bench-events").fill("20000");
  await page.getByTestId("bench-warmup").fill("0");
  await page.getByTestId("bench-scaling").fill("1,2");
  // Bad input is named before anything is sent.
  await page.getByTestId("bench-runs").fill("0");
  await expect(page.getByTestId("bench-form-error")).toContainText("runs: 0 is outside 1–20");
  await expect(page.getByTestId("bench-start")).toBeDisabled();
  await page.getByTestId("bench-runs").fill("1");
  await expect(page.getByTestId("bench-form-error")).toHaveCount(0);

  const progress = page.getByTestId("bench-progress");
  await expect(progress).toHaveAttribute("data-phase", "idle");
  await page.getByTestId("bench-start").click();
  await expect(progress).not.toHaveAttribute("data-phase", "idle", { timeout: 10_000 });
  await expect(page.getByTestId("bench-cancel")).toBeEnabled();

  // Live: the measuring phases, finished process runs listed as they end.
  await expect(progress).toHaveAttribute("data-phase", /^(measuring|scaling)$/, { timeout: 120_000 });
  await expect(page.getByTestId("bench-chart-live")).toBeVisible();
  await expect(page.getByTestId("bench-completed-row").first()).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId("bench-steps")).toHaveText(/^\d+ \/ \d+$/);

  // A second browser (or this one after a reload) follows the running benchmark live instead of
  // starting another; closing it does not stop the benchmark.
  const other = await browser.newPage();
  await other.goto("/?view=bench");
  await expect(other.getByTestId("bench-progress")).toHaveAttribute("data-phase", /^(measuring|scaling|warmup)$/, { timeout: 15_000 });
  await expect(other.getByTestId("bench-completed-row").first()).toBeVisible();
  await expect(other.getByTestId("bench-start")).toBeDisabled();
  await other.close();

  await page.screenshot({ path: `${SHOTS}/benchmark-live.png` });

  // The result: the verdict, a row per mode, the charts.
  const verdict = page.getByTestId("bench-verdict");
  await expect(verdict).toHaveAttribute("data-agree", "true", { timeout: 150_000 });
  await expect(progress).toHaveAttribute("data-phase", "done");
  await expect(verdict).toContainText("All checksums agree");
  const results = page.getByTestId("bench-results");
  for (const m of ["duckdb", "monolith", "split"]) {
    await expect(results.getByTestId(`bench-row-${m}`)).toBeVisible();
    await expect(results.getByTestId(`bench-row-${m}`)).toContainText("/s");
  }
  for (const c of ["throughput", "latency", "processes", "ipc", "scaling"]) {
    const chart = page.getByTestId(`bench-chart-${c}`);
    await expect(chart).toBeAttached();
    await expect(chart.locator("svg.recharts-surface").first()).toBeAttached();
  }
  // Bars are drawn for each mode's throughput.
  await expect(page.getByTestId("bench-chart-throughput").locator(".recharts-bar-rectangle")).toHaveCount(5);

  // The run is in the history, selected.
  const id = (await page.getByTestId("bench-result").getAttribute("data-run"))!;
  expect(id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
  await expect(page.getByTestId(`bench-history-${id}`)).toBeVisible();
  await expect(page.getByTestId(`bench-history-${id}`)).toHaveAttribute("data-status", "passed");
  await expect(page).toHaveURL(new RegExp(`run=${id}`));

  await page.screenshot({ path: `${SHOTS}/benchmark-result.png` });

  // Export: the server's Markdown, as a file named after the run.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("bench-export-md").click()]);
  expect(download.suggestedFilename()).toBe(`bench-${id}.md`);
  const text = await readFile((await download.path())!, "utf8");
  expect(text.length).toBeGreaterThan(200);
  expect(text).toContain("# Pipeline benchmark");
  expect(text).toContain(id);
});
