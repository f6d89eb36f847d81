#!/usr/bin/env node
// The nurse screen (samsyn-capture's page on 127.0.0.1) in headless
// Chromium: is it readable from across the room, in her language, does it
// show what the daemon says, and do its controls reach the daemon?
//
//   node nurse-screen.mjs --url 'http://127.0.0.1:<port>/<secret>/[?lang=en]' \
//     --expect-lang nb [--browser-lang nb-NO] [--viewport 1366x768] \
//     [--scenario visit|contact-loss|states] [--screenshot-prefix out/nurse-screen-nb-1366x768] \
//     [--timeout-ms 20000] [--chromium /usr/bin/chromium]
//
// --browser-lang sets the browser's languages (navigator.languages; en-US
// when left out); --expect-lang is the catalogue the page must pick.
//
// The caller (capture/tests/screen_page.rs) holds the screen's server and
// writes the views; it reads this driver's progress on stdout, one JSON
// line each, and answers by changing the view:
//
// visit: the caller starts with a live consultation: the nurse ("cam"),
//   Dr. Berg speaking, Dr. Lie, a nameless observer; chat ending with
//   "3,2 cm"; photo 1 already taken; reduced quality; microphone on;
//   talk-back at 60 %; self-view frames coming.
//   {"event":"ready"}        all that is shown: the caller now makes photo 2
//                            (by Dr. Berg), adds a chat line, and makes
//                            Dr. Lie the one speaking
//   {"event":"photo-seen"}   the flash for photo 2 was shown: the caller
//                            now marks photo 2 failed
//   then the driver presses, waiting for the view to answer each:
//   mute (caller: microphone muted), check (caller: running, then done,
//   good), louder (caller: 70 %), end visit → no, end visit → yes
//   (caller: link stopped).
// contact-loss:
//   {"event":"ready"}        live is shown: the caller stops the server;
//                            the page must say it lost the daemon.
// states: from live, each {"event":"next"} asks the caller for the next of
//   STATE_STEPS below (connecting; reconnecting, attempt 3; refused:
//   token_expired with the message "the token expired at 12:00",
//   room_ended, invalid_token; ended; live again with poor quality and the
//   camera unplugged); each
//   must be worded, drawn with its own colour and shape, and readable.
//
// The last line is {"ok":true, …} with what the page showed.
// Screenshots: <prefix>.png (live, all shown), <prefix>-photo.png (the
// flash), <prefix>-check.png (the line check's verdict),
// <prefix>-confirm.png (the last question),
// <prefix>-contact-lost.png, <prefix>-<state step>.png.
// Exit status: 0 success, 1 failure (why on stderr), 2 bad usage.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, DEFAULT_LANG, languageArgs } from './chromium.mjs';

const POLL_MS = 50;

// The link states the caller shows one by one in the states scenario, with
// the words (keys of EXPECTED) each must show.
const STATE_STEPS = [
  { name: 'connecting', state: 'connecting', words: ['connecting'] },
  { name: 'reconnecting', state: 'reconnecting', words: ['reconnecting'] },
  { name: 'expired', state: 'refused', words: ['expired', 'callHospital', 'forIt'] },
  { name: 'room-ended', state: 'refused', words: ['roomEnded', 'callHospital'] },
  { name: 'invalid', state: 'refused', words: ['linkBroken', 'callHospital'] },
  { name: 'ended', state: 'ended', words: ['ended'] },
  { name: 'poor', state: 'live', words: ['live', 'poor', 'cameraLost'] },
];

