#!/usr/bin/env node
// The pages in the reader's language: opens the specialist's page (without
// a camera: it shows its waiting state) and the nurse's page in headless
// Chromium, once per browser language, and checks that each speaks it.
//
//   node page-language.mjs --viewer-url 'https://gw:8443/r/ab12#token=…' \
//     --nurse-url 'https://gw:8443/n/ab12#token=…&pin=…' \
//     [--trust-spki <base64 sha256>] [--screenshot-dir out/] [--timeout-ms 20000]
//
// The cases (browser language, ?lang= in the URL → the page's language):
//   nb → nb;  en-US → en;  nb with ?lang=en → en;  nn → nn;  no → nb;
//   en-US with ?lang=nb → nb.
// For each, the specialist's page must show <html lang>, its state, the
// sound and microphone buttons and the panel in that language (the texts of
// the page's own catalogue, window.samsynStrings); the nurse's page its
// texts and a button "Open in samsyn" whose href is the nurse's link with
// the scheme samsyn (`samsyn://host:port/…/n/{room}#token=…&pin=…`); the
// nurse's page without its fragment says the link is incomplete. Neither
// page may show a catalogue key or log a missing text. The nurse's page
// must make no request of its own (no fetch, no XHR, no socket) and the
// token must appear in no request and no console line.
//
// Screenshots: viewer-<case>.png, nurse-<case>.png, nurse-broken-<case>.png.
// Output: one JSON line on stdout, {"ok":true,"cases":[{…}]}, with every
// text read (the token replaced by "…" in the button's href, `href`).
// Exit status: 0 success, 1 failure (every reason on stderr), 2 bad usage.

import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, languageArgs } from './chromium.mjs';

const CASES = [
  { name: 'nb', browser: 'nb', query: null, expect: 'nb' },
  { name: 'en-US', browser: 'en-US', query: null, expect: 'en' },
  { name: 'nb-lang-en', browser: 'nb', query: 'en', expect: 'en' },
  { name: 'nn', browser: 'nn', query: null, expect: 'nn' },
  { name: 'no', browser: 'no', query: null, expect: 'nb' },
  { name: 'en-US-lang-nb', browser: 'en-US', query: 'nb', expect: 'nb' },
];
const POLL_MS = 100;

