// console.mjs - the review console in a real browser: Debian's chromium
// driven by playwright-core (tests/e2e/node_modules, installed by
// tools/deps.sh).  Run by the Check test console/e2e_browser (HM_E2E=1,
// `make test` in the plain build), or by hand:
//   HM_BIN_DIR=build HM_SHARED=../shared node tests/e2e/console.mjs
//
// It starts a private hallmarkd on free loopback ports with a temporary
// database holding genuine references of brands Acme and Other, sends
// listing images from an unauthorised seller (-> suspect), and then, in the
// browser: a reviewer finds the suspect verdict, opens it, sees both images
// and the evidence, confirms it (and the same image sent again comes back
// counterfeit); a request without a valid CSRF token is refused; a listing
// id holding HTML is shown as text; a rights holder sees only their brand.
// Screenshots: console-queue.png and console-detail.png in $HM_SHOT_DIR
// (default build/; `make screenshots` writes them to docs/).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shotDir = process.env.HM_SHOT_DIR || path.join(top, 'build');
const bin = path.resolve(top, process.env.HM_BIN_DIR || 'build');
const shared = process.env.HM_SHARED || path.resolve(top, '../shared');
const grocery = path.join(shared, 'datasets/grocery/iconic-images-and-descriptions');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hm-e2e-'));
const XSS = '<img src=x onerror=alert(1)>';
let daemon = null;
let browserCtx = null;

