#!/usr/bin/env node
// Two specialists' pages in one headless Chromium: both play the live video,
// both list everyone in the consultation, chat goes round between the pages
// and the nurse's capture daemon, and a photo the first page asks for
// reaches the second, larger than the stream, viewable and downloadable.
//
//   node consultation.mjs --url '<link of specialist 1>' --url '<link of specialist 2>' \
//     --expect-name 'Dr. Berg' --expect-name 'Dr. Lie' --camera-chat 'Foot turned' \
//     [--talk] [--nurse-speaks] [--screenshot-prefix out/consultation] [--timeout-ms 30000]
//     [--lang en-US]   the browser's language, which the pages' texts follow
//                      (default en-US: the caller checks English words)
//
// With --talk, both pages have a fake microphone playing a tone in
// syllables (Chromium's fake capture device), and the talk-back checks run:
// each page hears the other and lists it as speaking, "Mute my
// microphone" (#mic-mute) silences a
// page for the other and "hold to talk" (the space bar) brings it back,
// and the first page's volume at 300 % plays three times (9.5 dB) louder
// than it hears, at 100 % as loud (WebAudio's levels before and after its
// gain, at the same moments).
//
// With --nurse-speaks (the daemon sends its test tone, in 1.5 s phrases
// with 2.5 s pauses), both pages list the nurse as speaking, then not in
// a pause, then speaking again.
//
// Progress goes to stdout as JSON lines, which the calling test reads:
//   {"event":"joined", …}   both pages play and list everyone: the caller
//                           now makes the daemon send --camera-chat
//   {"event":"talking", …}  (--talk) both pages speak and hear each other:
//                           the caller now checks what the daemon hears
//   {"ok":true, …}          the end: the camera's chat reached both pages,
//                           each page's chat reached the other page, the
//                           photo reached both pages, and everyone's
//                           connection quality is listed
// The pages send "Hello from <name>" for the caller to look for at the daemon.
// Exit status: 0 success, 1 failure (message on stderr), 2 bad usage.

import { chromium } from 'playwright-core';
import { VIDEO_PAGE_ARGS as CHROMIUM_ARGS, DEFAULT_LANG, languageArgs, voiceWav } from './chromium.mjs';

const POLL_MS = 100;

