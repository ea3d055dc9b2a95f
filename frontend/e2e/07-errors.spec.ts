/**
 * A page whose object does not exist (or is another team's: the API answers both with 404) says so in an
 * alert, with the API's words, instead of a blank page or a page error; an unknown path has a page too.
 */
import { expect, test } from "@playwright/test";
import { expectAccessible, signIn } from "./helpers";

const NONE = "00000000-0000-0000-0000-000000000000";

test("missing objects and unknown paths get an error state, not a blank page", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await signIn(page);
  for (const path of [`/jobs/${NONE}`, `/datasets/${NONE}`, `/models/${NONE}`, `/models/${NONE}/timeline`, `/models/${NONE}/serving`]) {
    await page.goto(path);
    await expect(page.getByRole("alert").first(), path).toContainText(/not found/i);
    await expectAccessible(page, path);
  }
  await page.goto("/no-such-page");
  await expect(page.getByRole("heading", { level: 2 })).toContainText(/not found/i);
  expect(errors, "page errors").toEqual([]);
});
