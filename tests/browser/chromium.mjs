// How every browser test starts the system Chromium: headless, without the
// sandbox (tests run as root), and with nothing that reaches the network by
// itself.
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
