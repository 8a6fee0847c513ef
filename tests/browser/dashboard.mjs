// The dashboard in a real browser (Debian's Chromium, driven by playwright-core). Run by
// tests/dashboard.rs, which starts the server, sets the lot up and restarts the server when
// this script asks (a line `ASK restart` on stdout, answered by a line on stdin).
//
// Environment: BASE_URL (the server), CAMERA (a camera with spaces), SHOTS_DIR (where the
// screenshots go), ADMIN_PASSWORD (the password of the user `admin`), ADMIN_TOKEN (an admin API
// token, for this script's own calls), CHROMIUM (the browser; /usr/bin/chromium by default).

import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const BASE = process.env.BASE_URL.replace(/\/$/, '');
const CAMERA = process.env.CAMERA;
const SHOTS = process.env.SHOTS_DIR;
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD;
const ADMIN_TOKEN = process.env.ADMIN_TOKEN;
const ADMIN = { username: 'admin', password: ADMIN_PASSWORD, role: 'admin' };
const VIEWER = { username: 'vera', password: 'viewer-pass-123', role: 'viewer' };
const OPERATOR = { username: 'olga', password: 'operator-pass-123', role: 'operator' };
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** The name the harness gives ADMIN_TOKEN (`auth.tokens` in tests/common): changes made with it are by "token:tests". */
const TOKEN_NAME = 'tests';
/** What the issue asks: a change through the API shows within one second. */
const LIVE_DEADLINE_MS = 1000;

const stdin = createInterface({ input: process.stdin });
const answers = stdin[Symbol.asyncIterator]();

/** Asks the Rust side to do something to the server, and waits until it is done. */
async function ask(what) {
  console.log(`ASK ${what}`);
  const { value, done } = await answers.next();
  if (done || value.trim() !== 'ok') throw new Error(`the harness did not ${what}: ${value}`);
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

/** The API as a script calls it, with a bearer token (the admin's unless told). */
async function api(path, init = {}, token = ADMIN_TOKEN) {
  const res = await call(path, init, token);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method || 'GET'} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** The status of a call, whatever it is. */
async function statusOf(path, init = {}, token = ADMIN_TOKEN) {
  const res = await call(path, init, token);
  await res.arrayBuffer();
  return res.status;
}

async function call(path, init, token) {
  const headers = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.body ? { 'content-type': 'application/json' } : {}) };
  const request = () => fetch(`${BASE}/${path}`, { ...init, headers });
  let res;
  try {
    res = await request();
  } catch {
    // A kept-alive connection to the killed server fails before the request is sent; a new
    // connection reaches the new one.
    res = await request();
  }
  return res;
}

/** axe-core's checks that a page is usable with a keyboard and a screen reader (WCAG 2.1 A/AA). */
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

const setState = (id, state) => api(`api/slots/${id}`, { method: 'PUT', body: JSON.stringify({ state }) });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const problems = [];

/** Reports the page's errors; refused calls (401, 403) and the server's outage are expected. */
function watch(page) {
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/ERR_CONNECTION_REFUSED|WebSocket connection|Failed to load resource/.test(m.text())) {
      problems.push(`console error: ${m.text()}`);
    }
  });
  return page;
}

/** Signs in through the page's own form, and checks the bar names the user and the role. */
async function signIn(page, who = ADMIN) {
  await page.locator('#signin-form').waitFor({ timeout: 10000 });
  await page.locator('#signin-username').fill(who.username);
  await page.locator('#signin-password').fill(who.password);
  await page.locator('#signin-submit').click();
  await page.locator('body[data-session="signed-in"]').waitFor({ timeout: 5000 });
  const name = (await page.locator('#account-name').textContent()).trim();
  const role = (await page.locator('#account-role').textContent()).trim();
  check(name === who.username, `the bar names ${name}, not ${who.username}`);
  check(role === who.role, `the bar shows the role ${role}, not ${who.role}`);
}

/** A browser context signed in as `who`: its session cookie serves every page opened in it. */
async function signedInContext(viewport, who = ADMIN, options = {}) {
  const context = await browser.newContext({ viewport, ...options });
  const page = watch(await context.newPage());
  await page.goto(`${BASE}/#/`);
  await signIn(page, who);
  await page.close();
  return context;
}

/** One signed-in context per viewport and user, made on first use. */
const contexts = new Map();
async function contextFor(viewport, who = ADMIN) {
  const key = `${viewport.width}x${viewport.height} ${who.username}`;
  if (!contexts.has(key)) contexts.set(key, await signedInContext(viewport, who));
  return contexts.get(key);
}

async function open(viewport, hash = '#/', who = ADMIN) {
  const page = watch(await (await contextFor(viewport, who)).newPage());
  await page.goto(`${BASE}/${hash}`);
  await live(page);
  return page;
}

/** axe-core's WCAG 2.1 A and AA violations on the page as it is now (or the part `only` selects), one line each. */
async function axe(page, where, only = null) {
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async (only) => {
    const r = await window.axe.run(only || document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  }, only);
  return violations.map((v) => `${where}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`);
}

