/**
 * Fine-tuning a pretrained model in the browser, as a user does it: the base model (a tiny BERT the test's
 * set-up imported as `e2e-base`) is found among the Hugging Face checkpoints, its version page shows the
 * checkpoint and offers "Fine-tune"; the form starts with that base, the user picks a text data set (uploaded
 * through the API here) and submits; the job page charts tokens/s and memory while it runs; the fine-tuned
 * version names its base, and the timeline shows base -> fine-tune job -> version. Then each of those pages is
 * photographed in light and dark, at 1280 and 390 px, and checked with axe-core.
 */
import { expect, test, type Page } from "@playwright/test";
import { apiGet, expectAccessible, screenshot, signIn, TEAM } from "./helpers";

interface List<T> {
  results: T[];
}
interface Model {
  id: string;
  name: string;
  formats: string[];
}

const NAME = `e2e-ft-${Date.now().toString(36)}`;

/** 200 short reviews, positive or negative by one word: a two-class text data set a tiny BERT learns. */
function reviews(): string {
  const good = ["good", "great", "loved", "enjoyed", "fun"];
  const bad = ["bad", "awful", "hated", "boring", "poor"];
  const filler = ["the", "movie", "film", "plot", "was", "really", "very", "this"];
  const rows = ["text,label"];
  for (let i = 0; i < 200; i++) {
    const positive = i % 2 === 0;
    const word = (positive ? good : bad)[(i * 7) % 5];
    rows.push(`${filler[i % 8]} ${filler[(i * 3) % 8]} ${word} ${filler[(i * 5) % 8]},${positive ? "pos" : "neg"}`);
  }
  return rows.join("\n") + "\n";
}

async function csrf(page: Page): Promise<string> {
  return (await page.context().cookies()).find((c) => c.name === "csrftoken")?.value ?? "";
}

