// samsyn pages in the reader's language: picks the language and fills in
// the page's strings.
//
// Each page has one catalogue, loaded just before this file (i18n/viewer.js
// for the specialist's page, i18n/nurse.js for the nurse's), that sets
// window.samsynStrings = { nb: {…}, nn: {…}, en: {…} }, each language
// with the same stable keys.
//
// The language: `?lang=` in the page's URL wins, otherwise the first of the
// browser's languages (navigator.languages) that has a catalogue, otherwise
// Bokmål. `no` counts as Bokmål; a region does not matter (nb-NO is nb,
// en-US is en). <html lang> is set to it.
//
// In the HTML: data-i18n="key" sets the element's text (the HTML holds the
// Bokmål text, for the moment before this file runs);
// data-i18n-title, data-i18n-aria-label, data-i18n-placeholder and
// data-i18n-alt set those attributes.
// In the scripts: window.samsynI18n.t('key') or t('key', { name: value }) for
// a text with {name} in it; say('key') gives { key, text } for a message
// whose key the page also shows to tests. Keys are written out in full, as
// the first argument of t( or say(, at every use, so
// gateway/tests/page_strings.rs can find them all.
//
// A key missing in the chosen language falls back to Bokmål, then to the key
// itself; page_strings.rs keeps every language complete, so neither happens.
//
// For tests: window.samsynI18n = { lang, languages, locale, t, say, pick }.
'use strict';

(() => {
  const strings = window.samsynStrings || { nb: {} };
  const FALLBACK = 'nb';
  const ALIASES = { no: 'nb', nob: 'nb', nno: 'nn', eng: 'en' };
  // For numbers, dates and times.
  const LOCALES = { nb: 'nb-NO', nn: 'nn-NO', en: 'en-GB' };
  const has = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

  // The catalogue's language for a language tag, or null.
  function normalise(tag) {
    const primary = String(tag || '').trim().toLowerCase().split(/[-_]/)[0];
    const code = has(ALIASES, primary) ? ALIASES[primary] : primary;
    return code && has(strings, code) ? code : null;
  }

  // `search`: the URL's query (?lang=…); `preferred`: the browser's languages.
  function pick(search, preferred) {
    let asked = null;
    try { asked = new URLSearchParams(search || '').get('lang'); } catch (_) { /* no query */ }
    if (asked && normalise(asked)) return normalise(asked);
    for (const tag of preferred || []) {
      if (normalise(tag)) return normalise(tag);
    }
    return FALLBACK;
  }

  const preferred = navigator.languages && navigator.languages.length
    ? navigator.languages : [navigator.language];
  const lang = pick(location.search, preferred);
  const own = strings[lang] || {};
  const fallback = strings[FALLBACK] || {};

  function t(key, params) {
    let text = has(own, key) ? own[key] : has(fallback, key) ? fallback[key] : null;
    if (typeof text !== 'string') {
      console.warn('[samsyn] no text for ' + key);
      text = key;
    }
    if (!params) return text;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (has(params, name) ? String(params[name]) : whole));
  }

  // A message: its text, and its key for tests.
  function say(key, params) {
    return { key, text: t(key, params) };
  }

  const ATTRIBUTES = ['title', 'aria-label', 'placeholder', 'alt'];

  // Fills in every marked element under `root`.
  function apply(root) {
    for (const node of root.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
    for (const attribute of ATTRIBUTES) {
      for (const node of root.querySelectorAll('[data-i18n-' + attribute + ']')) {
        node.setAttribute(attribute, t(node.getAttribute('data-i18n-' + attribute)));
      }
    }
  }

  document.documentElement.lang = lang;
  window.samsynI18n = {
    lang,
    languages: Object.keys(strings),
    locale: LOCALES[lang] || LOCALES[FALLBACK],
    t,
    say,
    pick,
    apply,
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => apply(document));
  else apply(document);
})();
