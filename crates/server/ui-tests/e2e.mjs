// The web UI end to end in a real browser (Debian's Chromium driven by playwright-core), against
// a Tributary server and fake providers on loopback started by crates/server/tests/it/ui_browser.rs.
// It signs in, connects the fake Okta through the generated form (a failed attempt first, which
// must show its field error), runs a sync, reads the records, connects Slack through the OAuth
// button, and uses the mapping playground. Each page is saved as a screenshot.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import assert from "node:assert/strict";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env("TRIBUTARY_URL");
const token = env("TRIBUTARY_TOKEN");
const oktaOrgUrl = env("OKTA_ORG_URL");
const oktaToken = env("OKTA_API_TOKEN");
const shots = env("SCREENSHOT_DIR");
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
let step = "start";
const page = await (await browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
page.setDefaultTimeout(20000);
const shot = async (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
const problems = [];
page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
// Statuses are checked per response (4xx answers to bad input are expected; 404s and 5xx not).
page.on("console", (message) => {
  if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
    problems.push(`console error: ${message.text()}`);
  }
});
page.on("response", (response) => {
  if (response.status() >= 500 || response.status() === 404) {
    problems.push(`${response.status()} for ${response.url()}`);
  }
});

try {
  step = "sign in with a wrong token";
  await page.goto(`${base}/`);
  assert.match(page.url(), /\/login/);
  await page.getByLabel("Tenant API token").fill("not-a-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("This token is unknown, revoked or expired.").waitFor();
  await shot("01-login-refused");

  step = "sign in";
  await page.getByLabel("Tenant API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/integrations$/);
  await page.getByRole("heading", { name: "Integrations" }).waitFor();
  await shot("02-integrations-empty");

  step = "catalog";
  await page.getByRole("link", { name: "Catalog" }).click();
  await page.getByRole("heading", { name: "Catalog" }).waitFor();
  const okta = page.locator('[data-definition="okta"]');
  await okta.getByRole("heading", { name: "Okta" }).waitFor();
  await shot("03-catalog");

  step = "a failed connect shows its field error";
  await okta.getByRole("link", { name: /Connect/ }).click();
  await page.getByRole("heading", { name: "Connect Okta" }).waitFor();
  await page.getByLabel("Name").fill("Okta (UI test)");
  await page.getByLabel("Org URL").fill(oktaOrgUrl);
  await page.getByRole("button", { name: "Connect", exact: true }).click();
  const tokenField = page.getByLabel(/API token/);
  await page.locator(".field-error").first().waitFor();
  assert.equal(await tokenField.getAttribute("aria-invalid"), "true");
  const describedBy = await tokenField.getAttribute("aria-describedby");
  assert.ok(describedBy && describedBy.includes("error"), "the error is tied to its field");
  assert.equal(await page.locator(`#${describedBy.split(" ").find((id) => id.endsWith("error"))}`).innerText(), "This field is required.");
  assert.equal(await page.getByLabel("Org URL").inputValue(), oktaOrgUrl, "typed values are kept");
  await shot("04-connect-field-error");

  step = "a refused token is reported without echoing it";
  await tokenField.fill("00wrong-token-for-the-ui-test");
  await page.getByRole("button", { name: "Connect", exact: true }).click();
  await page.getByRole("alert").filter({ hasText: "failed at step" }).waitFor();
  assert.ok(!(await page.content()).includes("00wrong-token-for-the-ui-test"), "secrets are not shown back");
  await shot("05-connect-refused");

  step = "connect Okta through the form";
  await page.getByRole("heading", { name: "Connect Okta (UI test)" }).waitFor();
  await page.getByLabel(/API token/).fill(oktaToken);
  await page.getByRole("button", { name: "Connect", exact: true }).click();
  await page.getByRole("heading", { name: "Connected" }).waitFor();
  await shot("06-connected");
  await page.getByRole("link", { name: "Open the integration" }).click();
  await page.getByRole("heading", { name: "Okta (UI test)" }).waitFor();
  await page.locator(".badge", { hasText: "connected" }).first().waitFor();
  await shot("07-integration");

  step = "run a sync and watch it finish";
  const sync = page.locator("form.operation", { has: page.getByRole("heading", { name: "DirectorySync" }) });
  await sync.getByRole("button", { name: /Run/ }).click();
  await page.waitForURL(/\/runs\//);
  await page.locator(".badge", { hasText: "succeeded" }).waitFor({ timeout: 60000 });
  const counters = await page.locator("dt:text('Counters') + dd").innerText();
  assert.match(counters, /seen [1-9]/, "the run's counters are shown");
  await page.getByRole("heading", { name: "Log" }).waitFor();
  await shot("08-run");

  step = "runs list";
  await page.getByRole("link", { name: "Runs", exact: true }).click();
  await page.getByRole("link", { name: "DirectorySync" }).first().waitFor();
  await shot("09-runs");

  step = "records";
  await page.getByRole("link", { name: "Records", exact: true }).click();
  await page.getByRole("heading", { name: "Records: DirectoryAccount" }).waitFor();
  const rows = await page.locator("tbody tr").count();
  assert.ok(rows > 0, "the synced accounts are listed");
  await shot("10-records");
  await page.locator("tbody tr a").first().click();
  await page.getByRole("heading", { name: "Mapped fields" }).waitFor();
  await page.getByRole("heading", { name: "Raw payload" }).waitFor();
  await shot("11-record");
  await page.getByLabel("Model").waitFor({ state: "detached" }).catch(() => {});
  await page.goto(`${base}/records?model=DirectoryGroup`);
  assert.ok((await page.locator("tbody tr").count()) > 0, "groups are listed");

  step = "connect Slack through the OAuth button";
  await page.goto(`${base}/catalog`);
  await page.locator('[data-definition="slack"]').getByRole("link", { name: /Connect/ }).click();
  await page.getByRole("heading", { name: "Connect Slack" }).waitFor();
  const oauthMode = page.getByRole("navigation", { name: "Connection mode" }).getByRole("link", { name: /OAuth|Install|Add to Slack/i });
  if (await oauthMode.count()) {
    await oauthMode.first().click();
  }
  await page.getByRole("button", { name: /Connect with Slack/ }).click();
  await page.waitForURL(/\/integrations\/[^/]+$/);
  await page.locator(".badge", { hasText: "connected" }).first().waitFor();
  await shot("12-oauth-connected");

  step = "mapping playground";
  await page.getByRole("link", { name: "Mapping playground" }).click();
  await page.getByLabel("Definition").selectOption("okta");
  await page.waitForURL(/definition=okta/);
  await page.getByLabel("Mapping").selectOption("DirectoryAccount");
  await page.getByLabel("Provider payload (JSON)").fill("{not json");
  await page.getByRole("button", { name: "Evaluate" }).click();
  await page.getByText("The payload is not valid JSON").waitFor();
  await shot("13-playground-error");

  step = "phone width";
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/integrations`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `no sideways scrolling on a phone (overflow ${overflow}px)`);
  await shot("14-phone");

  step = "keyboard: the skip link is the first stop";
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");

  step = "sign out";
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/login/);
  await page.goto(`${base}/integrations`);
  assert.match(page.url(), /\/login/);

  assert.deepEqual(problems, [], "no script errors");
  console.log(`ui e2e: all steps passed; screenshots in ${shots}`);
  await browser.close();
} catch (error) {
  await shot("failure").catch(() => {});
  console.error(`ui e2e failed at step "${step}" on ${page.url()}: ${error.stack || error}`);
  await browser.close();
  process.exit(1);
}
