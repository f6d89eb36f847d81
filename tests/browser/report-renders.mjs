#!/usr/bin/env node
// Opens a samsyn-bench HTML report (a file) in headless Chromium, with every
// network request refused, and checks that it renders its plots: each
// <figure class="chart"> holds an SVG of real size with its lines (two or
// more points) or histogram bars. Prints one JSON line on stdout.
//
//   node report-renders.mjs --file /tmp/connect.html [--min-charts 3] [--screenshot out.png]
//
// Exit status: 0 success, 1 failure (why on stderr), 2 bad usage.

import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS } from './chromium.mjs';
import { pathToFileURL } from 'node:url';

const USAGE = `usage: node report-renders.mjs --file <report.html> [--min-charts N] [--screenshot <path.png>]
         [--chromium /usr/bin/chromium]   browser binary (or $SAMSYN_CHROMIUM)`;

function usage(msg) {
  if (msg) process.stderr.write(`report-renders: ${msg}\n`);
  process.stderr.write(USAGE + '\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    file: null,
    minCharts: 1,
    screenshot: null,
    chromium: process.env.SAMSYN_CHROMIUM || '/usr/bin/chromium',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) usage(`${flag} needs a value`);
    i++;
    switch (flag) {
      case '--file': o.file = value; break;
      case '--min-charts': o.minCharts = Number.parseInt(value, 10); break;
      case '--screenshot': o.screenshot = value; break;
      case '--chromium': o.chromium = value; break;
      default: usage(`unknown flag ${flag}`);
    }
  }
  if (!o.file) usage('--file is required');
  if (!Number.isInteger(o.minCharts) || o.minCharts < 0) usage('--min-charts takes a whole number');
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const browser = await chromium.launch({ executablePath: opts.chromium, args: CHROMIUM_ARGS });
let failure = null;
let result = null;
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 1200 } });
  const requests = [];
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  // The report must need nothing from anywhere: refuse and count every request
  // that is not the file itself.
  const fileUrl = pathToFileURL(opts.file).href;
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url === fileUrl) return route.continue();
    requests.push(url);
    return route.abort();
  });
  await page.goto(fileUrl, { waitUntil: 'load' });
  const charts = await page.$$eval('figure.chart', (figures) => figures.map((f) => {
    const svg = f.querySelector('svg');
    const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
    const lines = [...f.querySelectorAll('polyline.series')].map((p) => ({
      name: p.dataset.name,
      points: (p.getAttribute('points') || '').trim().split(/\s+/).filter(Boolean).length,
      length: typeof p.getTotalLength === 'function' ? p.getTotalLength() : 0,
    }));
    return {
      title: f.querySelector('figcaption')?.textContent ?? '',
      kind: f.dataset.kind,
      width: Math.round(box.width),
      height: Math.round(box.height),
      lines,
      bars: f.querySelectorAll('rect.bar').length,
    };
  }));
  const verdict = await page.$eval('section.verdict', (s) => s.dataset.level).catch(() => null);
  if (opts.screenshot) await page.screenshot({ path: opts.screenshot, fullPage: true });
  result = { ok: true, charts, verdict, requests: requests.length, consoleErrors };

  const problems = [];
  if (charts.length < opts.minCharts) problems.push(`${charts.length} charts, expected at least ${opts.minCharts}`);
  for (const c of charts) {
    if (c.width < 200 || c.height < 60) problems.push(`"${c.title}" has no visible plot (${c.width}x${c.height})`);
    if (c.kind === 'lines' && !c.lines.some((l) => l.points >= 2 && l.length > 0)) {
      problems.push(`"${c.title}" draws no line`);
    }
    if (c.kind === 'histogram' && c.bars === 0) problems.push(`"${c.title}" draws no bars`);
  }
  if (requests.length) problems.push(`the page asked for ${requests.length} external resources: ${requests.join(', ')}`);
  if (consoleErrors.length) problems.push(`console errors: ${consoleErrors.join('; ')}`);
  if (problems.length) failure = problems.join('\n');
} catch (err) {
  failure = String(err && err.stack || err);
} finally {
  await browser.close();
}
if (failure) {
  process.stderr.write(`report-renders: ${failure}\n`);
  if (result) process.stderr.write(JSON.stringify(result) + '\n');
  process.exit(1);
}
process.stdout.write(JSON.stringify(result) + '\n');
