// Drives the Vigil dashboard in Debian's headless Chromium, as an analyst would: log in, look at the overview and
// its charts, search an indicator, open its actor, acknowledge a notice; an operator admin then opens the admin page
// and retracts that indicator from its page. A screenshot of every page goes to $SCREENSHOTS. Any console error,
// page error, failed request or HTTP error response fails the run.
//
// Environment: BASE_URL (http://127.0.0.1:PORT), VIGIL_USER / VIGIL_PASSWORD (a member's user),
// VIGIL_ADMIN / VIGIL_ADMIN_PASSWORD (an operator admin), INDICATOR (a value to search), SCREENSHOTS (a folder),
// CHROMIUM (default /usr/bin/chromium).
// Prints one JSON line with what it checked; exits 1 on the first failure.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const base = env('BASE_URL');
const shots = env('SCREENSHOTS');
mkdirSync(shots, { recursive: true });

const problems = [];
const steps = [];
const check = (cond, what) => {
  if (!cond) throw new Error(`check failed: ${what}`);
  steps.push(what);
};

const browser = await chromium.launch({
  executablePath: env('CHROMIUM', '/usr/bin/chromium'),
  // Root in a container has no user namespaces for Chromium's sandbox.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
let code = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error on ${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  const shot = async (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  // Log in: the dashboard sends an anonymous visitor to the sign-in form.
  await page.goto(`${base}/ui/`);
  check(page.url().includes('/ui/login'), 'anonymous visitor is sent to the login page');
  await shot('01-login');
  await page.fill('input[name=username]', env('VIGIL_USER'));
  await page.fill('input[name=password]', env('VIGIL_PASSWORD'));
  await Promise.all([page.waitForURL(`${base}/ui/`), page.click('button.primary')]);

  // Overview with its charts.
  await page.waitForSelector('#chart-origin svg.chart');
  check(await page.locator('h1', { hasText: 'Threat landscape' }).isVisible(), 'overview shown after login');
  check((await page.locator('#chart-origin svg.chart rect.bar').count()) > 0, 'origin chart has bars');
  check((await page.locator('#chart-families svg.chart').count()) === 1, 'malware family chart present');
  check((await page.locator('.kpi').count()) >= 5, 'key figures present');
  await shot('02-overview');

  // Search an indicator from the header box, as pasted (defanged).
  const indicator = env('INDICATOR');
  await page.fill('header .search-mini input[name=q]', indicator);
  await Promise.all([page.waitForURL(/\/ui\/search\?/), page.press('header .search-mini input[name=q]', 'Enter')]);
  await page.waitForSelector('#results');
  const first = page.locator('#results tbody tr a').first();
  check((await first.count()) === 1, `search for ${indicator} has results`);
  await shot('03-search');
  await Promise.all([page.waitForURL(/\/ui\/objects\/indicator--/), first.click()]);
  await page.waitForSelector('#graph svg.graph');
  check((await page.locator('#graph svg.graph a.node').count()) > 1, 'indicator page shows its relationship graph');
  await shot('04-indicator');
  const indicatorUrl = page.url();
  check((await page.locator('#retract').count()) === 0, "a member's indicator page offers no retraction");

  // Open its actor.
  const actor = page.locator('#context a.actor-link').first();
  check((await actor.count()) === 1, 'indicator page names the actor behind it');
  await Promise.all([page.waitForURL(/\/ui\/actors\//), actor.click()]);
  await page.waitForSelector('#actor-name');
  check((await page.locator('#software').count()) === 1, 'actor page lists software');
  await shot('05-actor');

  // The member's notices: acknowledge the first new one.
  await Promise.all([page.waitForURL(`${base}/ui/member`), page.click('header nav a[href="/ui/member"]')]);
  const ack = page.locator('article.notice button[value=acknowledge]').first();
  check((await ack.count()) === 1, 'a new notice can be acknowledged');
  const id = await page.locator('article.notice:has(button[value=acknowledge])').first().getAttribute('id');
  await shot('06-member-before');
  await Promise.all([page.waitForURL(/\/ui\/member/), ack.click()]);
  await page.waitForSelector(`[id="${id}"] .status-acknowledged`);
  check(true, `notice ${id} acknowledged`);
  await shot('07-member-acknowledged');

  // Log out; the operator admin sees the admin page.
  await Promise.all([page.waitForURL(/\/ui\/login/), page.click('header .who button')]);
  if (process.env.VIGIL_ADMIN) {
    await page.fill('input[name=username]', env('VIGIL_ADMIN'));
    await page.fill('input[name=password]', env('VIGIL_ADMIN_PASSWORD'));
    await Promise.all([page.waitForURL(`${base}/ui/`), page.click('button.primary')]);
    await shot('08-overview-operator');
    await Promise.all([page.waitForURL(`${base}/ui/admin`), page.click('header nav a[href="/ui/admin"]')]);
    check((await page.locator('#members table tbody tr').count()) >= 2, 'admin page lists the members');
    await shot('09-admin');
    // The operator retracts the indicator the member looked at: back on its page, marked revoked, no form.
    await page.goto(indicatorUrl);
    await page.fill('#retract input[name=reason]', 'sinkholed: no longer malicious');
    await shot('09b-retract-form');
    await Promise.all([page.waitForURL(indicatorUrl), page.click('#retract button.danger')]);
    check((await page.locator('.page-head .pill.bad', { hasText: 'revoked' }).count()) === 1, 'retracted indicator is marked revoked');
    check((await page.locator('#retract').count()) === 0, 'a retracted object offers no second retraction');
    check((await page.locator('#retracted', { hasText: 'sinkholed: no longer malicious' }).count()) === 1, 'the page says who retracted it and why');
    await shot('09c-retracted');
    // With ATT&CK loaded: a real actor's technique heat map.
    if (process.env.ATTACK_ACTOR) {
      await page.goto(`${base}/ui/search?q=${encodeURIComponent(process.env.ATTACK_ACTOR)}&type=intrusion-set`);
      const hit = page.locator('#results tbody tr a[href^="/ui/actors/"]').first();
      check((await hit.count()) === 1, `search finds ${process.env.ATTACK_ACTOR}`);
      await Promise.all([page.waitForURL(/\/ui\/actors\//), hit.click()]);
      check((await page.locator('table.matrix td a').count()) > 10, 'ATT&CK actor has a technique heat map');
      await shot('10-actor-attack');
    }
  }
  check(problems.length === 0, 'no console errors, page errors, failed requests or HTTP errors');
} catch (e) {
  code = 1;
  problems.push(String(e?.stack ?? e));
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ok: code === 0 && problems.length === 0, steps, problems }));
process.exit(code === 0 && problems.length === 0 ? 0 : 1);
