/**
 * Every page, light and dark, at 1280 px and on a 390 px phone: it renders (its heading shows, no page error),
 * axe-core finds no serious or critical violation, and a screenshot is written for a person to look at.
 */
import { expect, test } from "@playwright/test";
import { apiGet, expectAccessible, screenshot, signIn, TEAM } from "./helpers";

interface Page<T> {
  results: T[];
}

for (const scheme of ["light", "dark"] as const) {
  for (const width of [1280, 390]) {
    test(`every page renders, is accessible and is photographed (${scheme}, ${width} px)`, async ({ browser }) => {
      test.setTimeout(600_000);
      const context = await browser.newContext({ viewport: { width, height: width > 500 ? 800 : 844 }, colorScheme: scheme });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await signIn(page);
      const jobs = await apiGet<Page<{ id: string; kind: string }>>(page, `/api/v1/jobs/?team=${TEAM}&page_size=20`);
      const datasets = await apiGet<Page<{ id: string }>>(page, `/api/v1/datasets/?team=${TEAM}`);
      const models = await apiGet<Page<{ id: string; name: string; latest_version: number | null }>>(page, `/api/v1/models/?team=${TEAM}`);
      const pages: [string, string][] = [
        ["overview", "/"],
        ["datasets", "/datasets"],
        ["jobs", "/jobs"],
        ["submit", "/submit?kind=train"],
        ["models", "/models"],
        ["team", "/team"],
        ["team-tokens", "/team?tab=tokens"],
        ["team-audit", "/team?tab=audit"],
      ];
      if (datasets.results[0]) {
        const d = datasets.results[0].id;
        for (const tab of ["versions", "schema", "preview", "lineage"]) pages.push([`dataset-${tab}`, `/datasets/${d}?tab=${tab}`]);
      }
      const train = jobs.results.find((j) => j.kind === "train") ?? jobs.results[0];
      if (train) pages.push(["job", `/jobs/${train.id}`]);
      const runs = await apiGet<Page<{ id: string }>>(page, `/api/v1/jobs/?team=${TEAM}&kind=tracking`);
      const tracked = runs.results[0];
      if (tracked) pages.push(["run", `/jobs/${tracked.id}`]);
      // two runs of one kind compare best; any two do
      const trains = jobs.results.filter((j) => j.kind === "train");
      const pair = (trains.length >= 2 ? trains : jobs.results).slice(0, 2);
      if (pair.length === 2) pages.push(["compare", `/compare?jobs=${pair.map((j) => j.id).join(",")}`]);
      if (models.results[0]) {
        const m = models.results[0].id;
        for (const tab of ["versions", "card", "evaluations", "gate", "try"]) pages.push([`model-${tab}`, `/models/${m}?tab=${tab}`]);
        const candidate = models.results[0].latest_version ? `&version=${models.results[0].latest_version}` : "";
        pages.push(["promote", `/models/${m}/promote?alias=production${candidate}`], ["timeline", `/models/${m}/timeline`], ["serving", `/models/${m}/serving`]);
      }
      // a model registered through MLflow's client: no task, one version Eco stores but never loads
      const mlflowModel = models.results.find((m) => m.name === "churn-sk");
      expect(mlflowModel, "the seeded MLflow model").toBeTruthy();
      pages.push(["mlflow-model-versions", `/models/${mlflowModel!.id}?tab=versions`], ["mlflow-model-gate", `/models/${mlflowModel!.id}?tab=gate`]);
      for (const [name, path] of pages) {
        await page.goto(path);
        await expect(page.getByRole("heading", { level: 2 }).first()).toBeVisible();
        await page.waitForLoadState("networkidle", { timeout: 5_000 }).catch(() => {});
        await expect(page.locator("[aria-busy=true]")).toHaveCount(0); // no part of the page left loading
        if (name === "run") {
          // a tracking run shows where it ran and the files it logged
          await expect(page.getByRole("heading", { name: "Source and environment" })).toBeVisible();
          await expect(page.getByRole("table", { name: "Source" })).toContainText("0123456789ab");
          await expect(page.getByRole("table", { name: "Source" })).toContainText("dirty");
          await expect(page.getByRole("link", { name: "notes.md" })).toBeVisible();
          // its experiment, name and own tags (MLflow's system tags, mlflow.*, left out)
          await expect(page.getByText("sgd-baseline")).toBeVisible();
          await expect(page.getByText("churn", { exact: true })).toBeVisible();
          await expect(page.getByLabel("Tags")).toContainText("stage: dev");
          await expect(page.getByLabel("Tags")).not.toContainText("mlflow.user");
        }
        if (name === "mlflow-model-versions") {
          await expect(page.getByText("no task (MLflow)").first()).toBeVisible();
          await expect(page.getByText("mlflow", { exact: true }).first()).toBeVisible();
        }
        if (name === "mlflow-model-gate") await expect(page.getByText("registered through MLflow and has no task yet")).toBeVisible();
        await expectAccessible(page, `${name} (${scheme}, ${width} px)`);
        await screenshot(page, name, width, scheme);
      }
      expect(errors, "page errors").toEqual([]);
      await context.close();
    });
  }
}
