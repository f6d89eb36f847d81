#!/usr/bin/env node
// Opens the specialist's viewer page in headless Chromium and checks that the
// live video really plays (or, with --expect-error, that the page shows the
// expected error). Prints one JSON line on stdout; diagnostics go to stderr.
//
//   node viewer-plays.mjs --url 'http://10.213.0.1:8080/r/ab12#token=…' \
//     --width 1280 --height 720 --screenshot out.png [--timeout-ms 20000] [--min-frames 30]
//   node viewer-plays.mjs --url '…' --expect-error token_expired --screenshot out.png
//   node viewer-plays.mjs --url '…' --recover
//     (prints "live" once the video plays, then waits for the page to lose
//     the stream and to play again by itself; the JSON line says how)
//   node viewer-plays.mjs --url '…' --ice-restart
//     (prints "live" once the video plays, "restarting" when the page begins
//     an ICE restart, then waits until the restart connected and the video
//     plays again; the JSON line says whether the WHEP session stayed)
//
// Exit status: 0 success, 1 failure (message on stderr), 2 bad usage.

import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { VIDEO_PAGE_ARGS as CHROMIUM_ARGS, DEFAULT_LANG, languageArgs } from './chromium.mjs';

const USAGE = `usage: node viewer-plays.mjs --url <viewer link incl. #token=…>
         [--width <px> --height <px>]     expected video size (checked when given)
         [--screenshot <path.png>]        saved on success and on failure
         [--timeout-ms 20000] [--min-frames 30]
         [--expect-error <text>]          succeed only if the page shows this error
         [--expect-latency]               also wait until the page shows the camera delay
         [--recover]                      once live, print "live", then wait until the page
                                          loses the stream and plays again by itself
         [--ice-restart]                  once live, print "live"; print "restarting" when the
                                          page restarts ICE; then wait until it plays again
         [--options-link <value>]         answer the page's OPTIONS to its WHEP URL with
                                          204 and this Link header (relays to announce);
                                          the page must show none of its credentials
         [--viewport 1280x720]            browser window size
         [--lang en-US]                   the browser's language (navigator.languages); the
                                          page's texts follow it (default en-US)
         [--trust-spki <base64 sha256>]   trust a server key that no CA signed (a
                                          gateway's self-signed certificate)
         [--chromium /usr/bin/chromium]   browser binary (or $SAMSYN_CHROMIUM)`;

const POLL_MS = 100;
const STILL_PLAYING_MS = 1000; // frames must also have grown within this window

function usage(msg) {
  if (msg) process.stderr.write(`viewer-plays: ${msg}\n`);
  process.stderr.write(USAGE + '\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    url: null,
    width: null,
    height: null,
    screenshot: null,
    timeoutMs: 20000,
    minFrames: 30,
    expectError: null,
    expectLatency: false,
    recover: false,
    iceRestart: false,
    viewport: { width: 1280, height: 720 },
    chromium: process.env.SAMSYN_CHROMIUM || '/usr/bin/chromium',
    trustSpki: null,
    optionsLink: null,
    lang: DEFAULT_LANG,
  };
  const ints = { '--width': 'width', '--height': 'height', '--timeout-ms': 'timeoutMs', '--min-frames': 'minFrames' };
  for (let i = 0; i < argv.length; i++) {
    let flag = argv[i];
    let value;
    const eq = flag.indexOf('=');
    if (flag.startsWith('--') && eq > 0) {
      value = flag.slice(eq + 1);
      flag = flag.slice(0, eq);
    }
    if (flag === '-h' || flag === '--help') usage();
    const next = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag in ints) {
      const n = Number(next());
      if (!Number.isInteger(n) || n < 0) usage(`${flag} must be a whole number`);
      o[ints[flag]] = n;
    } else if (flag === '--url') o.url = next();
    else if (flag === '--screenshot') o.screenshot = next();
    else if (flag === '--expect-error') o.expectError = next();
    else if (flag === '--expect-latency') o.expectLatency = true;
    else if (flag === '--recover') o.recover = true;
    else if (flag === '--ice-restart') o.iceRestart = true;
    else if (flag === '--chromium') o.chromium = next();
    else if (flag === '--trust-spki') o.trustSpki = next();
    else if (flag === '--options-link') o.optionsLink = next();
    else if (flag === '--lang') o.lang = next();
    else if (flag === '--viewport') {
      const m = /^(\d+)x(\d+)$/.exec(next());
      if (!m) usage('--viewport must look like 1280x720');
      o.viewport = { width: Number(m[1]), height: Number(m[2]) };
    } else usage(`unknown argument ${argv[i]}`);
  }
  if (!o.url) usage('--url is required');
  try { new URL(o.url); } catch (_) { usage(`--url is not a URL: ${o.url}`); }
  if ((o.width === null) !== (o.height === null)) usage('give both --width and --height, or neither');
  if (o.minFrames < 1) usage('--min-frames must be at least 1');
  if (o.recover && o.iceRestart) usage('give --recover or --ice-restart, not both');
  return o;
}