// What the nurse must read, in each language the tests ask for. Written
// here, not read from the page's catalogue, so a changed word is caught.
const EXPECTED = {
  nb: {
    live: 'Spesialisten ser deg',
    badge: 'LIVE',
    selfView: 'Dette ser spesialisten',
    reduced: 'Svak forbindelse: bildet er redusert',
    you: 'deg',
    speaking: 'snakker',
    observer: 'Observatør',
    photo: 'Bilde tatt av Dr. Berg',
    photoFailed: 'Bilde ble ikke tatt',
    micOn: 'Mikrofon på',
    micOff: 'Mikrofon av',
    checking: 'Sjekker forbindelsen',
    checkGood: 'Forbindelsen er god',
    volume60: 'Lyd 60 %',
    volume70: 'Lyd 70 %',
    confirm: 'Vil du avslutte besøket?',
    stopped: 'Besøket er avsluttet',
    lost: 'Mistet kontakt med samsyn på denne PC-en',
    connecting: 'Kobler til …',
    reconnecting: 'Forbindelsen brøt – kobler til igjen (forsøk 3)',
    expired: 'Lenken er utløpt',
    roomEnded: 'Konsultasjonen er allerede avsluttet',
    linkBroken: 'Lenken virker ikke',
    callHospital: 'Ring sykehuset',
    forIt: 'Til IT: the token expired at 12:00',
    ended: 'Konsultasjonen er avsluttet',
    poor: 'Svært svak forbindelse',
    cameraLost: 'Kameraet er frakoblet – sjekk ledningen',
  },
  en: {
    live: 'The specialist sees you',
    badge: 'LIVE',
    selfView: 'This is what the specialist sees',
    reduced: 'Weak connection: the picture is reduced',
    you: 'you',
    speaking: 'speaking',
    observer: 'Observer',
    photo: 'Photo taken by Dr. Berg',
    photoFailed: 'The photo was not taken',
    micOn: 'Microphone on',
    micOff: 'Microphone off',
    checking: 'Checking the connection',
    checkGood: 'The connection is good',
    volume60: 'Sound 60%',
    volume70: 'Sound 70%',
    confirm: 'Do you want to end the visit?',
    stopped: 'The visit has ended',
    lost: 'Lost contact with samsyn on this PC',
    connecting: 'Connecting …',
    reconnecting: 'The connection broke – reconnecting (attempt 3)',
    expired: 'The link has expired',
    roomEnded: 'The consultation has already ended',
    linkBroken: 'The link does not work',
    callHospital: 'Call the hospital',
    forIt: 'For IT: the token expired at 12:00',
    ended: 'The consultation has ended',
    poor: 'Very weak connection',
    cameraLost: 'The camera is disconnected – check its cable',
  },
};

function usage(msg) {
  process.stderr.write(`nurse-screen: ${msg}\nsee the head of nurse-screen.mjs for usage\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    url: null,
    expectLang: null,
    browserLang: null,
    viewport: { width: 1366, height: 768 },
    scenario: 'visit',
    screenshotPrefix: null,
    timeoutMs: 20000,
    chromium: process.env.SAMSYN_CHROMIUM || '/usr/bin/chromium',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) usage(`${flag} needs a value`);
    i++;
    switch (flag) {
      case '--url': o.url = value; break;
      case '--expect-lang': o.expectLang = value; break;
      case '--browser-lang': o.browserLang = value; break;
      case '--viewport': {
        const m = /^(\d+)x(\d+)$/.exec(value);
        if (!m) usage('--viewport takes WIDTHxHEIGHT');
        o.viewport = { width: Number(m[1]), height: Number(m[2]) };
        break;
      }
      case '--scenario': o.scenario = value; break;
      case '--screenshot-prefix': o.screenshotPrefix = value; break;
      case '--timeout-ms': o.timeoutMs = Number.parseInt(value, 10); break;
      case '--chromium': o.chromium = value; break;
      default: usage(`unknown flag ${flag}`);
    }
  }
  if (!o.url) usage('--url is required');
  if (!EXPECTED[o.expectLang]) usage(`--expect-lang takes one of ${Object.keys(EXPECTED).join(', ')}`);
  if (!['visit', 'contact-loss', 'states'].includes(o.scenario)) usage('--scenario takes visit, contact-loss or states');
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const words = EXPECTED[opts.expectLang];
const deadline = Date.now() + opts.timeoutMs;

function emit(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** Polls `probe` in the page until `accept` takes its value; returns it. */
async function waitFor(page, what, probe, accept, arg) {
  let last;
  while (Date.now() < deadline) {
    last = await page.evaluate(probe, arg);
    if (accept(last)) return last;
    await page.waitForTimeout(POLL_MS);
  }
  throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`);
}

const screen = () => JSON.parse(JSON.stringify(window.samsynScreen ?? null));
const bodyText = () => document.body.innerText;

async function waitForText(page, text) {
  await waitFor(page, `the text "${text}"`, bodyText, (seen) => seen.includes(text));
}

async function screenshot(page, suffix) {
  if (!opts.screenshotPrefix) return;
  const path = `${opts.screenshotPrefix}${suffix}.png`;
  mkdirSync(dirname(path), { recursive: true });
  await page.screenshot({ path });
}