function usage(msg) {
  process.stderr.write(`page-language: ${msg}\nsee the head of page-language.mjs for usage\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { viewerUrl: null, nurseUrl: null, trustSpki: null, screenshotDir: null, timeoutMs: 20000,
    chromium: process.env.SAMSYN_CHROMIUM || '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === '--viewer-url') o.viewerUrl = next();
    else if (flag === '--nurse-url') o.nurseUrl = next();
    else if (flag === '--trust-spki') o.trustSpki = next();
    else if (flag === '--screenshot-dir') o.screenshotDir = next();
    else if (flag === '--timeout-ms') o.timeoutMs = Number(next());
    else if (flag === '--chromium') o.chromium = next();
    else usage(`unknown argument ${flag}`);
  }
  if (!o.viewerUrl || !o.nurseUrl) usage('--viewer-url and --nurse-url are required');
  for (const url of [o.viewerUrl, o.nurseUrl]) {
    try { new URL(url); } catch (_) { usage('--viewer-url and --nurse-url must be URLs'); }
  }
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The link with ?lang=<query> (the fragment kept).
function withQuery(link, query) {
  const url = new URL(link);
  if (query) url.searchParams.set('lang', query);
  return url.href;
}

function withoutFragment(link) {
  const url = new URL(link);
  url.hash = '';
  return url.href;
}

// The tokens of the links: they must not be printed, sent or logged.
function tokenOf(link) {
  const m = /(?:^#|&)token=([^&]+)/.exec(new URL(link).hash);
  return m ? decodeURIComponent(m[1]) : null;
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const secrets = [tokenOf(opt.viewerUrl), tokenOf(opt.nurseUrl)].filter((t) => t && t.length >= 3);
  const scrub = (text) => secrets.reduce((t, s) => t.split(s).join('…'), String(text));
  // The nurse's link under the scheme samsyn: what the button must carry.
  const appLink = 'samsyn:' + opt.nurseUrl.slice(opt.nurseUrl.indexOf(':') + 1);
  const problems = [];
  const results = [];
  const watchdog = setTimeout(() => {
    process.stderr.write('page-language: FAIL: hard timeout\n');
    process.exit(1);
  }, opt.timeoutMs * CASES.length * 3 + 30000);
  watchdog.unref();

  for (const c of CASES) {
    const problem = (what) => problems.push(`${c.name}: ${what}`);
    const logs = [];
    const browser = await chromium.launch({
      executablePath: opt.chromium,
      headless: true,
      args: [
        ...CHROMIUM_ARGS,
        ...languageArgs(c.browser),
        // A microphone the page may use without asking: its button shows.
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        ...(opt.trustSpki ? [`--ignore-certificate-errors-spki-list=${opt.trustSpki}`] : []),
      ],
      timeout: 30000,
    });
    const result = { name: c.name, browserLanguage: c.browser, query: c.query, expect: c.expect };
    try {
      const open = async (url, label, setup) => {
        const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
        if (setup) await setup(context);
        const page = await context.newPage();
        const requests = [];
        page.on('console', (m) => logs.push(`[${label} ${m.type()}] ${m.text()}`));
        page.on('pageerror', (e) => logs.push(`[${label} pageerror] ${e.message}`));
        page.on('request', (r) => requests.push({
          url: r.url(), type: r.resourceType(), headers: JSON.stringify(r.headers()), body: r.postData() || '',
        }));
        const res = await page.goto(url, { waitUntil: 'domcontentloaded', timeout: opt.timeoutMs });
        if (!res || !res.ok()) problem(`${label}: the page answered HTTP ${res ? res.status() : '(none)'}`);
        return { page, requests };
      };
      // Polls `read` in the page until `done(value)`; the last value either way.
      const until = async (page, read, done) => {
        const deadline = Date.now() + opt.timeoutMs;
        let value = null;
        while (Date.now() < deadline) {
          value = await page.evaluate(read).catch(() => null);
          if (value && done(value)) return value;
          await sleep(POLL_MS);
        }
        return value;
      };
      // Catalogue keys shown as text: a text the page did not find.
      const keysShown = (page) => page.evaluate(() => {
        const keys = Object.keys((window.samsynStrings || {}).nb || {});
        const shown = document.body.innerText + ' ' + document.title + ' ' +
          [...document.querySelectorAll('[title],[aria-label],[placeholder],[alt]')]
            .map((e) => ['title', 'aria-label', 'placeholder', 'alt'].map((a) => e.getAttribute(a) || '').join(' ')).join(' ');
        return keys.filter((k) => shown.includes(k));
      });
      const shot = async (page, file, fullPage) => {
        if (opt.screenshotDir) await page.screenshot({ path: join(opt.screenshotDir, file), fullPage }).catch(() => {});
      };

      // --- the specialist's page ------------------------------------------------
      const viewer = await open(withQuery(opt.viewerUrl, c.query), 'viewer');
      const v = await until(viewer.page, () => {
        const text = (id) => { const e = document.getElementById(id); return e ? e.textContent.trim() : null; };
        const visible = (id) => { const e = document.getElementById(id); return Boolean(e && !e.hidden); };
        const strings = (window.samsynStrings || {})[document.documentElement.lang] || {};
        return {
          htmlLang: document.documentElement.lang,
          i18nLang: window.samsynI18n ? window.samsynI18n.lang : null,
          navigatorLanguages: [...navigator.languages],
          state: window.samsyn ? window.samsyn.state : null,
          messageKey: window.samsyn ? window.samsyn.messageKey : null,
          badge: text('badge'),
          message: text('message'),
          sound: text('unmute'),
          soundTitle: (document.getElementById('unmute') || {}).title || '',
          microphone: visible('mic-mute') ? text('mic-mute') : null,
          holdToTalk: visible('mic-talk') ? text('mic-talk') : null,
          fullscreen: text('fullscreen'),
          statLabels: [...document.querySelectorAll('#stats dt')].map((e) => e.textContent.trim()),
          panelState: window.samsynConsultation ? window.samsynConsultation.state : null,
          panelHeading: (document.querySelector('#consultation h2') || {}).textContent || null,
          chatPlaceholder: (document.getElementById('chat-input') || {}).placeholder || null,
          title: document.title,
          expected: {
            badge: strings['state.waiting'], sound: strings['sound.on'], microphone: strings['mic.mute'],
            panelHeading: strings['panel.heading'], chatPlaceholder: strings['chat.placeholder'],
          },
        };
      }, (s) => s.state === 'waiting' && s.panelState === 'joined' && s.microphone !== null);
      await shot(viewer.page, `viewer-${c.name}.png`);
      result.viewer = v;
      if (!v) {
        problem('the specialist\u2019s page could not be read');
      } else {
        if (v.htmlLang !== c.expect) problem(`viewer: <html lang="${v.htmlLang}">, expected ${c.expect}`);
        if (v.i18nLang !== c.expect) problem(`viewer: samsynI18n.lang is ${v.i18nLang}, expected ${c.expect}`);
        if (v.state !== 'waiting') problem(`viewer: state ${v.state}, expected waiting (no camera)`);
        if (v.panelState !== 'joined') problem(`viewer: the consultation panel is ${v.panelState}, not joined`);
        for (const field of ['badge', 'sound', 'microphone', 'panelHeading', 'chatPlaceholder']) {
          if (!v.expected[field] || v[field] !== v.expected[field]) {
            problem(`viewer: ${field} is ${JSON.stringify(v[field])}, the catalogue says ${JSON.stringify(v.expected[field])}`);
          }
        }
        if (v.sound === v.microphone) problem(`viewer: the sound and microphone buttons both read ${JSON.stringify(v.sound)}`);
        const keys = await keysShown(viewer.page);
        if (keys.length) problem(`viewer: catalogue keys shown as text: ${keys.join(', ')}`);
      }
      await viewer.page.context().close();

      // --- the nurse's page -----------------------------------------------------
      const nurse = await open(withQuery(opt.nurseUrl, c.query), 'nurse');
      const readNurse = () => {
        const visibleText = (sel) => {
          const e = document.querySelector(sel);
          return e && e.offsetParent !== null ? e.textContent.trim() : null;
        };
        const button = document.getElementById('open-app');
        return {
          htmlLang: document.documentElement.lang,
          state: document.body.dataset.state,
          why: window.samsynNurse ? window.samsynNurse.why : null,
          hasPin: window.samsynNurse ? window.samsynNurse.hasPin : null,
          heading: visibleText('section:not([hidden]) h1'),
          lead: visibleText('section:not([hidden]) .lead'),
          button: button && button.offsetParent !== null ? button.textContent.trim() : null,
          href: button ? button.getAttribute('href') : null,
          help: visibleText('.help'),
          addressBarHash: location.hash,
          fontSizePx: parseFloat(getComputedStyle(document.body).fontSize),
          strings: (window.samsynStrings || {})[document.documentElement.lang] || {},
        };
      };
      const n = await until(nurse.page, readNurse, (s) => s.state === 'ready' || s.state === 'broken');
      await shot(nurse.page, `nurse-${c.name}.png`, true);
      if (!n) {
        problem('the nurse\u2019s page could not be read');
      } else {
        const strings = n.strings;
        delete n.strings;
        if (n.htmlLang !== c.expect) problem(`nurse: <html lang="${n.htmlLang}">, expected ${c.expect}`);
        if (n.state !== 'ready') problem(`nurse: state ${n.state} (${n.why}), expected ready`);
        if (n.heading !== strings['ready.heading']) problem(`nurse: heading ${JSON.stringify(n.heading)}`);
        if (n.lead !== strings['ready.what']) problem(`nurse: text ${JSON.stringify(n.lead)}`);
        if (n.button !== strings['ready.open']) problem(`nurse: button ${JSON.stringify(n.button)}`);
        if (n.href !== appLink) problem(`nurse: the button opens ${JSON.stringify(scrub(n.href))}, expected ${JSON.stringify(scrub(appLink))}`);
        if (n.addressBarHash) problem('nurse: the token stays in the address bar');
        if (!(n.fontSizePx >= 24)) problem(`nurse: body text of ${n.fontSizePx} px, under 24`);
        n.hrefMatches = n.href === appLink;
        n.href = scrub(n.href);
        const keys = await keysShown(nurse.page);
        if (keys.length) problem(`nurse: catalogue keys shown as text: ${keys.join(', ')}`);
        // Reloaded, the page still knows its link (kept in the tab).
        await nurse.page.reload({ waitUntil: 'domcontentloaded' });
        const again = await until(nurse.page, readNurse, (s) => s.state === 'ready' || s.state === 'broken');
        if (!again || again.state !== 'ready' || again.href !== appLink) problem('nurse: after a reload the page lost its link');
      }
      const own = nurse.requests.filter((r) => !['document', 'script', 'stylesheet', 'image'].includes(r.type));
      if (own.length) problem(`nurse: the page made requests of its own: ${own.map((r) => `${r.type} ${scrub(r.url)}`).join(', ')}`);
      for (const r of nurse.requests) {
        if (secrets.some((s) => r.url.includes(s) || r.headers.includes(s) || r.body.includes(s))) {
          problem(`nurse: the token went out with ${r.type} ${scrub(r.url)}`);
        }
      }
      result.nurse = n;
      result.nurseRequests = nurse.requests.map((r) => `${r.type} ${scrub(new URL(r.url).pathname)}`);
      await nurse.page.context().close();

      // --- the nurse's page without its fragment ------------------------------------
      const broken = await open(withQuery(withoutFragment(opt.nurseUrl), c.query), 'nurse-broken');
      const b = await until(broken.page, readNurse, (s) => s.state === 'ready' || s.state === 'broken');
      await shot(broken.page, `nurse-broken-${c.name}.png`, true);
      if (!b) {
        problem('the nurse\u2019s page without a token could not be read');
      } else {
        const strings = b.strings;
        delete b.strings;
        if (b.state !== 'broken' || b.why !== 'no_token') problem(`nurse without a token: state ${b.state} (${b.why})`);
        if (b.heading !== strings['broken.heading']) problem(`nurse without a token: heading ${JSON.stringify(b.heading)}`);
        if (b.button !== null) problem('nurse without a token: the button shows');
      }
      result.nurseBroken = b;
      await broken.page.context().close();

      // --- the nurse's page behind a reverse proxy under /samsyn/ (once) --------------
      // The browser asks for /samsyn/…; the driver passes each request on
      // without the prefix, as such a proxy does.
      if (c === CASES[0]) {
        const proxied = new URL(opt.nurseUrl);
        proxied.pathname = '/samsyn' + proxied.pathname;
        const proxy = await open(proxied.href, 'nurse-proxied', (context) => context.route(
          (url) => url.pathname.startsWith('/samsyn/'),
          (route) => {
            const inner = new URL(route.request().url());
            inner.pathname = inner.pathname.slice('/samsyn'.length);
            return route.continue({ url: inner.href });
          }));
        const p = await until(proxy.page, readNurse, (s) => s.state === 'ready' || s.state === 'broken');
        const expected = 'samsyn:' + proxied.href.slice(proxied.href.indexOf(':') + 1);
        if (!p || p.state !== 'ready') problem(`nurse behind a proxy: state ${p && p.state} (${p && p.why})`);
        else if (p.href !== expected) problem(`nurse behind a proxy: the button opens ${JSON.stringify(scrub(p.href))}, expected ${JSON.stringify(scrub(expected))}`);
        const outside = proxy.requests.filter((r) => !new URL(r.url).pathname.startsWith('/samsyn/'));
        if (outside.length) problem(`nurse behind a proxy: requests outside /samsyn/: ${outside.map((r) => scrub(r.url)).join(', ')}`);
        if (p) {
          delete p.strings;
          p.hrefMatches = p.href === expected;
          p.href = scrub(p.href);
        }
        result.nurseBehindProxy = p;
        await proxy.page.context().close();
      }
    } catch (e) {
      problem(`the browser failed: ${e.message}`);
    } finally {
      await browser.close().catch(() => {});
    }
    for (const line of logs) {
      if (secrets.some((s) => line.includes(s))) problem(`a console line carries a token: ${scrub(line)}`);
      if (line.includes('no text for')) problem(`a text is missing: ${line}`);
    }
    result.console = logs.map(scrub).slice(-40);
    results.push(result);
  }

  if (problems.length) {
    process.stderr.write(scrub(['page-language: FAIL:', ...problems.map((p) => `  ${p}`),
      `  results: ${JSON.stringify(results)}`].join('\n')) + '\n', () => process.exit(1));
    return;
  }
  process.stdout.write(scrub(JSON.stringify({ ok: true, cases: results })) + '\n', () => process.exit(0));
}

main().catch((e) => {
  process.stderr.write(`page-language: FAIL: ${e && e.stack || e}\n`, () => process.exit(1));
});
