// The foundation seen as a viewer sees it: live graph, a killed process dies and comes back as a
// new instance, a hung one goes STALE then DEAD, and a shared link opens the same selection.

import { expect, test, type Page } from "@playwright/test";

const SHOTS = "../test-results/screenshots";

interface WireNode {
  instanceId: string;
  name: string;
  pid: number;
  state: string;
  restartCount?: number;
}

async function topology(page: Page): Promise<WireNode[]> {
  const res = await page.request.post("/runtime.v1.TopologyService/GetTopology", { data: {}, headers: { "content-type": "application/json" } });
  expect(res.ok()).toBe(true);
  return ((await res.json()) as { nodes?: WireNode[] }).nodes ?? [];
}

async function liveNode(page: Page, name: string): Promise<WireNode> {
  let found: WireNode | undefined;
  await expect
    .poll(async () => {
      found = (await topology(page)).find((n) => n.name === name && n.state !== "CONNECTION_STATE_DEAD" && n.pid > 0);
      return found !== undefined;
    }, { timeout: 15_000 })
    .toBe(true);
  return found!;
}

test("live graph: nodes, an ACTIVE edge with a rate, kill -9 and a hang", async ({ page }) => {
  const consoleErrors: string[] = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(e.message));

  await page.goto("/");
  await expect(page.getByTestId("stream-status")).toHaveAttribute("data-status", "live", { timeout: 10_000 });
  for (const name of ["calculator-server", "calculator-client", "calculator-batch"]) {
    await expect(page.getByTestId(`node-${name}`)).toBeVisible({ timeout: 10_000 });
  }
  await expect(page.getByTestId("node-calculator-server")).toHaveAttribute("data-state", "ACTIVE", { timeout: 10_000 });
  await expect(page.locator('[data-testid^="edge-label-"]').filter({ hasText: "req/s" }).first()).toBeVisible();
  await page.waitForTimeout(1500);
  await page.screenshot({ path: `${SHOTS}/topology-live.png` });

  // kill -9: the supervisor sees the exit at once, the node shows DEAD, then a new instance.
  const victim = await liveNode(page, "calculator-client");
  process.kill(victim.pid, "SIGKILL");
  await expect(page.getByTestId("node-calculator-client")).toHaveAttribute("data-state", "DEAD", { timeout: 2000 });
  await expect(page.getByTestId("node-calculator-client")).toContainText("process exited (signal SIGKILL)");
  await page.screenshot({ path: `${SHOTS}/topology-killed.png` });
  await expect(page.getByTestId("log-marker").filter({ hasText: /calculator-client exited \(signal SIGKILL\) → restarting in \d+ ms/ })).toBeVisible({ timeout: 5000 });
  await expect(page.getByTestId("node-calculator-client")).toHaveAttribute("data-state", "ACTIVE", { timeout: 15_000 });
  await expect(page.getByTestId("node-calculator-client")).toContainText("restarts 1");
  const reborn = await liveNode(page, "calculator-client");
  expect(reborn.instanceId).not.toBe(victim.instanceId);

  // A hang (SIGSTOP): heartbeats stop, so STALE after 2 intervals and DEAD after 6.
  const hung = await liveNode(page, "calculator-batch");
  process.kill(hung.pid, "SIGSTOP");
  try {
    await expect(page.getByTestId("node-calculator-batch")).toHaveAttribute("data-state", "STALE", { timeout: 5000 });
    await page.screenshot({ path: `${SHOTS}/topology-stale.png` });
    await expect(page.getByTestId("node-calculator-batch")).toHaveAttribute("data-state", "DEAD", { timeout: 5000 });
    await expect(page.getByTestId("node-calculator-batch")).toContainText("heartbeat timeout");
  } finally {
    process.kill(hung.pid, "SIGCONT");
  }
  // Woken up, its beats are refused; it registers again as a new instance.
  await expect(page.getByTestId("node-calculator-batch")).not.toHaveAttribute("data-state", "DEAD", { timeout: 10_000 });
  const back = await liveNode(page, "calculator-batch");
  expect(back.instanceId).not.toBe(hung.instanceId);

  expect(consoleErrors).toEqual([]);
});

test("the selected node lives in the URL, so a shared link opens the same view", async ({ page }) => {
  await page.goto("/");
  await page.getByTestId("node-calculator-server").click();
  await expect(page).toHaveURL(/\?node=calculator-server/);
  await expect(page.getByTestId("details-panel")).toContainText("calculator-server");
  await expect(page.getByTestId("details-panel")).toContainText("address");

  const shared = page.url();
  const viewer = await page.context().newPage();
  await viewer.goto(shared);
  await expect(viewer.getByTestId("details-panel")).toContainText("calculator-server");
  await expect(viewer.getByTestId("details-panel")).toContainText("127.0.0.1:");
  await viewer.screenshot({ path: `${SHOTS}/topology-selected.png` });

  // An edge can be selected too.
  await viewer.getByTestId("edge-label-calculator-client->calculator-server").click();
  await expect(viewer).toHaveURL(/\?edge=/);
  await expect(viewer.getByTestId("details-panel")).toContainText("requests");
});