/** Readable from across the room: no scrolling, text ≥ 24 px, controls ≥ 64 px. */
function layoutProblems() {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollHeight > innerHeight + 1 || root.scrollWidth > innerWidth + 1) {
    problems.push(`the page scrolls: ${root.scrollWidth}x${root.scrollHeight} in ${innerWidth}x${innerHeight}`);
  }
  const visible = (el) => {
    if (!el || el.closest('[hidden]')) return false;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') return false;
    return el.getClientRects().length > 0;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    const el = node.parentElement;
    if (!text || !visible(el)) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < 24) problems.push(`"${text.slice(0, 40)}" is ${size}px`);
    const box = el.getBoundingClientRect();
    if (box.bottom > innerHeight + 1 || box.right > innerWidth + 1 || box.top < -1) {
      problems.push(`"${text.slice(0, 40)}" is outside the window`);
    }
  }
  for (const button of document.querySelectorAll('button')) {
    if (!visible(button)) continue;
    const box = button.getBoundingClientRect();
    if (box.height < 64) problems.push(`button #${button.id} is ${box.height}px tall`);
    if (box.bottom > innerHeight + 1 || box.right > innerWidth + 1) problems.push(`button #${button.id} is outside the window`);
  }
  return problems;
}

/** What the page shows about chat, people and the self-view, from the DOM. */
function domFacts() {
  const chat = [...document.querySelectorAll('.chat-line')];
  const big = chat.find((line) => line.querySelector('.chat-text')?.textContent === '3,2 cm');
  const bigBox = big?.getBoundingClientRect();
  const speaking = [...document.querySelectorAll('.person.speaking')].map((li) => ({
    id: li.dataset.id,
    mark: li.querySelector('.tag-speaking')?.textContent ?? null,
    animated: li.querySelector('.bar-2') ? getComputedStyle(li.querySelector('.bar-2')).animationName : 'none',
  }));
  const you = document.querySelector('.person .tag-you')?.closest('.person');
  const img = document.getElementById('self-view-img');
  const state = document.getElementById('state');
  return {
    bigChatPx: big ? parseFloat(getComputedStyle(big.querySelector('.chat-text')).fontSize) : 0,
    bigChatVisible: Boolean(bigBox && bigBox.top >= 0 && bigBox.bottom <= innerHeight && bigBox.height > 0),
    freshChat: chat.filter((line) => line.classList.contains('fresh')).map((line) => line.querySelector('.chat-text').textContent),
    speaking,
    youId: you?.dataset.id ?? null,
    youMark: you?.querySelector('.tag-you')?.textContent ?? null,
    selfViewWidth: img.naturalWidth,
    selfViewShown: !img.hidden && img.getBoundingClientRect().width > 100,
    stateHeadlinePx: parseFloat(getComputedStyle(document.getElementById('state-headline')).fontSize),
    stateBackground: getComputedStyle(state).backgroundColor,
    htmlLang: document.documentElement.lang,
    micPressed: document.getElementById('mic').getAttribute('aria-pressed'),
  };
}

