/**
 * Pages offer only what the signed-in role allows: a viewer of the team sees the same data as its owner but
 * no button to submit, upload, edit the card, export, give feedback or move an alias. Runs after 01-loop, so
 * the team has a data set, jobs and a model to look at.
 */
import { expect, test, type Page } from "@playwright/test";
import { apiGet, signIn, TEAM, USER, VIEWER } from "./helpers";

interface List<T> {
  results: T[];
}

async function firstIds(page: Page) {
  const datasets = await apiGet<List<{ id: string }>>(page, `/api/v1/datasets/?team=${TEAM}`);
  const listed = await apiGet<List<{ id: string; name: string; latest_version: number | null }>>(page, `/api/v1/models/?team=${TEAM}`);
  // 01-loop's model ("<run>-model"), not the base model the set-up imported for 10-finetune
  const models = listed.results.filter((m) => m.name.endsWith("-model"));
  expect(datasets.results.length, "01-loop made a data set").toBeGreaterThan(0);
  expect(models.length, "01-loop made a model").toBeGreaterThan(0);
  return { dataset: datasets.results[0].id, model: models[0].id, version: models[0].latest_version };
}

for (const [who, username, writes] of [
  ["the owner", USER, true],
  ["a viewer", VIEWER, false],
] as const) {
  test(`${who} is offered ${writes ? "every" : "no"} write action`, async ({ page }) => {
    await signIn(page, username);
    await expect(page.getByLabel(/^Your role/)).toHaveText(writes ? "admin" : "viewer");
    const { dataset, model, version } = await firstIds(page);
    const offered = async (locator: ReturnType<Page["getByRole"]>) => {
      if (writes) await expect(locator).toBeVisible();
      else await expect(locator).toHaveCount(0);
    };

    await page.goto("/jobs");
    await expect(page.getByRole("heading", { name: "Jobs", level: 2 })).toBeVisible();
    await offered(page.getByRole("link", { name: "Submit a job" }));

    await page.goto(`/datasets/${dataset}`);
    await expect(page.getByRole("tab", { name: "Versions" })).toBeVisible();
    await offered(page.getByRole("heading", { name: "Add a version" }));

    await page.goto(`/models/${model}?tab=card`);
    await expect(page.getByRole("tab", { name: "Model card" })).toBeVisible();
    await offered(page.getByRole("button", { name: "Edit card" }));

    await page.goto(`/models/${model}?tab=versions`); // the newest version is shown
    await expect(page.getByRole("heading", { name: `Version ${version}` })).toBeVisible();
    await offered(page.getByRole("button", { name: "Export" }));
    await offered(page.getByRole("button", { name: /^Quantize/ }));

    await page.goto(`/models/${model}/promote?alias=production&version=${version}`);
    await expect(page.getByRole("heading", { name: "Gate checks (dry run: nothing moves)" })).toBeVisible();
    await offered(page.getByRole("button", { name: "Move alias" }));
    await offered(page.getByRole("heading", { name: "Force the move (admin)" }));
  });
}
