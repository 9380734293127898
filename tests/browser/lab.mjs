// difflab serve in a real browser: Debian's headless Chromium driven by playwright-core.
// Opens the page, moves the t slider (the image must change), trains one short epoch (the loss
// curve must grow), samples (frames and samples must arrive), types an answer, reloads and
// finds it again. Screenshots go to $SCREENSHOT_DIR (default target/browser-screenshots).
//
// Usage: DIFFLAB_SERVE_URL=http://127.0.0.1:PORT/ node tests/browser/lab.mjs
import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const url = process.env.DIFFLAB_SERVE_URL;
const shots = process.env.SCREENSHOT_DIR || "target/browser-screenshots";
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
if (!url) throw new Error("set DIFFLAB_SERVE_URL to the server's address");
mkdirSync(shots, { recursive: true });

const profile = mkdtempSync(join(tmpdir(), "difflab-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: browserPath,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
  viewport: { width: 1400, height: 1000 },
});
const page = context.pages()[0] || (await context.newPage());
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
let failed = 0, passed = 0;

async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
    await page.screenshot({ path: join(shots, `failed-${name.replace(/\W+/g, "-")}.png`), fullPage: true }).catch(() => {});
  }
}
const data = (key) => page.evaluate((k) => document.body.dataset[k], key);
const shot = (name) => page.screenshot({ path: join(shots, name), fullPage: true });

try {
  await check("the page opens", async () => {
    await page.goto(url);
    await page.waitForFunction(() => document.body.dataset.ready === "1", null, { timeout: 20000 });
    await page.waitForFunction(() => document.body.dataset.forwardT === "50", null, { timeout: 10000 });
    await shot("1-module1-t50.png");
  });

  await check("moving the t slider changes x_t", async () => {
    const before = await page.getAttribute("#f-image", "src");
    await page.locator("#f-t").fill("150");
    await page.waitForFunction(() => document.body.dataset.forwardT === "150", null, { timeout: 5000 });
    const after = await page.getAttribute("#f-image", "src");
    if (!after || after === before) throw new Error("the image did not change");
    const ab = await page.textContent("#f-ab");
    if (!(parseFloat(ab) > 0 && parseFloat(ab) < 0.5)) throw new Error(`ᾱ at t = 150 shows ${ab}`);
    await page.locator("input[name=schedule][value=cosine]").check();
    await page.waitForTimeout(300);
    await shot("2-module1-t150-cosine.png");
  });

  await check("a one-epoch training run grows the loss curve", async () => {
    await page.click("button[data-tab=train]");
    await page.fill("#t-epochs", "1");
    await page.fill("#t-limit", "2560");
    await page.click("#t-start");
    const seen = new Set();
    const t0 = Date.now();
    while (Date.now() - t0 < 120000) {
      seen.add(Number(await data("lossPoints")) || 0);
      if ((await data("trainState")) === "done") break;
      await page.waitForTimeout(40);
    }
    if ((await data("trainState")) !== "done") throw new Error(`training ended as ${await data("trainState")}`);
    const counts = [...seen].filter((n) => n > 0);
    if (counts.length < 2) throw new Error(`the loss curve did not grow step by step: ${[...seen]}`);
    await page.waitForSelector("#t-preview:not(.hidden)", { timeout: 10000 });
    await shot("3-module2-trained.png");
  });

  await check("sampling streams frames, then samples", async () => {
    await page.click("button[data-tab=sample]");
    await page.waitForFunction(() => document.querySelector("#s-model").options.length > 0, null, { timeout: 5000 });
    await page.click("#s-start");
    await page.waitForFunction(() => Number(document.body.dataset.frames) > 0, null, { timeout: 20000 });
    await shot("4-module3-streaming.png");
    await page.waitForFunction(() => document.body.dataset.sampleState === "done", null, { timeout: 120000 });
    await page.waitForSelector("#s-samples:not(.hidden)");
    const frames = Number(await data("frames"));
    if (frames !== 200) throw new Error(`${frames} frames for 200 steps`);
    await shot("5-module3-samples.png");
  });

  const answer = "SNR falls below 1 at about t = 41: the noise then outweighs the digit.";
  await check("an answer survives a reload", async () => {
    await page.click("button[data-tab=forward]");
    await page.locator('#questions-list textarea[data-key="7"]').fill(answer);
    await page.waitForFunction(() => document.body.dataset.saved === "7", null, { timeout: 5000 });
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.ready === "1", null, { timeout: 20000 });
    await page.click("button[data-tab=forward]");
    const v = await page.inputValue('#questions-list textarea[data-key="7"]');
    if (v !== answer) throw new Error(`after the reload Q7 reads '${v}'`);
    await page.click("button[data-tab=sheet]");
    await shot("6-answer-sheet.png");
  });

  await check("no script errors", async () => {
    if (errors.length) throw new Error(errors.join("; "));
  });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