/** Counts the WebSockets the page opens from now on. */
function countSockets(page) {
  const seen = { count: 0 };
  page.on('websocket', () => (seen.count += 1));
  return seen;
}

async function live(page, timeout = 10000) {
  await page.locator('#connection[data-connection="live"]').waitFor({ timeout });
}

/** Every state the connection indicator shows, recorded in the page as it changes. */
async function recordConnection(page) {
  await page.evaluate(() => {
    const el = document.getElementById('connection');
    window.connectionStates = [el.dataset.connection];
    new MutationObserver(() => window.connectionStates.push(el.dataset.connection)).observe(el, {
      attributes: true,
      attributeFilter: ['data-connection'],
    });
  });
}

async function step(name, fn) {
  const started = Date.now();
  await fn();
  console.log(`ok - ${name} (${Date.now() - started} ms)`);
}

/** Waits for a space to show `state`, answering how long after `since` it did. */
async function shows(page, id, state, since, where = '') {
  await page.locator(`${where} [data-slot-id="${id}"][data-state="${state}"]`).first().waitFor({ timeout: 5000 });
  return Date.now() - since;
}

try {
  check(ADMIN_PASSWORD && ADMIN_TOKEN, 'the harness gave no ADMIN_PASSWORD or ADMIN_TOKEN');
  mkdirSync(SHOTS, { recursive: true });
  const slots = await api(`api/slots?camera=${encodeURIComponent(CAMERA)}`);
  check(slots.length > 0, 'the harness made no spaces');
  let page;

  await step('signed out, the page is a sign-in form: no data, no live socket; a wrong password is refused', async () => {
    // The page's CSP allows only its own scripts; the checker is injected by the test.
    const context = await browser.newContext({ viewport: DESKTOP, bypassCSP: true });
    const p = watch(await context.newPage());
    const sockets = countSockets(p);
    await p.goto(`${BASE}/#/spaces`);
    await p.locator('#signin-form').waitFor({ timeout: 10000 });
    check(await p.getByLabel('User name').isVisible(), 'the user name field has its label');
    check(await p.getByLabel('Password', { exact: true }).isVisible(), 'the password field has its label');
    check(!(await p.locator('nav.sections').isVisible()), 'the sections are not offered signed out');
    check(!(await p.locator('#connection').isVisible()), 'no connection indicator signed out');
    check((await p.locator('[data-slot-id]').count()) === 0, 'no space is shown signed out');
    const found = [];
    for (const viewport of [PHONE, DESKTOP]) {
      await p.setViewportSize(viewport);
      found.push(...(await axe(p, `${viewport.width}px sign-in`)));
    }
    check(found.length === 0, `accessibility problems:\n${found.join('\n')}`);
    await p.screenshot({ path: join(SHOTS, 'signin-desktop.png'), fullPage: true });

    await p.locator('#signin-username').fill('admin');
    await p.locator('#signin-password').fill('not-the-password');
    await p.locator('#signin-submit').click();
    await p.locator('#signin-error', { hasText: /wrong/i }).waitFor({ timeout: 5000 });
    check((await p.locator('body[data-session="signed-in"]').count()) === 0, 'a wrong password signed in');
    check(sockets.count === 0, `${sockets.count} WebSockets opened before signing in`);

    await signIn(p);
    // Signing in resumes at the address the page was opened at.
    await live(p);
    await p.locator('.space-list [data-slot-id]').first().waitFor({ timeout: 5000 });
    check(sockets.count === 1, `${sockets.count} WebSockets after signing in`);
    await context.close();
  });

  await step('the overview shows every space of the lot and its counts', async () => {
    page = await open(DESKTOP);
    const all = await api('api/slots');
    for (const s of all) {
      const el = page.locator(`[data-slot-id="${s.id}"]`);
      check((await el.count()) === 1, `space ${s.id} is shown ${await el.count()} times`);
      check((await el.getAttribute('data-state')) === s.state, `space ${s.id} shows ${await el.getAttribute('data-state')}, not ${s.state}`);
    }
    const stats = await api('api/stats');
    for (const k of ['free', 'occupied', 'total']) {
      const shown = (await page.locator(`[data-count="${k}"]`).textContent()).trim();
      check(shown === String(stats[k]), `${k} shows ${shown}, the API says ${stats[k]}`);
    }
  });

  const latencies = [];
  await step('a change through the API shows within one second, without a reload', async () => {
    const free = slots.filter((s) => s.state === 'free').slice(0, 3);
    check(free.length === 3, 'the scene needs free spaces');
    const before = Number(await page.locator('[data-count="occupied"]').textContent());
    for (const s of free) {
      const t = Date.now();
      await setState(s.id, 'occupied');
      latencies.push(await shows(page, s.id, 'occupied', t));
    }
    check(Number(await page.locator('[data-count="occupied"]').textContent()) === before + 3, 'the occupied count moved with the spaces');
    for (const s of free) {
      const t = Date.now();
      await setState(s.id, 'free');
      latencies.push(await shows(page, s.id, 'free', t));
    }
    const navigations = await page.evaluate(() => performance.getEntriesByType('navigation').length);
    check(navigations === 1, 'the page was not reloaded');
    console.log(`# API change to page: ${latencies.join(', ')} ms`);
    check(Math.max(...latencies) <= LIVE_DEADLINE_MS, `a change took ${Math.max(...latencies)} ms to show`);
  });

  await step('the camera view draws the spaces over the stream and follows changes', async () => {
    await page.goto(`${BASE}/#/camera/${encodeURIComponent(CAMERA)}`);
    await live(page);
    await page.waitForFunction(() => document.querySelector('.stage img')?.naturalWidth > 0, null, { timeout: 10000 });
    const drawn = await page.locator('.stage [data-slot-id]').count();
    check(drawn === slots.length, `${drawn} polygons for ${slots.length} spaces`);
    const s = slots.find((x) => x.state === 'occupied');
    const t = Date.now();
    await setState(s.id, 'free');
    const ms = await shows(page, s.id, 'free', t, '.stage');
    check(ms <= LIVE_DEADLINE_MS, `the camera view took ${ms} ms`);
    await setState(s.id, 'occupied');
    await shows(page, s.id, 'occupied', Date.now(), '.stage');
    await page.locator('[data-camera-status="online"]').waitFor({ timeout: 10000 });
    // Vehicle boxes: the overlay image takes the stream's place.
    await page.locator('button[data-action="boxes"]').click();
    await page.waitForFunction(() => /overlay\.jpg/.test(document.querySelector('.stage img').src) && document.querySelector('.stage img').complete);
    check((await page.locator('button[data-action="boxes"]').getAttribute('aria-pressed')) === 'true', 'the toggle says it is on');
    await page.locator('button[data-action="boxes"]').click();
    await page.waitForFunction(() => /\/stream$/.test(document.querySelector('.stage img').src));
  });

  await step('screenshots of the overview and the camera view, desktop and phone', async () => {
    for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      const p = await open(viewport);
      await p.screenshot({ path: join(SHOTS, `overview-${size}.png`), fullPage: true });
      await p.goto(`${BASE}/#/camera/${encodeURIComponent(CAMERA)}`);
      await live(p);
      await p.waitForFunction(() => document.querySelector('.stage img')?.naturalWidth > 0, null, { timeout: 10000 });
      await p.locator('.stage [data-slot-id]').first().waitFor();
      await p.screenshot({ path: join(SHOTS, `camera-${size}.png`), fullPage: true });
      for (const view of ['spaces', 'sessions', 'users', 'editor']) {
        await p.goto(`${BASE}/#/${view}`);
        await live(p);
        await p.waitForTimeout(1500);
        await p.screenshot({ path: join(SHOTS, `${view}-${size}.png`), fullPage: false });
        if (view === 'users') {
          const wide = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          check(wide <= 0, `the ${size} users page scrolls sideways by ${wide} px`);
        }
      }
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check(overflow <= 0, `the ${size} page scrolls sideways by ${overflow} px`);
      await p.close();
    }
  });

  await step('every view passes axe-core (WCAG 2.1 A and AA), at both sizes', async () => {
    const found = [];
    for (const viewport of [DESKTOP, PHONE]) {
      // The page's CSP allows only its own scripts; the checker is injected by the test.
      const context = await signedInContext(viewport, ADMIN, { bypassCSP: true });
      const p = watch(await context.newPage());
      for (const view of ['#/', `#/camera/${encodeURIComponent(CAMERA)}`, '#/spaces', '#/sessions', `#/editor/${encodeURIComponent(CAMERA)}`, '#/users']) {
        await p.goto(`${BASE}/${view}`);
        await live(p);
        await p.waitForTimeout(1000);
        found.push(...(await axe(p, `${viewport.width}px ${view}`)));
      }
      await context.close();
    }
    check(found.length === 0, `accessibility problems:\n${found.join('\n')}`);
  });

  await step('a space is reached and opened with the keyboard alone', async () => {
    await page.goto(`${BASE}/#/spaces`);
    await live(page);
    let focused = null;
    for (let i = 0; i < 40 && !focused; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.dataset?.slotId || null);
    }
    check(focused, 'no space took the focus within 40 tabs');
    await page.keyboard.press('Enter');
    await page.locator('dialog[open] tr[data-session-id], dialog[open] p').first().waitFor({ timeout: 3000 });
    check(await page.locator('dialog[open]').isVisible(), "the space's history opened");
    await page.keyboard.press('Escape');
    await page.locator('dialog[open]').waitFor({ state: 'detached', timeout: 2000 }).catch(() => {});
    check((await page.locator('dialog[open]').count()) === 0, 'Escape closes the history');
  });

  await step("a link to a space opens its history with its state", async () => {
    const s = slots.find((x) => x.state === 'occupied');
    const p = await open(DESKTOP, `#/spaces/${s.id}`);
    await p.locator(`dialog[open] .badge[data-slot-id="${s.id}"][data-state="occupied"]`).waitFor({ timeout: 3000 });
    await p.close();
  });

  await step('who set a space shows: a sensor, then a change by hand through the API, with its name', async () => {
    const s = slots.find((x) => x.state === 'occupied');
    const p = await open(DESKTOP, '#/');
    const tile = p.locator(`.tile[data-slot-id="${s.id}"]`);
    const sensed = await api(`api/slots/${s.id}/observations`, { method: 'POST', body: JSON.stringify({ state: 'free' }) });
    check(sensed.slot.source === 'sensor' && sensed.slot.actor === `token:${TOKEN_NAME}`, `the sensor's change reads ${JSON.stringify(sensed.slot)}`);
    await p.locator(`.tile[data-slot-id="${s.id}"][data-state="free"][data-source="sensor"]`).waitFor({ timeout: 3000 });
    const sensorTitle = await tile.getAttribute('title');
    check(sensorTitle.includes(`reported by sensor ${TOKEN_NAME}`) && !sensorTitle.includes('by hand'), `after a sensor's report the tile says "${sensorTitle}"`);

    const set = await setState(s.id, 'occupied');
    check(set.source === 'manual' && set.actor === `token:${TOKEN_NAME}`, `the change by hand reads ${JSON.stringify(set)}`);
    await p.locator(`.tile[data-slot-id="${s.id}"][data-state="occupied"][data-source="manual"]`).waitFor({ timeout: 3000 });
    const byHand = `set by hand by API token ${TOKEN_NAME}`;
    const title = await tile.getAttribute('title');
    check(title.includes(byHand) && !title.includes('sensor'), `after a change by hand the tile says "${title}"`);
    check((await tile.getAttribute('aria-label')) === title, 'the tile is named as its title says');

    await p.goto(`${BASE}/#/spaces`);
    await live(p);
    const card = p.locator(`.space[data-slot-id="${s.id}"]`);
    await card.locator('[data-set-by="manual"]', { hasText: `Set by hand by API token ${TOKEN_NAME}` }).waitFor({ timeout: 3000 });
    await card.click();
    await p.locator('dialog[open] [data-set-by="manual"]', { hasText: /holds against the detector/ }).waitFor({ timeout: 3000 });
    await p.keyboard.press('Escape');

    await p.goto(`${BASE}/#/camera/${encodeURIComponent(CAMERA)}`);
    await live(p);
    const zone = p.locator(`.stage polygon[data-slot-id="${s.id}"][data-source="manual"] title`);
    await zone.waitFor({ state: 'attached', timeout: 3000 });
    check((await zone.textContent()).includes(byHand), `the camera view's outline says "${await zone.textContent()}"`);
    check((await p.locator(`.tiles [data-slot-id="${s.id}"]`).getAttribute('title')).includes(byHand), "the camera view's tile does not say who set it");
    await p.close();
  });

  await step("what the live feed says of a camera and its spaces shows: analysis failing, a change held, the camera offline", async () => {
    // The messages are the server's, as the API shows them, changed by the test on their way to
    // this page; the server's own camera status (every few seconds) is held back so it does not
    // overwrite them.
    const listed = (await api('api/cameras')).find((c) => c.id === CAMERA);
    check(listed && listed.analysis_failures === 0 && listed.analysis_error === null, `the camera reads ${JSON.stringify(listed)}`);
    const p = watch(await (await contextFor(DESKTOP)).newPage());
    let toPage = null;
    await p.routeWebSocket(/\/ws$/, (ws) => {
      const server = ws.connectToServer();
      server.onMessage((m) => {
        if (typeof m === 'string' && JSON.parse(m).type === 'camera') return;
        ws.send(m);
      });
      toPage = ws;
    });
    const send = (msg) => toPage.send(JSON.stringify(msg));
    await p.goto(`${BASE}/#/`);
    await live(p);
    const card = p.locator(`section[data-camera-id="${CAMERA}"]`);
    check((await card.locator('[data-analysis-error]').count()) === 0, 'a warning before any analysis failed');

    const why = 'the detector timed out after 5 s';
    send({ type: 'camera', camera: { ...listed, analysis_failures: 3, analysis_error: why } });
    await card.locator('[data-analysis-error]', { hasText: `analysis failing: ${why}` }).waitFor({ timeout: 3000 });
    await p.goto(`${BASE}/#/camera/${encodeURIComponent(CAMERA)}`);
    await p.locator('.status-line [data-analysis-error]', { hasText: `analysis failing: ${why}` }).waitFor({ timeout: 3000 });
    send({ type: 'camera', camera: { ...listed, analysis_failures: 3, analysis_error: null } });
    await p.locator('.status-line [data-analysis-error]').waitFor({ state: 'detached', timeout: 3000 });

    // A change the camera saw while the database is out: the stored state, and what waits.
    const now = await api(`api/slots?camera=${encodeURIComponent(CAMERA)}`);
    const s = now.find((x) => x.state === 'free' && x.source === 'manual');
    check(s && !('held' in s), `a free space without anything held: ${JSON.stringify(s)}`);
    send({ type: 'slot', slot: { ...s, held: 'occupied' } });
    await p.locator(`.space-notes [data-slot-id="${s.id}"][data-held="occupied"]`, { hasText: 'pending: occupied' }).waitFor({ timeout: 3000 });
    check((await p.locator(`.tiles [data-slot-id="${s.id}"]`).getAttribute('data-state')) === 'free', 'the tile shows the held state, not the stored one');
    check((await p.locator(`.tiles [data-slot-id="${s.id}"]`).getAttribute('title')).includes('pending: occupied'), "the tile's title does not name what is held");
    await p.goto(`${BASE}/#/spaces`);
    await p.locator(`.space[data-slot-id="${s.id}"] [data-held="occupied"]`, { hasText: 'pending: occupied' }).waitFor({ timeout: 3000 });
    send({ type: 'slot', slot: s });
    await p.locator(`.space[data-slot-id="${s.id}"] [data-held]`).waitFor({ state: 'detached', timeout: 3000 });

    // The camera goes dark: offline, and its spaces unknown ("camera offline").
    await p.goto(`${BASE}/#/`);
    send({ type: 'camera', camera: { ...listed, status: 'offline', fps: 0 } });
    for (const x of now) send({ type: 'slot', slot: { ...x, state: 'unknown', source: 'camera', actor: null } });
    await card.locator('.badge[data-status="offline"]', { hasText: 'offline' }).waitFor({ timeout: 3000 });
    await p.waitForFunction((n) => document.querySelectorAll('.tile[data-state="unknown"]').length === n, now.length, { timeout: 3000 });
    check((await card.locator('[data-camera-count="unknown"]').textContent()).trim() === String(now.length), 'the unknown count is not every space');
    const title = await p.locator(`.tile[data-slot-id="${now[0].id}"]`).getAttribute('title');
    check(/Unknown/.test(title) && title.includes('camera offline'), `an unknown space's tile says "${title}"`);
    await p.goto(`${BASE}/#/camera/${encodeURIComponent(CAMERA)}`);
    await p.locator('[data-camera-status="offline"]').waitFor({ timeout: 3000 });
    check((await p.locator('.stage [data-slot-id][data-state="unknown"]').count()) === now.length, 'the camera view does not draw every space unknown');
    await p.close();
  });

  let drawn;
  await step('drawing a space in the editor creates it through the API', async () => {
    await page.goto(`${BASE}/#/editor/${encodeURIComponent(CAMERA)}`);
    await live(page);
    const canvas = page.locator('svg[data-editor="canvas"]');
    await canvas.waitFor();
    await page.waitForFunction(() => {
      const vb = document.querySelector('svg[data-editor="canvas"]')?.viewBox?.baseVal;
      return vb && vb.width > 0;
    });
    // A free corner of the frame, in its own pixels.
    const corners = [
      [40, 600],
      [190, 590],
      [200, 700],
      [50, 705],
    ];
    await page.locator('button[data-action="draw"]').click();
    for (const [x, y] of corners) {
      const at = await canvas.evaluate((svg, [x, y]) => {
        const p = new DOMPoint(x, y).matrixTransform(svg.getScreenCTM());
        return { x: p.x, y: p.y };
      }, [x, y]);
      await page.mouse.click(at.x, at.y);
    }
    await page.keyboard.press('Enter');
    await page.locator('input[name="label"]').fill('E1');
    await page.locator('button[data-action="save-new"]').click();
    const deadline = Date.now() + 5000;
    while (!drawn && Date.now() < deadline) {
      drawn = (await api(`api/slots?camera=${encodeURIComponent(CAMERA)}`)).find((s) => s.label === 'E1');
      if (!drawn) await new Promise((r) => setTimeout(r, 100));
    }
    check(drawn, 'no space E1 was created');
    check(drawn.polygon.length === corners.length, `E1 has ${drawn.polygon.length} points`);
    drawn.polygon.forEach(([x, y], i) => {
      check(Math.abs(x - corners[i][0]) <= 2 && Math.abs(y - corners[i][1]) <= 2, `point ${i} is ${x},${y}, drawn at ${corners[i]}`);
    });
    await page.locator(`svg[data-editor="canvas"] [data-slot-id="${drawn.id}"]`).waitFor({ timeout: 2000 });
  });

  await step('a dropped connection reconnects and re-syncs from the snapshot', async () => {
    const p = watch(await (await contextFor(DESKTOP)).newPage());
    let blocked = false;
    const sockets = [];
    await p.routeWebSocket(/\/ws$/, (ws) => {
      if (blocked) {
        ws.close({ code: 1011, reason: 'blocked by the test' });
        return;
      }
      sockets.push(ws);
      ws.connectToServer();
    });
    await p.goto(`${BASE}/#/`);
    await live(p);
    await recordConnection(p);
    const s = slots.find((x) => x.state === 'free');
    // While the page is cut off, a space changes and the drawn one is deleted.
    blocked = true;
    for (const ws of sockets) await ws.close({ code: 1006 });
    await p.locator('#connection[data-connection="offline"]').waitFor({ timeout: 5000 });
    await setState(s.id, 'occupied');
    await api(`api/slots/${drawn.id}`, { method: 'DELETE' });
    await p.waitForTimeout(1500);
    check((await p.locator(`[data-slot-id="${s.id}"]`).getAttribute('data-state')) === 'free', 'the page saw a change while cut off');
    blocked = false;
    await live(p, 20000);
    await shows(p, s.id, 'occupied', Date.now());
    check((await p.locator(`[data-slot-id="${drawn.id}"]`).count()) === 0, 'the deleted space is gone after the snapshot');
    const states = await p.evaluate(() => window.connectionStates);
    check(states.includes('offline') && states.at(-1) === 'live', `indicator went ${states.join(' → ')}`);
    await setState(s.id, 'free');
    await p.close();
  });

  await step('killing and restarting the server: the page reconnects by itself', async () => {
    await page.goto(`${BASE}/#/`);
    await live(page);
    await recordConnection(page);
    await ask('restart');
    // Sessions are kept in the database, so the page should not need to sign in again; if the
    // server forgot it, the page asks, and signing in again is what a person would do.
    await page.waitForFunction(
      () => document.querySelector('#signin-form') || document.querySelector('#connection[data-connection="live"]'),
      null,
      { timeout: 30000 },
    );
    if (await page.locator('#signin-form').isVisible()) {
      console.log('# the session did not survive the restart: signed in again');
      await signIn(page);
      await live(page, 10000);
    }
    const states = await page.evaluate(() => window.connectionStates);
    check(states.includes('offline'), `the indicator never showed the outage: ${states.join(' → ')}`);
    const s = slots.find((x) => x.state === 'free');
    const t = Date.now();
    await setState(s.id, 'occupied');
    const ms = await shows(page, s.id, 'occupied', t);
    check(ms <= LIVE_DEADLINE_MS, `after the restart a change took ${ms} ms`);
    console.log(`# indicator during the restart: ${states.join(' → ')}`);
    await setState(s.id, 'free');
  });

  await step('a database outage: a banner on every view and the figures dimmed, until it is back', async () => {
    // The page's CSP allows only its own scripts; the checker is injected by the test.
    const context = await signedInContext(DESKTOP, ADMIN, { bypassCSP: true });
    const p = watch(await context.newPage());
    await p.goto(`${BASE}/#/`);
    await live(p);
    const banner = p.locator('#database-banner');
    const stale = () => p.evaluate(() => document.body.classList.contains('stale'));
    check(await banner.isHidden(), 'the banner shows while the database is up');
    check(!(await stale()), 'the figures are dimmed while the database is up');
    await recordConnection(p);
    await ask('database-stop');
    const t = Date.now();
    try {
      await banner.waitFor({ state: 'visible', timeout: 15000 });
      console.log(`# banner shown ${Date.now() - t} ms after the database stopped`);
      const text = await banner.textContent();
      check(/^Database unreachable/.test(text) && /last stored/.test(text) && /held/.test(text), `the banner says "${text}"`);
      check((await p.locator('body[data-database="down"]').count()) === 1, 'the body does not say the database is down');
      check(await stale(), 'the figures are not marked stale');
      const opacity = Number(await p.locator('.lot').evaluate((el) => getComputedStyle(el).opacity));
      check(opacity < 1, `the lot's counts are shown at opacity ${opacity}`);
      await p.screenshot({ path: join(SHOTS, 'database-down-desktop.png'), fullPage: false });
      const found = await axe(p, 'the database banner', '#database-banner');
      check(found.length === 0, `accessibility problems:\n${found.join('\n')}`);
      // Every view, as the page moves between them (a new page could not sign in: sessions are
      // in the database).
      for (const [hash, section] of [['#/spaces', 'spaces'], [`#/camera/${encodeURIComponent(CAMERA)}`, 'camera'], ['#/sessions', 'sessions'], ['#/', 'overview']]) {
        await p.evaluate((h) => (location.hash = h), hash);
        await p.locator(`nav.sections a[data-section="${section}"][aria-current="page"]`).waitFor({ timeout: 3000 });
        check(await banner.isVisible(), `the banner is not on the ${section} view`);
      }
    } finally {
      await ask('database-start');
    }
    await banner.waitFor({ state: 'hidden', timeout: 30000 });
    console.log(`# banner gone ${Date.now() - t} ms after the database stopped`);
    check((await p.locator('body[data-database="up"]').count()) === 1, 'the body still says the database is down');
    await live(p, 30000);
    check(!(await stale()), 'the figures are still dimmed with the database back');
    // The live link does not need the database: it stayed open throughout.
    const states = await p.evaluate(() => window.connectionStates);
    check(states.every((x) => x === 'live'), `the indicator went ${states.join(' → ')} during the outage`);
    // Stored again, and shown.
    const s = slots.find((x) => x.state === 'free');
    await setState(s.id, 'occupied');
    await shows(p, s.id, 'occupied', Date.now());
    await setState(s.id, 'free');
    await context.close();
  });

  /** No control that sets a space by hand, anywhere on the page. */
  const markControls = (p) => p.locator('[data-action="mark-free"], [data-action="mark-occupied"]').or(p.getByRole('button', { name: /^Mark (free|occupied)$/ }));

  /** The editor is neither offered nor shown, even at its own address. */
  async function noEditor(p, who) {
    check(!(await p.locator('nav.sections a[data-section="editor"]').isVisible()), `the ${who} is offered the editor`);
    check(!(await p.locator('nav.sections a[data-section="users"]').isVisible()), `the ${who} is offered the users page`);
    check((await p.locator('main a[href^="#/editor"]').count()) === 0, `the ${who}'s page links to the editor`);
    await p.goto(`${BASE}/#/editor/${encodeURIComponent(CAMERA)}`);
    await p.locator('[data-refused="editor"]', { hasText: /admin role/ }).waitFor({ timeout: 5000 });
    check((await p.locator('[data-view="editor"], svg[data-editor="canvas"]').count()) === 0, `the ${who} sees the editor`);
    await p.goto(`${BASE}/#/users`);
    await p.locator('[data-refused="users"]').waitFor({ timeout: 5000 });
    check((await p.locator('[data-view="users"]').count()) === 0, `the ${who} sees the users page`);
  }

  let viewerPage;
  await step('a viewer sees every space live, but no control to set one and no editor', async () => {
    await api('api/users', { method: 'POST', body: JSON.stringify(VIEWER) });
    const occupied = slots.find((x) => x.state === 'occupied');
    viewerPage = await open(DESKTOP, `#/spaces/${occupied.id}`, VIEWER);
    await viewerPage.locator(`dialog[open] .badge[data-slot-id="${occupied.id}"]`).waitFor({ timeout: 3000 });
    check((await markControls(viewerPage).count()) === 0, "the viewer is offered to set a space in its history");
    await viewerPage.keyboard.press('Escape');
    await viewerPage.goto(`${BASE}/#/camera/${encodeURIComponent(CAMERA)}`);
    await live(viewerPage);
    await viewerPage.locator('.stage [data-slot-id]').first().waitFor({ timeout: 5000 });
    check((await markControls(viewerPage).count()) === 0, 'the viewer is offered to set a space in the camera view');
    await viewerPage.goto(`${BASE}/#/`);
    await live(viewerPage);
    await noEditor(viewerPage, 'viewer');
    // What the page does not offer, the server refuses too.
    const refused = await viewerPage.evaluate(async (id) => {
      const res = await fetch(`api/slots/${id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"state":"free"}' });
      return res.status;
    }, occupied.id);
    check(refused === 403, `the viewer's PUT was answered ${refused}`);
    // The live view follows changes for a viewer as for anyone.
    await viewerPage.goto(`${BASE}/#/`);
    await live(viewerPage);
    const s = slots.find((x) => x.state === 'free');
    const t = Date.now();
    await setState(s.id, 'occupied');
    await shows(viewerPage, s.id, 'occupied', t);
    await setState(s.id, 'free');
  });

  await step('an operator may set a space free or occupied, but is offered no editor', async () => {
    await api('api/users', { method: 'POST', body: JSON.stringify(OPERATOR) });
    const s = slots.find((x) => x.state === 'occupied');
    const p = await open(DESKTOP, `#/spaces/${s.id}`, OPERATOR);
    await p.locator(`dialog[open] .badge[data-slot-id="${s.id}"][data-state="occupied"]`).waitFor({ timeout: 3000 });
    await p.locator('dialog[open] [data-action="mark-free"]').click();
    await shows(p, s.id, 'free', Date.now(), 'dialog[open]');
    await p.locator('dialog[open] [data-set-by="manual"]', { hasText: `Set by hand by ${OPERATOR.username}` }).waitFor({ timeout: 3000 });
    check((await api(`api/slots/${s.id}`)).state === 'free', "the operator's mark did not reach the server");
    await setState(s.id, 'occupied');
    await p.keyboard.press('Escape');
    await noEditor(p, 'operator');
    await p.close();
  });

  await step("the admin's users page: users added, changed and removed; a token shown once, then revoked", async () => {
    const p = await open(DESKTOP, '#/users');
    for (const name of ['admin', VIEWER.username, OPERATOR.username]) await p.locator(`tr[data-username="${name}"]`).waitFor({ timeout: 5000 });
    check((await p.locator(`tr[data-username="${VIEWER.username}"] select`).inputValue()) === 'viewer', 'vera is listed as a viewer');
    p.on('dialog', (d) => d.accept());

    await p.getByLabel('User name', { exact: true }).fill('pat');
    await p.locator('#user-new-password').fill('pat-pass-1234');
    await p.locator('#user-new-role').selectOption('operator');
    await p.locator('[data-action="add-user"]').click();
    const row = p.locator('tr[data-username="pat"]');
    await row.waitFor({ timeout: 5000 });
    check((await api('api/users')).find((u) => u.username === 'pat')?.role === 'operator', 'pat was not added as an operator');
    await row.locator('select').selectOption('viewer');
    const deadline = Date.now() + 5000;
    while ((await api('api/users')).find((u) => u.username === 'pat')?.role !== 'viewer') {
      check(Date.now() < deadline, "pat's role did not change to viewer");
      await new Promise((r) => setTimeout(r, 100));
    }
    await row.locator('[data-action="set-password"]').click();
    await p.locator('dialog[open] #password-new').fill('pat-new-pass-5678');
    await p.locator('dialog[open] [data-action="save-password"]').click();
    await p.locator('dialog[open]').waitFor({ state: 'detached', timeout: 5000 });
    const login = await statusOf('api/auth/login', { method: 'POST', body: JSON.stringify({ username: 'pat', password: 'pat-new-pass-5678' }) }, null);
    check(login === 200, `pat's new password was answered ${login}`);
    await row.locator('[data-action="remove-user"]').click();
    await row.waitFor({ state: 'detached', timeout: 5000 });
    check(!(await api('api/users')).some((u) => u.username === 'pat'), 'pat was not removed');

    await p.locator('#token-new-name').fill('browser-test');
    await p.locator('#token-new-role').selectOption('viewer');
    await p.locator('[data-action="create-token"]').click();
    await p.locator('#token-secret').waitFor({ timeout: 5000 });
    const secret = await p.locator('#token-secret').inputValue();
    check(secret.length >= 16, `the secret shown is "${secret}"`);
    const listed = await api('api/tokens');
    const token = listed.find((t) => t.name === 'browser-test');
    check(token && token.role === 'viewer', 'the token is not listed as a viewer token');
    check(!JSON.stringify(listed).includes(secret), 'the list of tokens shows a secret');
    const me = await api('api/auth/me', {}, secret);
    check(me.role === 'viewer' && me.via === 'token', `the new token is ${JSON.stringify(me)}`);
    await p.locator(`tr[data-token-id="${token.id}"]`).waitFor({ timeout: 5000 });
    await p.screenshot({ path: join(SHOTS, 'users-desktop.png'), fullPage: true });
    // Shown once: the page opened again lists the token, without its secret.
    await p.reload();
    await p.locator(`tr[data-token-id="${token.id}"]`).waitFor({ timeout: 5000 });
    check((await p.locator('#token-secret').count()) === 0, 'the secret is shown again');
    check(!(await p.content()).includes(secret), 'the page holds the secret again');
    await p.locator(`tr[data-token-id="${token.id}"] [data-action="revoke-token"]`).click();
    await p.locator(`tr[data-token-id="${token.id}"]`).waitFor({ state: 'detached', timeout: 5000 });
    check(!(await api('api/tokens')).some((t) => t.id === token.id), 'the token was not revoked');
    check((await statusOf('api/auth/me', {}, secret)) === 401, 'the revoked token still works');
    await p.close();
  });

  await step("a removed user's open page asks to sign in again, and stops reconnecting", async () => {
    const p = viewerPage;
    await live(p);
    await api(`api/users/${VIEWER.username}`, { method: 'DELETE' });
    // The server may close the socket at once; if it does not, the next call the page makes
    // (here: opening another view) is refused.
    const asked = await p.locator('#signin-form').waitFor({ timeout: 3000 }).then(() => true, () => false);
    if (!asked) {
      await p.evaluate(() => (location.hash = '#/sessions'));
      await p.locator('#signin-form').waitFor({ timeout: 5000 });
    }
    await p.locator('[data-signin-reason="expired"]').waitFor();
    check(!(await p.locator('nav.sections').isVisible()), 'the sections are still offered');
    check((await p.locator('[data-slot-id]').count()) === 0, 'spaces are still shown');
    const sockets = countSockets(p);
    await p.waitForTimeout(3000);
    check(sockets.count === 0, `signed out, the page opened ${sockets.count} WebSockets`);
    // Signing in again resumes the page, as another user here.
    await signIn(p, OPERATOR);
    await live(p);
    check(/#\/sessions$/.test(p.url()) || asked, `the page resumed at ${p.url()}`);
  });

  await step('signing out ends the session and shows the sign-in form', async () => {
    const p = viewerPage;
    await p.locator('#sign-out').click();
    await p.locator('[data-signin-reason="signed-out"]').waitFor({ timeout: 5000 });
    const me = await p.evaluate(async () => (await fetch('api/auth/me')).status);
    check(me === 401, `after signing out the page's session is answered ${me}`);
    const sockets = countSockets(p);
    await p.waitForTimeout(1000);
    check(sockets.count === 0, `signed out, the page opened ${sockets.count} WebSockets`);
    await p.close();
  });

  check(problems.length === 0, `the page reported:\n${problems.join('\n')}`);
  console.log('ALL PASSED');
} catch (e) {
  console.log(`FAILED: ${e.stack || e}`);
  if (problems.length) console.log(problems.join('\n'));
  process.exitCode = 1;
} finally {
  await browser.close();
  stdin.close();
}