test("fine-tune a base model from its page and follow it to the fine-tuned version", async ({ page, browser }) => {
  test.setTimeout(600_000);
  await signIn(page);

  // the text data set, through the API with the browser's session
  const headers = { "X-CSRFToken": await csrf(page) };
  const created = await page.request.post("/api/v1/datasets/", { data: { team: TEAM, name: NAME, task: "text-classification" }, headers });
  expect(created.ok(), await created.text()).toBeTruthy();
  const dataset = (await created.json()) as { id: string };
  const uploaded = await page.request.post(`/api/v1/datasets/${dataset.id}/versions/`, {
    multipart: { file: { name: "reviews.csv", mimeType: "text/csv", buffer: Buffer.from(reviews()) }, target: "label" },
    headers,
  });
  expect(uploaded.ok(), await uploaded.text()).toBeTruthy();

  // the base model among the Hugging Face checkpoints, and its checkpoint on its version page
  await page.goto("/models?format=hf");
  const row = page.getByRole("row").filter({ hasText: "e2e-base" });
  await expect(row).toContainText("hf");
  await expect(page.getByRole("link", { name: "e2e-base" })).toBeVisible();
  const base = (await apiGet<List<Model>>(page, `/api/v1/models/?team=${TEAM}&weights_format=hf`)).results.find((m) => m.name === "e2e-base")!;
  await page.getByRole("link", { name: "e2e-base" }).click();
  await expect(page.getByRole("heading", { name: "Base model (Hugging Face checkpoint)" })).toBeVisible();
  await expect(page.getByRole("table", { name: "Checkpoint facts" })).toContainText("BertModel");
  await expect(page.getByRole("table", { name: "Checkpoint files" })).toContainText("model.safetensors");
  await expect(page.getByRole("link", { name: "tokenizer.json" })).toHaveAttribute("href", /\/files\/tokenizer\.json\/$/);

  // "Fine-tune v1" opens the finetune form with the base filled in
  await page.getByRole("link", { name: "Fine-tune v1" }).click();
  await page.waitForURL(/\/submit\?.*kind=finetune/);
  await page.getByRole("heading", { name: "Spec" }).waitFor();
  await expect(page.getByRole("combobox", { name: "base_version: model" })).toHaveValue("e2e-base");
  await expect(page.getByRole("combobox", { name: "base_version", exact: true })).toHaveValue("v1");
  await expect(page.getByRole("textbox", { name: "Processes" })).toBeVisible(); // a distributed kind
  await page.getByRole("combobox", { name: "dataset_version: data set" }).click();
  await page.getByRole("option", { name: NAME }).click();
  await page.getByRole("combobox", { name: "dataset_version", exact: true }).click();
  await page.getByRole("option").first().click();
  await page.getByRole("combobox", { name: "model", exact: true }).fill(`${NAME}-bert`);
  await page.getByRole("textbox", { name: "max_length", exact: true }).fill("32");
  await page.getByRole("textbox", { name: "epochs", exact: true }).fill("4");
  await page.getByRole("textbox", { name: "lr", exact: true }).fill("0.003");
  await page.getByRole("button", { name: "Submit finetune job" }).click();
  await page.waitForURL(/\/jobs\/[0-9a-f-]{36}/);
  const jobId = page.url().match(/jobs\/([0-9a-f-]{36})/)![1];

  // tokens/s and memory charted as it runs
  await expect(page.locator('[data-metric="tokens_per_s"]')).toBeVisible({ timeout: 120_000 });
  await expect(page.locator('[data-metric="memory_mb"]')).toBeVisible();
  await expect
    .poll(async () => (await (await page.request.get(`/api/v1/jobs/${jobId}/`)).json()).status, { timeout: 300_000, intervals: [1000] })
    .toBe("succeeded");
  const job = await apiGet<{ outputs: { model_version?: string } }>(page, `/api/v1/jobs/${jobId}/`);
  const versionId = job.outputs.model_version!;
  const version = await apiGet<{ model: string; parent: string }>(page, `/api/v1/model-versions/${versionId}/`);
  expect(version.parent).toBeTruthy();

  // the fine-tuned version names its base (a link to the base model's page) and the timeline draws the lineage
  await page.goto(`/models/${version.model}?tab=versions&version=${versionId}`);
  await expect(page.getByRole("heading", { name: "Fine-tuned checkpoint" })).toBeVisible();
  const baseLink = page.getByRole("link", { name: "e2e-base v1" }).first();
  await expect(baseLink).toHaveAttribute("href", new RegExp(`/models/${base.id}`));
  await page.goto(`/models/${version.model}/timeline`);
  await expect(page.getByText("e2e-base v1").first()).toBeVisible();

  const pages: [string, string][] = [
    ["hf-models", "/models?format=hf"],
    ["hf-base-version", `/models/${base.id}?tab=versions`],
    ["finetune-form", `/submit?kind=finetune&base_version=${version.parent}`],
    ["finetune-job", `/jobs/${jobId}`],
    ["finetuned-version", `/models/${version.model}?tab=versions&version=${versionId}`],
    ["finetune-timeline", `/models/${version.model}/timeline`],
  ];
  for (const scheme of ["light", "dark"] as const) {
    for (const width of [1280, 390]) {
      const context = await browser.newContext({ viewport: { width, height: width > 500 ? 800 : 844 }, colorScheme: scheme });
      const view = await context.newPage();
      const errors: string[] = [];
      view.on("pageerror", (e) => errors.push(e.message));
      await signIn(view);
      for (const [name, path] of pages) {
        await view.goto(path);
        await expect(view.getByRole("heading", { level: 2 }).first()).toBeVisible();
        await view.waitForLoadState("networkidle", { timeout: 5_000 }).catch(() => {});
        await expect(view.locator("[aria-busy=true]")).toHaveCount(0);
        await expectAccessible(view, `${name} (${scheme}, ${width} px)`);
        await screenshot(view, name, width, scheme);
      }
      expect(errors, "page errors").toEqual([]);
      await context.close();
    }
  }
});