const args = [...CHROMIUM_ARGS];
args.push(...languageArgs(opts.browserLang ?? DEFAULT_LANG));
const browser = await chromium.launch({ executablePath: opts.chromium, args });
const consoleErrors = [];
let failure = null;
let page = null;
try {
  page = await browser.newPage({ viewport: opts.viewport });
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  // Everything the page needs comes from its own server.
  const origin = new URL(opts.url).origin;
  const foreign = [];
  page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) foreign.push(r.url()); });
  await page.goto(opts.url, { waitUntil: 'load' });

  const live = await waitFor(page, 'the live state with people, chat and self-view', screen,
    (s) => s && s.state === 'live' && s.participantNames.length >= 4 && s.chatTexts.includes('3,2 cm') && s.selfViewDecoded >= 2);
  check(live.lang === opts.expectLang, `page language ${live.lang}, expected ${opts.expectLang}`);
  await waitForText(page, words.live);
  const navigatorLanguages = await page.evaluate(() => navigator.languages);

  if (opts.scenario === 'states') {
    await screenshot(page, '');
    const looks = [];
    for (const step of STATE_STEPS) {
      emit({ event: 'next', step: step.name });
      const seen = await waitFor(page, `the ${step.name} state`, () => [window.samsynScreen.state, document.body.innerText],
        ([state, text]) => state === step.state && step.words.every((key) => text.includes(words[key])));
      check(seen[0] === step.state, step.name);
      const problems = await page.evaluate(layoutProblems);
      check(problems.length === 0, `${step.name} is not readable:\n  ${problems.join('\n  ')}`);
      const look = await page.evaluate(() => ({
        background: getComputedStyle(document.getElementById('state')).backgroundColor,
        icon: document.getElementById('state-icon').getAttribute('href'),
        headlinePx: parseFloat(getComputedStyle(document.getElementById('state-headline')).fontSize),
      }));
      check(look.headlinePx >= 40, `${step.name}: the state is ${look.headlinePx}px`);
      looks.push({ name: step.name, state: step.state, ...look });
      await screenshot(page, `-${step.name}`);
    }
    // Each state its own colour and shape (the refusals share theirs).
    const byState = new Map(looks.map((look) => [look.state, look]));
    const backgrounds = new Set([...byState.values()].map((look) => look.background));
    const icons = new Set([...byState.values()].map((look) => look.icon));
    check(icons.size === byState.size, `states share a shape: ${JSON.stringify(looks)}`);
    check(backgrounds.size === byState.size, `states share a colour: ${JSON.stringify(looks)}`);
    check(consoleErrors.length === 0, `console errors: ${consoleErrors.join(' | ')}`);
    const last = await page.evaluate(screen);
    check(last.missingKeys.length === 0, `words missing from the catalogue: ${last.missingKeys}`);
    emit({ ok: true, scenario: opts.scenario, lang: last.lang, navigatorLanguages, looks });
  } else if (opts.scenario === 'contact-loss') {
    await screenshot(page, '');
    emit({ event: 'ready' });
    const lost = await waitFor(page, 'the page to notice it lost the daemon', screen, (s) => !s.daemonContact && s.contactLosses >= 1);
    await waitForText(page, words.lost);
    const stateHidden = await page.evaluate(() => getComputedStyle(document.getElementById('state')).display === 'none');
    check(stateHidden, 'the link state is still shown beside the lost-contact banner');
    const controlsOff = await page.evaluate(() => [...document.querySelectorAll('.controls button')].every((b) => b.disabled));
    check(controlsOff, 'controls stay usable without the daemon');
    await screenshot(page, '-contact-lost');
    check(consoleErrors.every((e) => e.includes('WebSocket')), `console errors: ${consoleErrors.join(' | ')}`);
    emit({ ok: true, scenario: opts.scenario, lang: lost.lang, navigatorLanguages, state: lost.state, daemonContact: lost.daemonContact, contactLosses: lost.contactLosses, foreignRequests: foreign });
  } else {
    // Everything shown at once, readable.
    const text = await page.evaluate(bodyText);
    for (const key of ['live', 'badge', 'selfView', 'reduced', 'observer', 'micOn', 'volume60']) {
      check(text.includes(words[key]), `"${words[key]}" (${key}) is not shown; the page says:\n${text}`);
    }
    check(text.includes('3,2 cm'), 'the chat "3,2 cm" is not shown');
    const facts = await page.evaluate(domFacts);
    check(facts.htmlLang === opts.expectLang, `<html lang="${facts.htmlLang}">`);
    check(facts.bigChatVisible, 'the chat line "3,2 cm" is not inside the window');
    check(facts.bigChatPx >= 36, `the chat text is ${facts.bigChatPx}px: too small to read across the room`);
    check(facts.stateHeadlinePx >= 40, `the state is ${facts.stateHeadlinePx}px`);
    check(facts.speaking.length === 1 && facts.speaking[0].id === 'spec-berg', `speaking: ${JSON.stringify(facts.speaking)}`);
    check(facts.speaking[0].mark === words.speaking, `the speaking mark says ${facts.speaking[0].mark}`);
    check(facts.speaking[0].animated === 'speak', `the speaking mark does not move (${facts.speaking[0].animated})`);
    check(facts.youId === 'cam' && facts.youMark === words.you, `the nurse is marked ${facts.youMark} on ${facts.youId}`);
    check(facts.selfViewShown && facts.selfViewWidth === 320, `self-view: ${JSON.stringify(facts)}`);
    check(JSON.stringify(live.speakingIds) === '["spec-berg"]', `speakingIds ${JSON.stringify(live.speakingIds)}`);
    for (const name of ['Dr. Berg', 'Dr. Lie', words.observer]) {
      check(live.participantNames.includes(name), `participants ${JSON.stringify(live.participantNames)} lack ${name}`);
    }
    check(live.photoSeqSeen === 1 && live.photoFlashes === 0, `an old photo flashed: ${JSON.stringify(live)}`);
    const problems = await page.evaluate(layoutProblems);
    check(problems.length === 0, `not readable at ${opts.viewport.width}x${opts.viewport.height}:\n  ${problems.join('\n  ')}`);

    // Self-view frames keep coming, at most about five a second.
    const framesBefore = live.selfViewFrames;
    await page.waitForTimeout(2000);
    const framesAfter = (await page.evaluate(screen)).selfViewFrames;
    const rate = (framesAfter - framesBefore) / 2;
    check(rate >= 1 && rate <= 6.5, `self-view at ${rate} frames a second`);
    await screenshot(page, '');

    // A photo: the flash, the new chat line, someone else speaking.
    emit({ event: 'ready' });
    const flashed = await waitFor(page, 'the photo flash', screen, (s) => s.photoSeqSeen === 2 && s.photoShowing);
    check(flashed.photoText === words.photo, `the flash says "${flashed.photoText}"`);
    const flashVisible = await page.locator('#photo-flash').isVisible();
    check(flashVisible, 'the photo flash is not visible');
    await waitForText(page, words.photo);
    await screenshot(page, '-photo');
    const after = await waitFor(page, 'the new chat line and the new speaker', screen,
      (s) => s.chatTexts.includes('Litt mer til venstre') && s.speakingIds.join() === 'spec-lie');
    const fresh = await page.evaluate(domFacts);
    check(fresh.freshChat.includes('Litt mer til venstre') && !fresh.freshChat.includes('3,2 cm'), `fresh chat: ${fresh.freshChat}`);
    await waitFor(page, 'the flash to end', screen, (s) => !s.photoShowing);
    check(!(await page.locator('#photo-flash').isVisible()), 'the flash stays up');
    emit({ event: 'photo-seen' });
    await waitFor(page, 'the failed photo notice', screen, (s) => s.photoShowing && s.photoText === words.photoFailed);
    await waitForText(page, words.photoFailed);
    await waitFor(page, 'the failed notice to end', screen, (s) => !s.photoShowing);

    // Mute.
    await page.locator('#mic').click();
    await waitFor(page, 'the microphone muted', screen, (s) => s.microphone?.muted === true);
    await waitForText(page, words.micOff);
    check((await page.evaluate(domFacts)).micPressed === 'true', 'the mute button is not pressed');

    // The check: running, then done.
    await page.locator('#check').click();
    await waitForText(page, words.checking);
    await waitForText(page, words.checkGood);
    await screenshot(page, '-check');
    await page.locator('#check-close').click();
    await waitFor(page, 'the check panel to close', screen, (s) => s.check && !s.check.showing);

    // Louder.
    await page.locator('#louder').click();
    await waitForText(page, words.volume70);

    // End the visit: the question first, "no" keeps it going.
    await page.locator('#end').click();
    await waitFor(page, 'the question', screen, (s) => s.confirmingEnd);
    await waitForText(page, words.confirm);
    const confirmProblems = await page.evaluate(layoutProblems);
    check(confirmProblems.length === 0, `the question is not readable:\n  ${confirmProblems.join('\n  ')}`);
    await screenshot(page, '-confirm');
    await page.locator('#end-no').click();
    await waitFor(page, 'the question to go', screen, (s) => !s.confirmingEnd);
    await page.locator('#end').click();
    await page.locator('#end-yes').click();
    const stopped = await waitFor(page, 'the stopped state', screen, (s) => s.state === 'stopped');
    await waitForText(page, words.stopped);

    check(stopped.missingKeys.length === 0, `words missing from the catalogue: ${stopped.missingKeys}`);
    check(consoleErrors.length === 0, `console errors: ${consoleErrors.join(' | ')}`);
    check(foreign.length === 0, `requests outside the screen: ${foreign.join(', ')}`);
    emit({
      ok: true,
      scenario: opts.scenario,
      lang: stopped.lang,
      navigatorLanguages,
      viewport: opts.viewport,
      statesSeen: ['live', stopped.state],
      participantNames: live.participantNames,
      speakingIdsFirst: live.speakingIds,
      speakingIdsAfter: after.speakingIds,
      chatTexts: after.chatTexts,
      photoSeqSeen: stopped.photoSeqSeen,
      photoFlashes: stopped.photoFlashes,
      selfViewFrames: stopped.selfViewFrames,
      selfViewRate: rate,
      commandsSent: stopped.commandsSent,
      errors: stopped.errors,
    });
  }
} catch (err) {
  failure = err;
} finally {
  if (failure && page) {
    try {
      await screenshot(page, '-failed');
      const shown = await page.evaluate(screen);
      process.stderr.write(`window.samsynScreen: ${JSON.stringify(shown)}\n`);
      process.stderr.write(`page text:\n${await page.evaluate(bodyText)}\n`);
    } catch { /* the page may be gone */ }
  }
  await browser.close();
}
if (failure) {
  process.stderr.write(`nurse-screen: ${failure.message ?? failure}\n`);
  if (consoleErrors.length) process.stderr.write(`console: ${consoleErrors.join('\n  ')}\n`);
  process.exit(1);
}
