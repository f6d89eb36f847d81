// samsyn nurse's page: what a browser shows for the nurse's link,
// https://<gateway>/n/{room}#token=<publisher token>[&pin=<sha256>].
//
// A laptop with samsyn hands that link to `samsyn-capture join` and never
// shows this page. A browser that did not (samsyn missing, or the link
// opened in a browser by hand) shows it: what to do, in plain words, and a
// big button with the same link under the scheme samsyn:
//   samsyn://<host[:port]>/<base path>/n/{room}#token=…[&pin=…]
// which the operating system hands to samsyn (the daemon maps it back to
// https). A link whose fragment is missing or broken says so instead.
//
// The token and the pin are read here, in the browser, from the fragment,
// which browsers never send. This page sends them nowhere: it makes no
// request of its own, writes them to no log, and hides the fragment from
// the address bar (kept in this tab's sessionStorage, so a reload works).
//
// Texts from the page's catalogue (i18n/nurse.js) through i18n/lang.js.
//
// For tests: window.samsynNurse = { state, why, room, hasPin, lang } and
// <body data-state="ready|broken">; the button is #open-app.
'use strict';

(() => {
  const i18n = window.samsynI18n || { t: (key) => key };
  const t = i18n.t;
  const $ = (id) => document.getElementById(id);

  const segments = location.pathname.split('/').filter(Boolean);
  let room = segments[segments.length - 1] || '';
  try { room = decodeURIComponent(room); } catch (_) { /* as it is */ }
  const storageKey = 'samsyn.nurse.' + room;

  // token and pin from `#token=…&pin=…`; other parameters are passed over.
  function parse(hash) {
    const found = {};
    for (const part of String(hash || '').replace(/^#/, '').split('&')) {
      const eq = part.indexOf('=');
      if (eq <= 0) continue;
      const name = part.slice(0, eq);
      if (name !== 'token' && name !== 'pin') continue;
      let value = part.slice(eq + 1);
      try { value = decodeURIComponent(value); } catch (_) { /* as it is */ }
      found[name] = value;
    }
    return found;
  }

  function fromLink() {
    let fragment = location.hash;
    if (fragment) {
      // Keep the token off the screen (shoulder-surfing, screen sharing).
      try { history.replaceState(history.state, '', location.pathname + location.search); } catch (_) { /* ignore */ }
      try { sessionStorage.setItem(storageKey, fragment); } catch (_) { /* memory only */ }
    } else {
      try { fragment = sessionStorage.getItem(storageKey) || ''; } catch (_) { /* no storage */ }
    }
    return parse(fragment);
  }

  // A token is a JWT (RFC 7519): three base64url parts. A link cut short
  // in a message usually loses one of them.
  const TOKEN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

  // The certificate's SHA-256 as lowercase hex without colons (the form of
  // the link; colons and capitals are taken too), or null if it is no such thing.
  function normalisePin(pin) {
    const hex = String(pin).replace(/:/g, '').toLowerCase();
    return /^[0-9a-f]{64}$/.test(hex) ? hex : null;
  }

  const { token, pin } = fromLink();
  const state = { state: 'broken', why: null, room, hasPin: false, lang: i18n.lang || null };
  window.samsynNurse = state;

  let why = null;
  if (!token) why = 'no_token';
  else if (!TOKEN.test(token)) why = 'bad_token';
  else if (pin !== undefined && !normalisePin(pin)) why = 'bad_pin';

  if (why) {
    state.why = why;
    $('broken').hidden = false;
  } else {
    const cleanPin = pin !== undefined ? normalisePin(pin) : null;
    state.state = 'ready';
    state.hasPin = Boolean(cleanPin);
    // The nurse's link with the scheme samsyn: same host, port, base path
    // and room; the fragment rebuilt from what was checked above.
    const appLink = 'samsyn://' + location.host + location.pathname +
      '#token=' + encodeURIComponent(token) + (cleanPin ? '&pin=' + cleanPin : '');
    $('open-app').href = appLink;
    $('room-line').textContent = t('ready.room', { room });
    $('ready').hidden = false;
  }
  document.body.dataset.state = state.state;
})();
