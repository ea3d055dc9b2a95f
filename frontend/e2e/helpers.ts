/** Shared steps of the browser tests: signing in, accessibility checks, screenshots. */
import AxeBuilder from "@axe-core/playwright";
import { expect, type Page } from "@playwright/test";

export const USER = process.env.E2E_USER ?? "admin";
export const VIEWER = process.env.E2E_VIEWER ?? "viewer";
export const PASSWORD = process.env.E2E_PASSWORD ?? "eco-admin";
export const TEAM = process.env.E2E_TEAM ?? "demo";
const SHOTS = process.env.E2E_SCREENSHOTS ?? "../var/screenshots";

export async function signIn(page: Page, username = USER, password = PASSWORD) {
  await page.goto("/");
  await page.getByLabel("Username").fill(username);
  await page.getByRole("textbox", { name: "Password" }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("navigation", { name: "Main" })).toBeAttached();
}

/** axe-core with every rule on: no serious or critical violation. */
export async function expectAccessible(page: Page, what: string) {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const summary = bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
  expect(summary, `accessibility of ${what}`).toEqual([]);
}

/** Writes <name>-<width>-<scheme>.png for the current viewport and colour scheme. */
export async function screenshot(page: Page, name: string, width: number, scheme: string) {
  await page.screenshot({ path: `${SHOTS}/${name}-${width}-${scheme}.png`, fullPage: true });
}

/** Data the API holds, read with the browser's session (ids for the pages to visit). */
export async function apiGet<T>(page: Page, path: string): Promise<T> {
  const response = await page.request.get(path);
  expect(response.ok(), `GET ${path}`).toBeTruthy();
  return (await response.json()) as T;
}