function fail(msg) {
  throw new Error(msg);
}
function check(cond, msg) {
  if (!cond) fail(msg);
  console.log(`ok - ${msg}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function hallmark(args) {
  return execFileSync(path.join(bin, 'hallmark'), args, { encoding: 'utf8', timeout: 60000 });
}

// One listing image through the daemon's ingest socket (hallmark send uses
// the file name, without extension, as the listing id).
function send(ingest, file, seller, brand) {
  const out = hallmark(['send', '--connect', ingest, '--seller', seller, '--brand', brand, file]);
  return JSON.parse(out.trim().split('\n').pop());
}

async function startDaemon(accounts) {
  const ports = [];
  for (let i = 0; i < 7; i++) ports.push(await freePort());
  const ep = (p) => `tcp://127.0.0.1:${p}`;
  const args = ['--db', path.join(tmp, 'db'), '--ingest', ep(ports[0]), '--pipeline-in', ep(ports[1]),
    '--pipeline-out', ep(ports[2]), '--feed', ep(ports[3]), '--control', ep(ports[4]),
    '--metrics', `127.0.0.1:${ports[5]}`, '--console', `127.0.0.1:${ports[6]}`,
    '--console-accounts', accounts, '--workers', '2', '--nosync', '1'];
  daemon = spawn(path.join(bin, 'hallmarkd'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hallmarkd not ready:\n${log}`)), 15000);
    const on = (d) => {
      log += d;
      if (log.includes('event=ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    daemon.stdout.on('data', on);
    daemon.stderr.on('data', on);
    daemon.on('exit', (code) => reject(new Error(`hallmarkd exited ${code}:\n${log}`)));
  });
  return { ingest: ep(ports[0]), base: `http://127.0.0.1:${ports[6]}` };
}

async function login(page, base, user, password) {
  await page.goto(`${base}/login`);
  await page.fill('input[name=user]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(`${base}/queue`), page.click('button[type=submit]')]);
}

async function imagesLoaded(page, selector) {
  return page.$$eval(selector, (imgs) => imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0));
}

async function main() {
  // References: brand photos in the genuine bank.  Listings: the same photos
  // with bytes appended after the JPEG end marker (other files, same picture).
  const acmeRef = path.join(grocery, 'Vegetables/Garlic/Garlic_Iconic.jpg');
  const otherRef = path.join(grocery, 'Vegetables/Asparagus/Asparagus_Iconic.jpg');
  if (!fs.existsSync(acmeRef) || !fs.existsSync(otherRef)) fail(`test images missing under ${grocery}`);
  hallmark(['add', '--db', path.join(tmp, 'db'), '--bank', 'genuine', '--brand', 'Acme', '--holder', 'Acme Corp',
    '--id', 'ref-acme-1', acmeRef]);
  hallmark(['add', '--db', path.join(tmp, 'db'), '--bank', 'genuine', '--brand', 'Other', '--holder', 'Other Ltd',
    '--id', 'ref-other-1', otherRef]);
  const listing = path.join(tmp, `${XSS}.jpg`);
  fs.writeFileSync(listing, Buffer.concat([fs.readFileSync(acmeRef), Buffer.from('listing copy')]));
  const otherListing = path.join(tmp, 'other-listing.jpg');
  fs.writeFileSync(otherListing, Buffer.concat([fs.readFileSync(otherRef), Buffer.from('listing copy')]));

  const password = 'correct horse battery';
  const hash = execFileSync(path.join(bin, 'hallmarkd'), ['--hash-password'], { input: `${password}\n`, encoding: 'utf8' }).trim();
  check(hash.startsWith('$argon2id$'), 'hallmarkd --hash-password prints an Argon2id hash');
  const accounts = path.join(tmp, 'accounts');
  fs.writeFileSync(accounts, `# test accounts\nrev reviewer ${hash}\nacme holder ${hash} Acme\n`);

  const { ingest, base } = await startDaemon(accounts);
  check(send(ingest, listing, 'shady-seller', 'Acme').decision === 'suspect', 'unauthorised seller with an Acme photo -> suspect');
  check(send(ingest, otherListing, 'other-seller', 'Other').decision === 'suspect', 'Other listing -> suspect');

  browserCtx = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1200, height: 800 },
  });
  const page = browserCtx.pages()[0] || (await browserCtx.newPage());
  const alerts = [];
  page.on('dialog', async (d) => {
    if (d.type() !== 'confirm') alerts.push(d.message());
    await d.accept();
  });

  // Reviewer: the queue, with the HTML listing id shown as text.
  await login(page, base, 'rev', password);
  const row = page.locator('#queue tbody tr', { hasText: XSS });
  check((await row.count()) === 1, 'the suspect verdict is on the reviewer\'s queue');
  check((await row.locator('.tag.suspect').count()) === 1, 'it is marked suspect');
  check((await page.locator('img[src="x"]').count()) === 0, 'the listing id is not interpreted as HTML');
  check((await page.locator('#queue tbody tr', { hasText: 'other-listing' }).count()) === 1, 'the reviewer sees every brand');
  check(await imagesLoaded(page, '#queue img'), 'queue thumbnails load');
  await page.screenshot({ path: path.join(shotDir, 'console-queue.png'), fullPage: true });

  // Detail: both images and the evidence.
  await Promise.all([page.waitForURL(/\/v\//), row.locator('a').click()]);
  const detailUrl = page.url();
  check((await page.locator('h1').innerText()).includes(XSS), 'the detail page shows the listing id as text');
  check(await imagesLoaded(page, '#listing-img'), 'the listing image is shown');
  check(await imagesLoaded(page, '.ref-img'), 'the matched reference image is shown');
  const evidence = await page.locator('#evidence').innerText();
  for (const want of ['ref-acme-1', 'genuine bank', 'Acme Corp', 'pdq', 'distance', 'shady-seller', 'strikes'])
    check(evidence.includes(want), `the evidence names ${want}`);
  await page.fill('textarea[name=note]', 'brand photo reused by an unauthorised seller <b>');
  await page.screenshot({ path: path.join(shotDir, 'console-detail.png'), fullPage: true });

  // A request without a valid CSRF token is refused (same session cookie).
  const vid = detailUrl.split('/v/')[1];
  let r = await page.request.post(`${base}/v/${vid}/decide`, { form: { action: 'confirm', note: 'forged' }, maxRedirects: 0 });
  check(r.status() === 403, 'a decision without a CSRF token is refused (403)');
  r = await page.request.post(`${base}/v/${vid}/decide`, { form: { action: 'confirm', csrf: 'f'.repeat(64) }, maxRedirects: 0 });
  check(r.status() === 403, 'a decision with a wrong CSRF token is refused (403)');
  check((await page.request.get(`${base}/no/such/page`)).status() === 404, 'unknown paths are 404');

  // Confirm; the decision is recorded and shown; the next send is counterfeit.
  await Promise.all([page.waitForURL(detailUrl), page.click('button[value=confirm]')]);
  const decision = await page.locator('#decision').innerText();
  check(decision.includes('confirmed') && decision.includes('rev'), 'the decision (who, what) is shown');
  check(decision.includes('<b>'), 'the note is shown as text');
  const again = send(ingest, listing, 'shady-seller', 'Acme');
  check(again.decision === 'counterfeit', `the same image sent again is counterfeit (got ${again.decision})`);

  // Rights holder: only Acme, and no way to act.
  await browserCtx.clearCookies();
  await login(page, base, 'acme', password);
  const brands = await page.locator('#queue tbody tr td:nth-child(4)').allInnerTexts();
  check(brands.length >= 1 && brands.every((b) => b === 'Acme'), `the rights holder sees only Acme (${brands.join(', ')})`);
  check((await page.locator('#queue tbody tr', { hasText: 'other-listing' }).count()) === 0, 'the rights holder does not see Other');
  await page.goto(detailUrl);
  check((await page.locator('form.act').count()) === 0, 'the rights holder gets no decision form');
  check((await page.locator('#decision').innerText()).includes('confirmed'), 'the rights holder sees the decision');
  check(alerts.length === 0, `no script ran from data (alerts: ${alerts.join(', ')})`);
}

let rc = 0;
try {
  await main();
  console.log('console e2e: all passed');
} catch (e) {
  console.error(`console e2e: FAILED: ${e.stack || e}`);
  rc = 1;
} finally {
  if (browserCtx) await browserCtx.close().catch(() => {});
  if (daemon && daemon.exitCode === null) {
    daemon.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(rc);