function usage(msg) {
  process.stderr.write(`consultation: ${msg}\nsee the head of consultation.mjs for usage\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { urls: [], names: [], cameraChat: null, screenshotPrefix: null, timeoutMs: 30000, talk: false, nurseSpeaks: false,
    chromium: process.env.SAMSYN_CHROMIUM || '/usr/bin/chromium', lang: DEFAULT_LANG };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === '--url') o.urls.push(next());
    else if (flag === '--expect-name') o.names.push(next());
    else if (flag === '--camera-chat') o.cameraChat = next();
    else if (flag === '--talk') o.talk = true;
    else if (flag === '--nurse-speaks') o.nurseSpeaks = true;
    else if (flag === '--screenshot-prefix') o.screenshotPrefix = next();
    else if (flag === '--timeout-ms') o.timeoutMs = Number(next());
    else if (flag === '--chromium') o.chromium = next();
    else if (flag === '--lang') o.lang = next();
    else usage(`unknown argument ${flag}`);
  }
  if (o.urls.length !== 2 || o.names.length !== 2) usage('give two --url and two --expect-name, in the same order');
  if (!o.cameraChat) usage('--camera-chat is required');
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Moves a page's volume slider, as a person would drag it.
async function setVolume(page, percent) {
  await page.evaluate((value) => {
    const slider = document.getElementById('volume');
    slider.value = String(value);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
  }, percent);
}

// How much louder a page plays than it hears (dB, its amplifier's levels
// after and before its gain at the same moments), the median over `ms` of
// the moments something is heard; and the loudest it played.
async function amplification(page, ms) {
  const boosts = [];
  let loudest = -100;
  for (const end = Date.now() + ms; Date.now() < end; await sleep(POLL_MS)) {
    const { heard, played } = await page.evaluate(() => window.samsynTalkback.amplifierLevels());
    loudest = Math.max(loudest, played);
    if (heard > -50) boosts.push(played - heard);
  }
  boosts.sort((a, b) => a - b);
  const boostDb = boosts.length ? boosts[Math.floor(boosts.length / 2)] : null;
  return { boostDb, loudestDb: loudest, moments: boosts.length };
}

const say = (line) => new Promise((r) => process.stdout.write(JSON.stringify(line) + '\n', r));

// What the checks need from one page.
function readPage() {
  const v = window.samsyn || {};
  const c = window.samsynConsultation || null;
  const items = [...document.querySelectorAll('#participants li')].map((li) => ({
    text: li.textContent, role: li.dataset.role, media: li.dataset.media, quality: li.dataset.quality,
    speaking: li.dataset.speaking,
  }));
  return {
    videoState: v.state || null,
    framesRendered: v.framesRendered || 0,
    consultation: c ? c.state : null,
    you: c ? c.you : null,
    participants: c ? c.participants : [],
    listed: items,
    chat: c ? c.chat.map((m) => ({ text: m.text, from: m.from, seq: m.seq })) : [],
    chatShown: [...document.querySelectorAll('#chat-log li .chat-text')].map((e) => e.textContent),
    errors: c ? c.errors : [],
    photos: c ? c.photos : [],
    talkback: window.samsynTalkback
      ? { mic: window.samsynTalkback.mic, speakers: window.samsynTalkback.speakers } : null,
    videoWidth: (document.querySelector('video') || {}).videoWidth || 0,
    videoHeight: (document.querySelector('video') || {}).videoHeight || 0,
    fullView: (() => {
      const d = document.getElementById('photo-view');
      const img = document.getElementById('photo-full');
      const a = document.getElementById('photo-download');
      return d ? { open: d.open, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
        download: a.getAttribute('download'), href: a.getAttribute('href') || '' } : null;
    })(),
  };
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const watchdog = setTimeout(() => {
    process.stderr.write('consultation: FAIL: hard timeout\n');
    process.exit(1);
  }, opt.timeoutMs * 3 + 30000);
  watchdog.unref();

  // A fake microphone, allowed without asking, or none at all.
  const microphone = opt.talk
    ? ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${voiceWav()}`]
    : [];
  const browser = await chromium.launch({
    executablePath: opt.chromium, headless: true, args: [...CHROMIUM_ARGS, ...languageArgs(opt.lang), ...microphone], timeout: 30000,
  });
  const logs = [];
  const pages = [];
  let last = [];
  const fail = async (reason) => {
    if (opt.screenshotPrefix) {
      for (const [i, page] of pages.entries()) await page.screenshot({ path: `${opt.screenshotPrefix}-${i + 1}.png` }).catch(() => {});
    }
    await browser.close().catch(() => {});
    const text = [`consultation: FAIL: ${reason}`, `  last state: ${JSON.stringify(last)}`, ...logs.slice(-80).map((l) => `  ${l}`)]
      .join('\n').replace(/#token=[^\s"'&]*/g, '#token=…');
    process.stderr.write(text + '\n', () => process.exit(1));
  };

  // One context per specialist: separate tabs, as two people would have.
  for (const [i, url] of opt.urls.entries()) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await context.newPage();
    page.on('console', (m) => logs.push(`[page ${i + 1} ${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[page ${i + 1} pageerror] ${e.message}`));
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: opt.timeoutMs });
    pages.push(page);
  }

  // Polls every page until `check(states)` returns a truthy value.
  const until = async (what, check) => {
    const deadline = Date.now() + opt.timeoutMs;
    while (Date.now() < deadline) {
      last = await Promise.all(pages.map((p) => p.evaluate(readPage).catch((e) => ({ error: e.message }))));
      const result = check(last);
      if (result) return result;
      await sleep(POLL_MS);
    }
    await fail(`timed out after ${opt.timeoutMs} ms waiting until ${what}`);
    return null;
  };

  const started = Date.now();
  // Both pages play, and list the camera and both specialists, all with video flowing.
  const everyoneListed = (s) => {
    const specialists = s.participants.filter((p) => p.role === 'specialist' && p.media === 'connected');
    const camera = s.participants.find((p) => p.role === 'publisher');
    return camera && camera.media === 'connected' && camera.sockets >= 1 &&
      opt.names.every((n) => specialists.some((p) => p.name === n)) &&
      s.listed.length === s.participants.length;
  };
  if (!await until('both pages play and list everyone', (states) => states.every((s) =>
    s.videoState === 'live' && s.framesRendered >= 30 && s.consultation === 'joined' && everyoneListed(s)))) return;
  const joinedMs = Date.now() - started;
  await say({ event: 'joined', msAfterStart: joinedMs, listed: last.map((s) => s.listed.map((l) => l.text)) });

  // The nurse's phrases: both pages mark her as she starts and stops.
  let nurse = null;
  if (opt.nurseSpeaks) {
    const nurseSpeaking = (s) => s.participants.some((p) => p.role === 'publisher' && p.speaking);
    const marked = (s) => s.listed.some((l) => l.role === 'publisher' && l.speaking === 'true');
    const nurseStarted = Date.now();
    const changes = [];
    for (const speaking of [true, false, true]) {
      const what = `both pages list the nurse as ${speaking ? '' : 'not '}speaking`;
      if (!await until(what, (states) => states.every((s) =>
        nurseSpeaking(s) === speaking && marked(s) === speaking))) return;
      changes.push({ speaking, msAfterStart: Date.now() - nurseStarted });
    }
    nurse = { changes };
  }

  let talk = null;
  if (opt.talk) {
    // Each page speaks and hears the other, and lists the other as speaking.
    const speakingName = (s, name) => s.participants.some((p) => p.name === name && p.speaking);
    const talkStarted = Date.now();
    // Sound plays after a click on the sound button (#unmute, "Hear the nurse"), as for a person.
    for (const page of pages) await page.click('#unmute');
    if (!await until('both pages speak and list each other as speaking', (states) => states.every((s, i) =>
      s.talkback && s.talkback.mic === 'on' && speakingName(s, opt.names[1 - i])))) return;
    const msToSpeaking = Date.now() - talkStarted;
    // What each page heard from the other: sound energy on a talk-back m-line.
    let energies = [];
    const deadline = Date.now() + opt.timeoutMs;
    while (Date.now() < deadline) {
      energies = await Promise.all(pages.map((p) => p.evaluate(() => window.samsynTalkback.energies())));
      if (energies.every((e) => e.some((x) => x > 0))) break;
      await sleep(POLL_MS * 5);
    }
    if (!energies.every((e) => e.some((x) => x > 0))) return fail(`a page heard no sound from the other: ${JSON.stringify(energies)}`);
    talk = { msToSpeaking, energies };
    await say({ event: 'talking', ...talk });

    // Mute on the first page: the second hears it stop; holding the space
    // bar speaks again; unmuting leaves it on.
    await pages[0].click('#mic-mute');
    if (!await until('muting the first page stops its speech for the second', (states) =>
      states[0].talkback.mic === 'muted' && !speakingName(states[1], opt.names[0]))) return;
    await pages[0].locator('body').click({ position: { x: 5, y: 5 } });
    await pages[0].keyboard.down('Space');
    if (!await until('holding the space bar speaks while muted', (states) =>
      states[0].talkback.mic === 'on' && speakingName(states[1], opt.names[0]))) return;
    await pages[0].keyboard.up('Space');
    if (!await until('letting go mutes again', (states) => states[0].talkback.mic === 'muted')) return;
    await pages[0].click('#mic-mute');
    if (!await until('unmuted again', (states) => states[0].talkback.mic === 'on')) return;

    // Above 100 %: the first page plays what it hears three times louder
    // (+9.5 dB), and at 100 % as loud as it hears. Compared at the same
    // moments, since the speakers' loudness changes from one second to the next.
    const at = {};
    for (const percent of [300, 100]) {
      await setVolume(pages[0], percent);
      await sleep(200);
      at[percent] = await amplification(pages[0], 2500);
    }
    const elements = await pages[0].evaluate(() =>
      [...document.querySelectorAll('video, audio')].map((e) => e.volume));
    talk.volume = { at300: at[300], at100: at[100], elements };
    const near = (value, want) => value !== null && Math.abs(value - want) < 1.5;
    if (!near(at[300].boostDb, 9.54) || !near(at[100].boostDb, 0)) {
      return fail(`300 % should play 9.5 dB and 100 % 0 dB above what is heard: ${JSON.stringify(talk.volume)}`);
    }
    if (elements.some((v) => v !== 0)) return fail(`media elements still play beside the amplifier: ${elements}`);
  }

  // Each page chats through its own form, as a person would.
  for (const [i, page] of pages.entries()) {
    await page.fill('#chat-input', `Hello from ${opt.names[i]}`);
    await page.click('#chat-send');
  }
  const texts = [...opt.names.map((n) => `Hello from ${n}`), opt.cameraChat];
  if (!await until('every chat message reached both pages', (states) => states.every((s) =>
    texts.every((t) => s.chat.some((m) => m.text === t) && s.chatShown.includes(t))))) return;

  // The same order on both pages.
  const order = (s) => s.chat.map((m) => m.seq).join(',');
  if (order(last[0]) !== order(last[1])) return fail('the pages saw the chat in different orders');
  const fromCamera = last[0].chat.find((m) => m.text === opt.cameraChat).from;
  if (fromCamera.role !== 'publisher') return fail(`the camera's chat came from a ${fromCamera.role}`);

  // The first specialist asks for a photo; both get it, decoded.
  const photoStarted = Date.now();
  await pages[0].click('#take-photo');
  if (!await until('the photo reached both pages', (states) => states.every((s) =>
    s.photos.length === 1 && s.photos[0].naturalWidth > 0))) return;
  const photoMs = Date.now() - photoStarted;
  const second = last[1];
  const photo = second.photos[0];
  if (photo.type !== 'image/jpeg') return fail(`the photo is ${photo.type}, not image/jpeg`);
  if (!(photo.naturalWidth > second.videoWidth && photo.naturalHeight > second.videoHeight)) {
    return fail(`the photo (${photo.naturalWidth}x${photo.naturalHeight}) is not larger than the stream (${second.videoWidth}x${second.videoHeight})`);
  }
  // Full size on the second page, with a download link.
  await pages[1].click('#photo-strip .photo-open');
  if (!await until('the photo shows at full size', (states) => {
    const v = states[1].fullView;
    return v && v.open && v.naturalWidth === photo.width && v.href.startsWith('blob:');
  })) return;
  const fullView = last[1].fullView;
  if (!/\.jpg$/.test(fullView.download || '')) return fail(`the download is named ${fullView.download}`);

  // Every participant's connection quality is listed on both pages (each
  // reports every 5 s: the pages from their WebRTC statistics, the camera
  // from its stream).
  if (!await until('everyone\'s connection quality is listed', (states) => states.every((s) =>
    s.participants.length === 3 && s.participants.every((p) => p.quality && p.quality.level) &&
    s.listed.every((l) => l.quality)))) return;
  const qualities = last[0].participants.map((p) => ({ role: p.role, name: p.name, ...p.quality }));

  if (opt.screenshotPrefix) {
    for (const [i, page] of pages.entries()) await page.screenshot({ path: `${opt.screenshotPrefix}-${i + 1}.png` });
  }
  await browser.close();
  await say({
    ok: true,
    joinedMs,
    framesRendered: last.map((s) => s.framesRendered),
    listed: last.map((s) => s.listed.map((l) => l.text)),
    chat: last[0].chat.map((m) => m.text),
    errors: last.map((s) => s.errors),
    photo: { ...photo, msFromClick: photoMs, download: fullView.download },
    video: { width: second.videoWidth, height: second.videoHeight },
    qualities,
    listedWithQuality: last[0].listed.map((l) => l.text),
    talk,
    nurse,
  });
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`consultation: FAIL: ${e && e.stack ? e.stack : e}`.replace(/#token=[^\s"'&]*/g, '#token=…') + '\n');
  process.exit(1);
});