// The URL carries a secret; never print the fragment.
function redact(url) {
  try {
    const u = new URL(url);
    return u.hash ? `${u.origin}${u.pathname}${u.search}#…` : url;
  } catch (_) {
    return '(invalid url)';
  }
}

// Error texts (Playwright's included) may quote the URL: hide the token there too.
let secretToken = null;
function scrub(text) {
  let t = String(text).replace(/\x1b\[[0-9;]*m/g, '');
  if (secretToken) t = t.split(secretToken).join('…');
  return t.replace(/#token=[^\s"'&]*/g, '#token=…');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Everything the checks need, read from the page in one go.
function snapshotInPage() {
  const s = window.samsyn || null;
  const v = document.querySelector('video');
  const text = (id) => (document.getElementById(id) || {}).textContent || '';
  return {
    hasSamsyn: !!s,
    state: s ? s.state : null,
    bodyState: document.body ? document.body.dataset.state || null : null,
    framesRendered: s ? s.framesRendered : 0,
    msToFirstFrame: s ? s.msToFirstFrame : null,
    attempt: s ? s.attempt : null,
    error: s ? s.error : null,
    stats: s ? s.stats : null,
    latency: s ? s.latency : null,
    latencyText: text('stat-latency').trim(),
    videoWidth: v ? v.videoWidth : 0,
    videoHeight: v ? v.videoHeight : 0,
    paused: v ? v.paused : null,
    badge: text('badge').trim(),
    message: text('message').trim(),
    messageKey: s ? s.messageKey || null : null,
    lang: s ? s.lang || null : null,
    detail: text('detail').trim(),
    title: document.title,
    roomShown: !!document.getElementById('room-info') && !document.getElementById('room-info').hidden,
    roomLabel: text('room-label').trim(),
    gatewayName: text('gateway-name').trim(),
    path: s ? s.path : null,
    pathText: text('stat-path').trim(),
    iceServers: s ? s.iceServers : null,
    iceRestarts: s ? s.iceRestarts : null,
    iceRestartsConnected: s ? s.iceRestartsConnected : null,
    sessionsStarted: s ? s.sessionsStarted : null,
    sessionUrl: s ? s.sessionUrl : null,
    trickled: s ? s.trickled : null,
    timings: s ? s.timings : null,
    iceCandidateErrors: s ? s.iceCandidateErrors : null,
  };
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const m = /(?:^#|&)token=([^&]+)/.exec(new URL(opt.url).hash);
  if (m) secretToken = m[1].length >= 3 ? m[1] : null;
  const consoleLines = [];
  const log = (line) => {
    consoleLines.push(line);
    if (consoleLines.length > 400) consoleLines.shift();
  };

  // Hard stop in case the browser itself hangs.
  const watchdog = setTimeout(() => {
    process.stderr.write('viewer-plays: FAIL: hard timeout, the browser did not respond\n');
    process.exit(1);
  }, opt.timeoutMs + 30000);
  watchdog.unref();

  let browser;
  let page;
  const started = Date.now();
  let snap = null;

  const fail = async (reason) => {
    if (page && !snap) snap = await page.evaluate(snapshotInPage).catch(() => null);
    if (page && opt.screenshot) await page.screenshot({ path: opt.screenshot }).catch(() => {});
    const lines = [`viewer-plays: FAIL: ${reason}`, `  url: ${redact(opt.url)}`];
    if (snap) {
      lines.push(`  state badge: ${JSON.stringify(snap.badge)} (state=${snap.state}, body data-state=${snap.bodyState})`);
      if (snap.message) lines.push(`  page message: ${JSON.stringify(snap.message)}`);
      if (snap.detail) lines.push(`  page detail: ${JSON.stringify(snap.detail)}`);
      lines.push(`  framesRendered=${snap.framesRendered} video=${snap.videoWidth}x${snap.videoHeight} paused=${snap.paused}`);
      lines.push(`  stats: ${JSON.stringify(snap.stats)}`);
      lines.push(`  path=${snap.path} sessionsStarted=${snap.sessionsStarted} iceRestarts=${snap.iceRestarts} ` +
        `(connected ${snap.iceRestartsConnected}) trickled=${snap.trickled} timings=${JSON.stringify(snap.timings)}`);
    } else {
      lines.push('  (no state could be read from the page)');
    }
    if (opt.screenshot && page) lines.push(`  screenshot: ${opt.screenshot}`);
    lines.push(`  page console (${consoleLines.length} lines):`);
    for (const l of consoleLines) lines.push(`    ${l}`);
    if (browser) await browser.close().catch(() => {});
    process.stderr.write(scrub(lines.join('\n')) + '\n', () => process.exit(1));
  };

  const succeed = async (result) => {
    await browser.close().catch(() => {});
    process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
  };

  try {
    browser = await chromium.launch({
      executablePath: opt.chromium,
      headless: true,
      // A self-signed gateway is trusted by its key, the way a person who
      // checked the fingerprint would accept it; nothing else is let through.
      args: [
        ...CHROMIUM_ARGS,
        ...languageArgs(opt.lang),
        ...(opt.trustSpki ? [`--ignore-certificate-errors-spki-list=${opt.trustSpki}`] : []),
      ],
      timeout: 30000,
    });
  } catch (e) {
    return fail(`could not start Chromium at ${opt.chromium}: ${e.message}`);
  }

  // Certificates are checked as in any browser: an HTTPS gateway is trusted
  // through its CA, or by its key with --trust-spki, never by ignoring errors.
  const context = await browser.newContext({ viewport: opt.viewport });
  page = await context.newPage();
  page.on('console', (m) => log(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log(`[pageerror] ${e.message}`));
  page.on('requestfailed', (r) => {
    const f = r.failure();
    log(`[requestfailed] ${r.method()} ${redact(r.url())} ${f ? f.errorText : ''}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) log(`[http ${r.status()}] ${r.request().method()} ${redact(r.url())}`);
  });
  page.on('crash', () => log('[crash] the page crashed'));

  // $SAMSYN_VIEWER_JS: serve this file as the page's viewer.js, to compare
  // another version of the page (time to first frame, say) without
  // rebuilding the gateway.
  if (process.env.SAMSYN_VIEWER_JS) {
    const script = readFileSync(process.env.SAMSYN_VIEWER_JS);
    await page.route((url) => url.pathname === '/r/assets/viewer.js', (route) =>
      route.fulfill({ status: 200, contentType: 'text/javascript; charset=utf-8', body: script }));
    log(`[driver] viewer.js from ${process.env.SAMSYN_VIEWER_JS}`);
  }
  let optionsAnswered = 0;
  if (opt.optionsLink !== null) {
    await page.route((url) => /^\/whep\/[^/]+$/.test(url.pathname), (route) => {
      if (route.request().method() !== 'OPTIONS') return route.continue();
      optionsAnswered++;
      return route.fulfill({ status: 204, headers: { Link: opt.optionsLink, 'Cache-Control': 'no-store' } });
    });
  }
  // What must never reach the console or the page: the relay credentials.
  const secrets = [];
  for (const m of String(opt.optionsLink || '').matchAll(/(?:username|credential)\s*=\s*"((?:[^"\\]|\\.)*)"/g)) {
    secrets.push(m[1].replace(/\\(.)/g, '$1'));
  }
  const secretsShown = async () => {
    if (!secrets.length) return [];
    const html = await page.evaluate(() => document.documentElement.outerHTML + JSON.stringify(window.samsyn || {}))
      .catch(() => '');
    return [...new Set(secrets)].filter((x) => x && (html.includes(x) || consoleLines.some((l) => l.includes(x))));
  };

  try {
    const res = await page.goto(opt.url, { waitUntil: 'domcontentloaded', timeout: opt.timeoutMs });
    if (res && !res.ok()) return fail(`the page itself answered HTTP ${res.status()}`);
  } catch (e) {
    return fail(`could not open the page: ${e.message}`);
  }

  const deadline = started + opt.timeoutMs;
  const samples = []; // { t, frames }
  let firstFrameSeenAt = null; // driver clock, fallback for msToFirstFrame
  // --recover: first → live → lost → back (live again) → recovered.
  const recovery = { phase: 'first', states: [], maxAttempt: 0, lostAt: null, liveAgainAt: null };
  // --ice-restart: first → live → restarting → restarted (connected again) → done.
  const restart = { phase: 'first', states: [] };
  const navigatedAt = Date.now();

  while (Date.now() < deadline) {
    try {
      snap = await page.evaluate(snapshotInPage);
    } catch (e) {
      log(`[driver] evaluate failed: ${e.message}`);
      await sleep(POLL_MS);
      continue;
    }
    const now = Date.now();

    if (opt.expectError !== null) {
      if (snap.framesRendered > 0) return fail(`expected an error containing ${JSON.stringify(opt.expectError)}, but the video plays`);
      const err = snap.error || {};
      const haystack = [snap.badge, snap.message, snap.detail, err.code, err.message].filter(Boolean).join('\n');
      if (snap.state === 'error' && snap.bodyState === 'error' &&
          haystack.toLowerCase().includes(opt.expectError.toLowerCase())) {
        if (opt.screenshot) await page.screenshot({ path: opt.screenshot });
        return succeed({
          ok: true,
          expectError: opt.expectError,
          state: snap.state,
          badge: snap.badge,
          message: snap.message,
          messageKey: snap.messageKey,
          lang: snap.lang,
          detail: snap.detail,
          error: snap.error,
          framesRendered: snap.framesRendered,
          msElapsed: now - navigatedAt,
          roomShown: snap.roomShown,
        });
      }
    } else {
      if (snap.framesRendered > 0 && firstFrameSeenAt === null) firstFrameSeenAt = now;
      samples.push({ t: now, frames: snap.framesRendered });
      while (samples.length > 2 && samples[1].t <= now - STILL_PLAYING_MS) samples.shift();
      const growing = samples.length > 1 && snap.framesRendered > samples[0].frames;
      const sizeOk = opt.width === null || (snap.videoWidth === opt.width && snap.videoHeight === opt.height);
      const latencyOk = !opt.expectLatency || (snap.latency && typeof snap.latency.ms === 'number');
      const playing = snap.hasSamsyn && snap.state === 'live' && snap.framesRendered >= opt.minFrames && growing && sizeOk && latencyOk;
      if (opt.iceRestart && restart.phase !== 'done') {
        if (restart.phase === 'first' && playing) {
          restart.phase = 'live';
          restart.framesBefore = snap.framesRendered;
          restart.restartsBefore = snap.iceRestarts;
          restart.connectedBefore = snap.iceRestartsConnected;
          restart.sessionsStartedBefore = snap.sessionsStarted;
          restart.sessionUrlBefore = snap.sessionUrl;
          restart.pathBefore = snap.path;
          process.stdout.write('live\n');
        } else if (restart.phase !== 'first') {
          if (!restart.states.includes(snap.state)) restart.states.push(snap.state);
          if (restart.phase === 'live' && snap.iceRestarts > restart.restartsBefore) {
            restart.phase = 'restarting';
            restart.restartAt = now;
            process.stdout.write('restarting\n');
          }
          if (restart.phase === 'restarting' && snap.iceRestartsConnected > restart.connectedBefore) {
            restart.phase = 'restarted';
            restart.connectedAt = now;
            restart.framesAtConnect = snap.framesRendered;
          }
          if (restart.phase === 'restarted' && restart.liveAgainAt === undefined && snap.state === 'live' &&
              snap.framesRendered > restart.framesAtConnect) {
            restart.liveAgainAt = now;
          }
          if (restart.phase === 'restarted' && playing && snap.framesRendered >= restart.framesAtConnect + opt.minFrames) {
            restart.phase = 'done';
          }
        }
        if (restart.phase !== 'done') {
          await sleep(POLL_MS);
          continue;
        }
      }
      if (opt.recover && recovery.phase !== 'recovered') {
        // live → (the test breaks the stream) → not live → live again.
        if (recovery.phase === 'first' && playing) {
          recovery.phase = 'live';
          recovery.framesBefore = snap.framesRendered;
          process.stdout.write('live\n');
        } else if (recovery.phase === 'live' && snap.state !== 'live') {
          recovery.phase = 'lost';
          recovery.lostAt = now;
        } else if (recovery.phase === 'lost' || recovery.phase === 'back') {
          if (!recovery.states.includes(snap.state)) recovery.states.push(snap.state);
          recovery.maxAttempt = Math.max(recovery.maxAttempt, snap.attempt || 0);
          if (recovery.phase === 'lost' && snap.state === 'live') {
            recovery.phase = 'back';
            recovery.liveAgainAt = now;
            recovery.framesAtReturn = snap.framesRendered;
          } else if (recovery.phase === 'back' && snap.state !== 'live') {
            recovery.phase = 'lost';
          } else if (recovery.phase === 'back' && playing && snap.framesRendered >= recovery.framesAtReturn + opt.minFrames) {
            recovery.phase = 'recovered';
          }
        }
        if (recovery.phase !== 'recovered') {
          await sleep(POLL_MS);
          continue;
        }
      }
      if (playing) {
        if (opt.screenshot) await page.screenshot({ path: opt.screenshot });
        // Stats are refreshed once a second; take the freshest.
        const fresh = await page.evaluate(snapshotInPage).catch(() => snap);
        return succeed({
          ok: true,
          framesRendered: fresh.framesRendered,
          videoWidth: fresh.videoWidth,
          videoHeight: fresh.videoHeight,
          msToFirstFrame: fresh.msToFirstFrame ?? (firstFrameSeenAt !== null ? firstFrameSeenAt - navigatedAt : null),
          state: fresh.state,
          stats: fresh.stats,
          latency: fresh.latency,
          latencyText: fresh.latencyText,
          title: fresh.title,
          roomShown: fresh.roomShown,
          roomLabel: fresh.roomLabel,
          gatewayName: fresh.gatewayName,
          path: fresh.path,
          pathText: fresh.pathText,
          iceServers: fresh.iceServers,
          iceRestarts: fresh.iceRestarts,
          iceRestartsConnected: fresh.iceRestartsConnected,
          sessionsStarted: fresh.sessionsStarted,
          sessionUrl: fresh.sessionUrl,
          trickled: fresh.trickled,
          timings: fresh.timings,
          iceCandidateErrors: fresh.iceCandidateErrors,
          optionsAnswered: opt.optionsLink !== null ? optionsAnswered : null,
          secretsShown: await secretsShown(),
          iceRestart: opt.iceRestart
            ? {
              restartAt: restart.restartAt,
              connectedAt: restart.connectedAt,
              liveAgainAt: restart.liveAgainAt ?? null,
              msRestartToConnected: restart.connectedAt - restart.restartAt,
              statesSeen: restart.states,
              framesBefore: restart.framesBefore,
              sessionsStartedBefore: restart.sessionsStartedBefore,
              sessionUrlBefore: restart.sessionUrlBefore,
              pathBefore: restart.pathBefore,
              console: consoleLines.slice(-30).map(scrub),
            }
            : null,
          recovery: opt.recover
            ? {
              msLostToLive: recovery.liveAgainAt - recovery.lostAt,
              lostAt: recovery.lostAt,
              liveAgainAt: recovery.liveAgainAt,
              statesSeen: recovery.states,
              maxAttempt: recovery.maxAttempt,
              framesBefore: recovery.framesBefore,
              console: consoleLines.slice(-30).map(scrub),
            }
            : null,
        });
      }
    }
    await sleep(POLL_MS);
  }

  if (!snap || !snap.hasSamsyn) return fail('the page never set window.samsyn (viewer.js did not run?)');
  if (opt.expectError !== null) {
    return fail(`timed out after ${opt.timeoutMs} ms waiting for an error containing ${JSON.stringify(opt.expectError)}`);
  }
  const why = [];
  if (opt.recover) why.push(`recovery phase ${recovery.phase} (states seen after the loss: ${recovery.states.join(', ') || 'none'})`);
  if (opt.iceRestart) {
    why.push(`ICE restart phase ${restart.phase} (states seen: ${restart.states.join(', ') || 'none'}; ` +
      `restarts ${snap.iceRestarts}, connected ${snap.iceRestartsConnected}, sessions ${snap.sessionsStarted})`);
  }
  if (snap.framesRendered === 0) why.push('no video frame was ever rendered');
  else if (snap.framesRendered < opt.minFrames) why.push(`only ${snap.framesRendered} of ${opt.minFrames} frames rendered`);
  else why.push(`${snap.framesRendered} frames rendered`);
  if (snap.state !== 'live') why.push(`state is ${snap.state}, not live`);
  if (opt.width !== null && (snap.videoWidth !== opt.width || snap.videoHeight !== opt.height)) {
    why.push(`video is ${snap.videoWidth}x${snap.videoHeight}, expected ${opt.width}x${opt.height}`);
  }
  if (opt.expectLatency && !(snap.latency && typeof snap.latency.ms === 'number')) {
    why.push(`the camera delay is not shown (${JSON.stringify(snap.latency)})`);
  }
  if (snap.framesRendered > 0 && samples.length > 1 && snap.framesRendered <= samples[0].frames) {
    why.push(`no new frame in the last ${STILL_PLAYING_MS} ms (video frozen)`);
  }
  return fail(`timed out after ${opt.timeoutMs} ms: ${why.join('; ')}`);
}

main().catch((e) => {
  process.stderr.write(scrub(`viewer-plays: FAIL: ${e && e.stack ? e.stack : e}`) + '\n');
  process.exit(1);
});
