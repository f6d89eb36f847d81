#!/usr/bin/env node
// The nurse's screen in a real consultation: `samsyn-capture join` serves
// it, a specialist's page in the same headless Chromium watches and talks.
//
//   node nurse-join.mjs --screen '<nurse screen URL>' --specialist '<specialist link>' \
//     --name 'Dr. Berg' --chat '3,2 cm' [--trust-spki <base64 sha256>] [--screenshot-dir out] \
//     [--timeout-ms 30000]
//
// Two nurse screens are open, one in Norwegian (the browser's language) and
// one in English (?lang=en). The checks, in order:
//   1. both screens say the specialists see her (live), and the self-view
//      changes (two frames a second apart differ);
//   2. the specialist's page plays, and the screens list the specialist;
//   3. the specialist's chat message shows on the screens;
//   4. the specialist takes a photo: the screens flash, naming who took it;
//   5. the specialist speaks (a fake microphone): the screens mark her;
// then it prints {"event":"ready", …} and screenshots both screens at
// 1366x768 and 1920x1080; the caller ends the room, and
//   6. both screens say the consultation has ended: {"ok":true, …}.
// Exit status: 0 success, 1 failure (message on stderr), 2 bad usage.

import { chromium } from 'playwright-core';
import { VIDEO_PAGE_ARGS, languageArgs, voiceWav } from './chromium.mjs';

const POLL_MS = 100;
const SIZES = [[1366, 768], [1920, 1080]];

