// Screenshots of dashboard pages for a person to look at: each path at 1280 px and 390 px, light and dark.
//   node scripts/shoot.mjs <base url> <out dir> <path> [<path> ...]
// Signs in as ECO_USER / ECO_PASSWORD (default admin / eco-admin). Uses Debian's chromium (never downloads one).
import { chromium } from "@playwright/test";
import { mkdirSync } from "node:fs";

const [base, out, ...paths] = process.argv.slice(2);
if (!base || !out || paths.length === 0) {
  console.error("usage: node scripts/shoot.mjs <base url> <out dir> <path> [<path> ...]");
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const user = process.env.ECO_USER || "admin";
const password = process.env.ECO_PASSWORD || "eco-admin";
for (const scheme of ["light", "dark"]) {
  for (const width of [1280, 390]) {
    const context = await browser.newContext({ viewport: { width, height: width > 500 ? 800 : 844 }, colorScheme: scheme });
    const page = await context.newPage();
    page.on("pageerror", (e) => console.error(`[${scheme} ${width}] page error: ${e.message}`));
    await page.goto(base + "/");
    await page.getByLabel("Username").fill(user);
    await page.getByRole("textbox", { name: "Password" }).fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("navigation", { name: "Main" }).waitFor({ state: "attached" });
    for (const path of paths) {
      await page.goto(base + path);
      await page.waitForLoadState("networkidle").catch(() => {});
      await page.waitForTimeout(400);
      const name = `${path.replace(/[^a-z0-9]+/gi, "_").replace(/^_|_$/g, "") || "overview"}-${width}-${scheme}.png`;
      await page.screenshot({ path: `${out}/${name}`, fullPage: true });
      console.log(`${out}/${name}`);
    }
    await context.close();
  }
}
await browser.close();
