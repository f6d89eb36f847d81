// How every browser test starts the system Chromium: headless, without the
// sandbox (tests run as root), and with nothing that reaches the network by
// itself.

import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

// Pages with live video: it plays without a click.
export const VIDEO_PAGE_ARGS = [...CHROMIUM_ARGS, '--autoplay-policy=no-user-gesture-required'];

// The language the pages see (navigator.languages), as a person's browser
// setting would give it. Headless Chromium on Linux ignores --lang (it reads
// the environment), so --accept-lang sets it; Chromium may add en-US after
// it. The drivers default to English, so what they check does not depend on
// the machine's locale; tests of the pages' languages pass --lang.
export const DEFAULT_LANG = 'en-US';
export function languageArgs(tag) {
  return [`--lang=${tag}`, `--accept-lang=${tag}`];
}

// A voice stand-in for the fake microphone: 10 s of a two-tone sound in
// 250 ms syllables with short gaps, at about -12 dBFS, as 48 kHz mono WAV.
// Syllables, not a steady tone: the browser's noise suppression learns a
// steady tone as background noise and takes it away.
export function voiceWav() {
  const rate = 48000;
  const samples = rate * 10;
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) {
    const t = i / rate;
    const voiced = (t % 0.33) < 0.25;
    const v = voiced ? 0.25 * (Math.sin(2 * Math.PI * 220 * t) + Math.sin(2 * Math.PI * 330 * t)) : 0;
    data.writeInt16LE(Math.round(v * 32767), i * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0); header.writeUInt32LE(36 + data.length, 4); header.write('WAVE', 8);
  header.write('fmt ', 12); header.writeUInt32LE(16, 16); header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22); header.writeUInt32LE(rate, 24); header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32); header.writeUInt16LE(16, 34);
  header.write('data', 36); header.writeUInt32LE(data.length, 40);
  const path = join(tmpdir(), `samsyn-voice-${process.pid}.wav`);
  writeFileSync(path, Buffer.concat([header, data]));
  return path;
}
