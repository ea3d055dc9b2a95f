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
  test.setTimeout(Number(process.env.E2E_LOOP_TIMEOUT ?? 900_000));
  await signIn(page);

  // a data set, then its first version uploaded through the page with a visible progress bar
  const dataset = await post(page, "/api/v1/datasets/", { team: TEAM, name: NAME, task: "classification" });
  await page.goto(`/datasets/${dataset.id}`);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 25_000 });
  await page.getByLabel("File", { exact: true }).setInputFiles({ name: "flowers.csv", mimeType: "text/csv", buffer: Buffer.from(csv()) });
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
  await page.getByRole("combobox", { name: "dataset_version: data set" }).click();
  await page.getByRole("option", { name: new RegExp(NAME) }).click();
  await page.getByRole("combobox", { name: "dataset_version", exact: true }).click();
  await page.getByRole("option").first().click();
  await page.getByRole("combobox", { name: "model", exact: true }).fill(`${NAME}-model`);
  await page.getByRole("combobox", { name: "architecture", exact: true }).click();
  await page.getByRole("option", { name: "textcnn" }).click();
  await page.getByRole("button", { name: "Submit train job" }).click();
  // by the field it names (spec.architecture), not only in the list of errors above the form
  await expect(page.getByRole("combobox", { name: "architecture", exact: true })).toHaveAccessibleDescription(/textcnn cannot serve/);
  await expect(page.locator("#root_architecture-error")).toBeVisible();
  await page.getByRole("combobox", { name: "architecture", exact: true }).click();
  await page.getByRole("option", { name: "mlp" }).click();
  await page.getByRole("textbox", { name: "epochs", exact: true }).fill("20");
  await page.getByRole("button", { name: "Submit train job" }).click();
  await page.waitForURL(/\/jobs\/[0-9a-f-]{36}/);
  const jobId = page.url().match(/jobs\/([0-9a-f-]{36})/)![1];

  // its curve grows while it trains: "showing N of M points" counts up without leaving the page, and the new
  // points come from incremental reads (after_step), not from reading the whole series again
  const shown = page.getByText(/showing [\d,]+ of [\d,]+ points/).first();
  await expect(shown).toBeVisible({ timeout: 120_000 });
  const count = async () => Number(((await shown.textContent()) ?? "").match(/of ([\d,]+)/)![1].replace(/,/g, ""));
  // The charts already drawn (their first read answered) are noted before any read is counted: each must only
  // append from now on. A chart that mounts later (a key that appears later, such as the worker's system/
  // metrics) reads its series when it mounts; that is not a re-read.
  const drawn = await page
    .locator("[data-metric]")
    .filter({ hasText: /showing [\d,]+ of [\d,]+ points/ })
    .evaluateAll((els) => els.map((e) => e.getAttribute("data-metric") ?? ""));
  expect(drawn.length).toBeGreaterThan(0);
  const reads = { full: new Map<string, number>(), incremental: 0 };
  page.on("request", (r) => {
    const url = new URL(r.url());
    const key = url.searchParams.get("key");
    if (!url.pathname.startsWith(`/api/v1/jobs/${jobId}/metrics/`) || !key) return;
    if (url.searchParams.has("after_step")) reads.incremental++;
    else reads.full.set(key, (reads.full.get(key) ?? 0) + 1);
  });
  const first = await count();
  await expect.poll(count, { timeout: 120_000 }).toBeGreaterThan(first);
  const second = await count();
  await expect.poll(count, { timeout: 120_000 }).toBeGreaterThan(second);
  expect(reads.incremental).toBeGreaterThan(0);
  const reread = drawn.filter((k) => (reads.full.get(k) ?? 0) > 0);
  expect(reread, "a running job's charts append; none drawn before reads its series again").toEqual([]);
  await waitForJob(page, jobId);

  // a second job (through the API) and the two compared
  const other = await post(page, "/api/v1/jobs/", {
    team: TEAM,
    kind: "train",
    spec: { dataset_version: version, model: `${NAME}-model`, architecture: "mlp", hyperparameters: { epochs: 3, lr: 0.05 } },
  });
  await waitForJob(page, other.id);
  await page.goto(`/compare?jobs=${jobId},${other.id}`);
  await expect(page.getByText("differs").first()).toBeVisible();
  // dragging across a chart reads the exact points of that step window for every job
  const windowReads: string[] = [];
  page.on("request", (r) => {
    if (r.url().includes("/metrics/") && r.url().includes("start_step=")) windowReads.push(r.url());
  });
  const over = page.locator('[data-metric="train_loss"] .u-over');
  // the chart is drawn again as each job's series arrives: retry until it holds still
  let box: { x: number; y: number; width: number; height: number } | null = null;
  await expect(async () => {
    await over.scrollIntoViewIfNeeded({ timeout: 2_000 });
    box = await over.boundingBox();
    expect(box).not.toBeNull();
  }).toPass({ timeout: 30_000 });
  box = box!;
  await page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 8 });
  await page.mouse.up();
  await expect(page).toHaveURL(/from=\d+&to=\d+|to=\d+.*from=\d+/);
  await expect.poll(() => windowReads.length).toBeGreaterThanOrEqual(2); // one per job
  await expect(page.getByRole("button", { name: "Reset zoom" })).toBeEnabled();

  // promote through the gate: refused first with the checks shown, then moved
  const modelVersion = (await (await page.request.get(`/api/v1/jobs/${jobId}/`)).json()).outputs.model_version as string;
  const mv = await (await page.request.get(`/api/v1/model-versions/${modelVersion}/`)).json();
  const modelId = mv.model as string;
  await post(page, `/api/v1/models/${modelId}/gate/`, { dataset_version: version, split: "test", required_card_fields: ["Intended use"] }, "PUT");
  await page.goto(`/models/${modelId}/promote?alias=production&version=${mv.version}`);
  await expect(page.getByText(/lacks the section/)).toBeVisible();
  await expect(page.getByRole("button", { name: "Move alias" })).toBeDisabled();
  const evaluate = await post(page, "/api/v1/jobs/", { team: TEAM, kind: "evaluate", spec: { model_version: modelVersion, dataset_version: version, split: "test" } });
  await waitForJob(page, evaluate.id);
  await page.goto(`/models/${modelId}?tab=card`);
  await page.getByRole("button", { name: "Edit card" }).click();
  await page.getByLabel("Model card (Markdown)").fill("# Flowers\n\n## Intended use\n\nA test of the whole loop.\n");
  await page.getByRole("button", { name: "Save card" }).click();
  await expect(page.getByText("✓ Intended use")).toBeVisible();
  await page.goto(`/models/${modelId}/promote?alias=production&version=${mv.version}`);
  await expect(page.getByRole("button", { name: "Move alias" })).toBeEnabled({ timeout: 30_000 });
  await page.getByRole("button", { name: "Move alias" }).click();
  await expect.poll(async () => (await (await page.request.get(`/api/v1/models/${modelId}/`)).json()).aliases.production).toBe(modelVersion);

  // try a prediction and give feedback on it
  await page.goto(`/models/${modelId}?tab=try`);
  for (const [i, value] of ["4.1", "5.2", "4.3", "4.4"].entries()) await page.getByLabel(`f${i + 1}`, { exact: true }).fill(value);
  await page.getByRole("button", { name: /^Predict/ }).click();
  await expect(page.getByText(/virginica|versicolor|setosa/).first()).toBeVisible();
  await page.getByRole("combobox", { name: "True label" }).click();
  await page.getByRole("option", { name: "virginica" }).click();
  await page.getByRole("button", { name: "Give feedback" }).click();
  await expect.poll(async () => (await (await page.request.get(`/api/v1/predictions/?model=${modelId}&has_feedback=true`)).json()).count).toBe(1);

  // the feedback on the model's timeline
  await page.goto(`/models/${modelId}/timeline`);
  await expect(page.getByRole("link", { name: "1 label", exact: true })).toBeVisible();
  await expect(page.getByRole("link", { name: "1 prediction", exact: true })).toBeVisible();
});
