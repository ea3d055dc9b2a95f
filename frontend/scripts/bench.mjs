// Measures the dashboard in Debian's chromium (see benchmarks/dashboard.py, which starts the server and seeds).
//   node scripts/bench.mjs <base url> <job id with 1M points> <spike steps, comma-separated>
// Prints one JSON object: chart_drawn_ms, spikes_kept, points_drawn, table_first_row_ms, table_max_rows_in_dom,
// overview_js_gzip_kb, overview_js_files.
import { chromium } from "@playwright/test";
import { gzipSync } from "node:zlib";

const [base, jobId, spikeList] = process.argv.slice(2);
const spikeSteps = spikeList.split(",").map(Number);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
const figures = {};

/** Where a navigation's time went: each request's path, start and end in ms from the navigation start. */
async function requestTimings(page) {
  return page.evaluate(() =>
    [
      ["document", 0, Math.round(performance.getEntriesByType("navigation")[0]?.responseEnd ?? 0)],
      ...performance
        .getEntriesByType("resource")
        .map((e) => [new URL(e.name).pathname + new URL(e.name).search.slice(0, 60), Math.round(e.startTime), Math.round(e.responseEnd)]),
    ],
  );
}

// bundle: every script the overview loads, from a cold cache, through sign-in
const scripts = new Map();
page.on("response", async (response) => {
  if (response.request().resourceType() === "script") {
    try {
      scripts.set(response.url(), gzipSync(await response.body()).length);
    } catch {}
  }
});
await page.goto(base + "/");
await page.getByLabel("Username").fill("bench");
await page.getByRole("textbox", { name: "Password" }).fill("bench-password-1");
await page.getByRole("button", { name: "Sign in" }).click();
await page.getByRole("navigation", { name: "Main" }).waitFor({ state: "attached" });
await page.waitForLoadState("networkidle");
figures.overview_js_gzip_kb = Math.round([...scripts.values()].reduce((a, b) => a + b, 0) / 102.4) / 10;
figures.overview_js_files = scripts.size;
page.removeAllListeners("response");

// chart: navigation start -> uPlot drew the series (the chart sets window.__ecoChartDrawn = performance.now())
const seriesBodies = [];
page.on("response", async (response) => {
  if (response.url().includes(`/jobs/${jobId}/metrics/`) && response.url().includes("key=loss")) {
    try {
      seriesBodies.push(await response.json());
    } catch {}
  }
});
// the server's code paths warmed on another job first (a web worker's first request of a kind pays for
// imports); this job's data is read for the first time by the measured navigation
const other = await page.evaluate(
  async (team) => (await (await fetch(`/api/v1/jobs/?team=${team}&page_size=1`)).json()).results[0].id,
  process.env.BENCH_TEAM ?? "bench",
);
await page.goto(`${base}/jobs/${other}`);
await page.waitForLoadState("networkidle");
await page.evaluate(() => performance.clearResourceTimings());
await page.goto(`${base}/jobs/${jobId}?keys=loss`);
await page.waitForFunction(() => typeof window.__ecoChartDrawn === "number", null, { timeout: 30000 });
figures.chart_drawn_ms = Math.round(await page.evaluate(() => window.__ecoChartDrawn));
figures.chart_requests = await requestTimings(page);
const body = seriesBodies.find((b) => Array.isArray(b.points));
figures.points_drawn = body ? body.points.length : null;
// a spike is kept when a drawn point of its height lies in its bucket (one bucket per pixel column: two
// spikes in one column are one line on the screen, and the server keeps one of them)
const drawnSpikes = body ? body.points.filter((p) => p[1] >= 49.999).map((p) => p[0]) : [];
const bucket = body ? (body.points.at(-1)[0] - body.points[0][0]) / (body.points.length / 2) : 0;
figures.spikes_kept = body ? spikeSteps.filter((s) => drawnSpikes.some((d) => Math.abs(d - s) <= bucket)).length : null;
figures.spike_points_drawn = drawnSpikes.length;
figures.spikes = spikeSteps.length;

// runs table: navigation start -> first row; then scroll to the end, counting rows in the DOM
await page.goto(`${base}/jobs`);
// measured in the page (polled every animation frame), not after a round trip to this script
const firstRow = await page.waitForFunction(() => document.querySelector("tbody tr td") && performance.now(), null, {
  timeout: 30000,
  polling: "raf",
});
figures.table_first_row_ms = Math.round(await firstRow.jsonValue());
figures.table_requests = await requestTimings(page);
figures.table_rows_total = await page.evaluate(() => document.body.innerText.match(/of ([\d,]+) jobs/)?.[1] ?? null);
let maxRows = 0;
for (let i = 0; i < 40; i++) {
  maxRows = Math.max(maxRows, await page.locator("tbody tr").count());
  await page.mouse.move(640, 500);
  await page.mouse.wheel(0, 1500);
  await page.waitForTimeout(50);
}
figures.table_max_rows_in_dom = maxRows;
console.log(JSON.stringify(figures));
await browser.close();
