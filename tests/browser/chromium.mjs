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