function usage(msg) {
  process.stderr.write(`nurse-join: ${msg}\nsee the head of nurse-join.mjs for usage\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { screen: null, specialist: null, name: null, chat: null, screenshotDir: null, timeoutMs: 30000, trustSpki: null,
    chromium: process.env.SAMSYN_CHROMIUM || '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = () => argv[++i] ?? usage(`${flag} needs a value`);
    if (flag === '--screen') o.screen = next();
    else if (flag === '--specialist') o.specialist = next();
    else if (flag === '--name') o.name = next();
    else if (flag === '--chat') o.chat = next();
    else if (flag === '--screenshot-dir') o.screenshotDir = next();
    else if (flag === '--trust-spki') o.trustSpki = next();
    else if (flag === '--timeout-ms') o.timeoutMs = Number(next());
    else usage(`unknown flag ${flag}`);
  }
  if (!o.screen || !o.specialist || !o.name || !o.chat) usage('--screen, --specialist, --name and --chat are required');
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (line) => new Promise((r) => process.stdout.write(JSON.stringify(line) + '\n', r));

// The nurse screen's state, and a checksum of its self-view picture.
function readScreen() {
  const s = window.samsynScreen || {};
  const img = document.getElementById('self-view-img') ||
    [...document.querySelectorAll('img')].find((i) => i.src.startsWith('blob:'));
  let picture = null;
  if (img && img.naturalWidth > 0) {
    const canvas = document.createElement('canvas');
    canvas.width = 64; canvas.height = 36;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0, 64, 36);
    const data = ctx.getImageData(0, 0, 64, 36).data;
    let sum = 0;
    for (let i = 0; i < data.length; i += 4) sum = (sum * 31 + data[i] + data[i + 1] * 3 + data[i + 2] * 7) >>> 0;
    picture = sum;
  }
  return {
    lang: s.lang, state: s.state, stateText: s.stateText, selfViewDecoded: s.selfViewDecoded || 0,
    participants: s.participants || [], speakingIds: s.speakingIds || [], chatTexts: s.chatTexts || [],
    photoFlashes: s.photoFlashes || 0, photoText: s.photoText, photoShowing: !!s.photoShowing,
    check: s.check || null, missingKeys: s.missingKeys || [], picture,
    bodyText: document.body.innerText,
  };
}

function readSpecialist() {
  const v = window.samsyn || {};
  return {
    videoState: v.state || null,
    framesRendered: v.framesRendered || 0,
    mic: window.samsynTalkback ? window.samsynTalkback.mic : null,
  };
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const watchdog = setTimeout(() => {
    process.stderr.write('nurse-join: FAIL: hard timeout\n');
    process.exit(1);
  }, opt.timeoutMs * 8 + 30000);
  watchdog.unref();

  const browser = await chromium.launch({
    executablePath: opt.chromium, headless: true, timeout: 30000,
    args: [...VIDEO_PAGE_ARGS, ...languageArgs('nb-NO'), '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${voiceWav()}`,
      // The gateway's self-signed certificate, trusted by its key alone.
      ...(opt.trustSpki ? [`--ignore-certificate-errors-spki-list=${opt.trustSpki}`] : [])],
  });
  const logs = [];
  const open = async (label, url, viewport) => {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    page.on('console', (m) => logs.push(`[${label} ${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[${label} pageerror] ${e.message}`));
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: opt.timeoutMs });
    return page;
  };
  const english = new URL(opt.screen);
  english.searchParams.set('lang', 'en');
  const screens = [
    await open('screen nb', opt.screen, { width: 1366, height: 768 }),
    await open('screen en', english.toString(), { width: 1920, height: 1080 }),
  ];
  const specialist = await open('specialist', opt.specialist, { width: 1280, height: 720 });

  let last = null;
  const fail = async (reason) => {
    if (opt.screenshotDir) {
      for (const [i, page] of [...screens, specialist].entries()) {
        await page.screenshot({ path: `${opt.screenshotDir}/failed-${i + 1}.png` }).catch(() => {});
      }
    }
    await browser.close().catch(() => {});
    const text = [`nurse-join: FAIL: ${reason}`, `  last state: ${JSON.stringify(last)}`,
      ...logs.slice(-60).map((l) => `  ${l}`)].join('\n').replace(/#token=[^\s"'&]*/g, '#token=…');
    process.stderr.write(text + '\n', () => process.exit(1));
  };
  const until = async (what, check) => {
    const deadline = Date.now() + opt.timeoutMs;
    while (Date.now() < deadline) {
      last = {
        screens: await Promise.all(screens.map((p) => p.evaluate(readScreen).catch((e) => ({ error: e.message })))),
        specialist: await specialist.evaluate(readSpecialist).catch((e) => ({ error: e.message })),
      };
      const result = check(last);
      if (result) return result;
      await sleep(POLL_MS);
    }
    await fail(`timed out after ${opt.timeoutMs} ms waiting until ${what}`);
    return null;
  };
  const started = Date.now();
  const timings = {};

  // 1. Live, and a self-view that moves.
  if (!await until('both screens say live and show the self-view', (l) => l.screens.every((s) =>
    s.state === 'live' && s.selfViewDecoded >= 3 && s.picture !== null))) return;
  timings.liveMs = Date.now() - started;
  const firstPicture = last.screens[0].picture;
  await sleep(1000);
  if (!await until('the self-view changes', (l) => l.screens[0].picture !== null && l.screens[0].picture !== firstPicture)) return;
  const liveWords = last.screens.map((s) => s.stateText);

  // 2. The specialist plays and is listed.
  if (!await until('the specialist plays and both screens list her', (l) =>
    l.specialist.videoState === 'live' && l.specialist.framesRendered >= 10 &&
    l.screens.every((s) => s.participants.some((p) => (p.shown || '').includes(opt.name))))) return;
  timings.listedMs = Date.now() - started;
  const specialistId = last.screens[0].participants.find((p) => (p.shown || '').includes(opt.name)).id;

  // 3. Chat.
  await specialist.fill('#chat-input', opt.chat);
  await specialist.click('#chat-send');
  if (!await until('the chat message shows on both screens', (l) => l.screens.every((s) =>
    s.chatTexts.includes(opt.chat) && s.bodyText.includes(opt.chat)))) return;

  // 4. A photo flash naming who took it.
  await specialist.click('#take-photo');
  if (!await until('both screens flash the photo with her name', (l) => l.screens.every((s) =>
    s.photoFlashes >= 1 && (s.photoText || '').includes(opt.name)))) return;
  const photoWords = last.screens.map((s) => s.photoText);

  // 5. The speaking mark.
  if (!await until('both screens mark the specialist as speaking', (l) =>
    l.screens.every((s) => s.speakingIds.includes(specialistId)))) return;
  timings.speakingMs = Date.now() - started;
  if (last.screens.some((s) => s.missingKeys.length)) return fail(`untranslated keys: ${last.screens.map((s) => s.missingKeys)}`);

  // The screenshots show the screen as she mostly sees it: no flash over it.
  if (!await until('the photo flash has gone', (l) => l.screens.every((s) => !s.photoShowing))) return;
  if (opt.screenshotDir) {
    for (const [page, lang] of [[screens[0], 'nb'], [screens[1], 'en']]) {
      for (const [width, height] of SIZES) {
        await page.setViewportSize({ width, height });
        await sleep(300);
        await page.screenshot({ path: `${opt.screenshotDir}/nurse-screen-live-${lang}-${width}x${height}.png` });
      }
    }
  }
  // The line check from her screen: it runs while the consultation goes on.
  await screens[0].click('#check');
  const checkStarted = Date.now();
  if (!await until('the check from the screen gives its verdict', (l) =>
    l.screens[0].check && l.screens[0].check.state === 'done')) return;
  timings.checkMs = Date.now() - checkStarted;
  const check = last.screens[0].check;
  if (opt.screenshotDir) await screens[0].screenshot({ path: `${opt.screenshotDir}/nurse-screen-check-nb.png` });
  await screens[0].keyboard.press('Escape');
  const close = await screens[0].$('#check-panel button');
  if (close) await close.click().catch(() => {});
  if (!await until('both screens still say live', (l) => l.screens.every((s) => s.state === 'live'))) return;

  await say({ event: 'ready', timings, langs: last.screens.map((s) => s.lang), liveWords, photoWords, check });

  // 6. The caller ends the room.
  if (!await until('both screens say the consultation has ended', (l) => l.screens.every((s) => s.state === 'ended'))) return;
  const endedWords = last.screens.map((s) => s.stateText);
  if (opt.screenshotDir) {
    await screens[0].screenshot({ path: `${opt.screenshotDir}/nurse-screen-ended-nb.png` });
    await screens[1].screenshot({ path: `${opt.screenshotDir}/nurse-screen-ended-en.png` });
  }
  await browser.close();
  await say({ ok: true, timings, endedWords });
}

main().catch((e) => {
  process.stderr.write(`nurse-join: ${e.stack || e}\n`, () => process.exit(1));
});
