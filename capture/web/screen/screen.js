// The nurse screen: shows what the samsyn daemon on this laptop knows and
// sends her few commands back. The daemon owns every state; this page only
// words it (strings.js) and draws it.
//
// The WebSocket at ./ws sends {"type":"view","view":{…}} after every
// change, the self-view as binary JPEG frames, and {"type":"error",…} for a
// command it did not take. The page sends commands as JSON text frames.
//
// window.samsynScreen holds what is shown, for tests to read.

import { STRINGS } from './strings.js';

/** Marks a catalogue key that is looked up later (the tests find them). */
const KEY = (key) => key;

/** How long a photo notice covers the screen. */
const PHOTO_FLASH_MS = 2200;
/** How long a new chat message stays highlighted. */
const CHAT_FRESH_MS = 6000;
/** After this long without a self-view frame the picture is marked old. */
const SELF_VIEW_STALE_MS = 5000;
/** How long the question "end the visit?" waits for an answer. */
const CONFIRM_TIMEOUT_MS = 20000;
/** Waits between attempts to reach the daemon again. */
const RECONNECT_DELAYS_MS = [300, 700, 1500, 3000];

const STATE_WORDS = {
  connecting: [KEY('state.connecting'), KEY('state.connecting_detail')],
  live: [KEY('state.live'), null],
  reconnecting: [KEY('state.reconnecting'), KEY('state.reconnecting_detail')],
  ended: [KEY('state.ended'), KEY('state.ended_detail')],
  stopped: [KEY('state.stopped'), KEY('state.stopped_detail')],
};
const REFUSAL_WORDS = {
  token_expired: [KEY('refused.token_expired'), KEY('refused.token_expired_detail')],
  room_ended: [KEY('refused.room_ended'), KEY('refused.room_ended_detail')],
};
const REFUSAL_OTHER = [KEY('refused.other'), KEY('refused.other_detail')];
const ROLE_WORDS = {
  publisher: KEY('role.publisher'),
  specialist: KEY('role.specialist'),
  observer: KEY('role.observer'),
};
const ROLE_OTHER = KEY('role.other');
const PHOTO_BY_ROLE = {
  specialist: KEY('photo.by_specialist'),
  observer: KEY('photo.by_observer'),
};
const PHOTO_BY_OTHER = KEY('photo.by_other');
const QUALITY_WORDS = {
  good: [KEY('quality.good'), '#icon-good'],
  reduced: [KEY('quality.reduced'), '#icon-weak'],
  poor: [KEY('quality.poor'), '#icon-weak'],
};
const CHECK_STEPS = {
  camera: KEY('check.step.camera'),
  microphone: KEY('check.step.microphone'),
  sound: KEY('check.step.sound'),
  line: KEY('check.step.line'),
};
const CHECK_STEP_OTHER = KEY('check.step.other');
const CHECK_VERDICTS = {
  good: KEY('check.verdict.good'),
  marginal: KEY('check.verdict.marginal'),
  unusable: KEY('check.verdict.unusable'),
  not_run: KEY('check.verdict.not_run'),
};
const CHECK_VERDICT_OTHER = KEY('check.verdict.other');

// ---------------------------------------------------------------- words

/** The catalogue language: ?lang=, else the browser's first with one, else nb. */
function chooseLanguage() {
  const asked = new URLSearchParams(location.search).get('lang');
  const candidates = [asked, ...(navigator.languages || []), navigator.language];
  for (const tag of candidates) {
    const lang = catalogueFor(tag);
    if (lang) return lang;
  }
  return 'nb';
}

function catalogueFor(tag) {
  if (!tag) return null;
  const base = String(tag).toLowerCase().split(/[-_]/)[0];
  const lang = base === 'no' ? 'nb' : base;
  return Object.hasOwn(STRINGS, lang) ? lang : null;
}

const lang = chooseLanguage();
const missingKeys = new Set();

/** The words for `key` in the page's language, with `{name}` filled in. */
function t(key, values = {}) {
  let text = STRINGS[lang][key];
  if (text === undefined) {
    missingKeys.add(key);
    text = STRINGS.nb[key] ?? key;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

function applyWords() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
  for (const el of document.querySelectorAll('[data-i18n-alt]')) el.setAttribute('alt', t(el.dataset.i18nAlt));
}

// ---------------------------------------------------------------- what is shown

const $ = (id) => document.getElementById(id);

const shown = {
  lang,
  state: 'opening',
  stateText: '',
  daemonContact: false,
  contactLosses: 0,
  views: 0,
  participants: [],
  participantNames: [],
  speakingIds: [],
  chatTexts: [],
  freshChatSeqs: [],
  photoSeqSeen: null,
  photoFlashes: 0,
  photoText: null,
  photoShowing: false,
  selfViewFrames: 0,
  selfViewDecoded: 0,
  selfViewWidth: 0,
  quality: 'unknown',
  camera: 'starting',
  microphone: null,
  talkback: null,
  check: null,
  confirmingEnd: false,
  commandsSent: [],
  errors: [],
  missingKeys: [],
};
window.samsynScreen = shown;

let view = null;

function render() {
  renderState();
  renderPeople();
  renderChat();
  renderQuality();
  renderCamera();
  renderControls();
  renderCheck();
  shown.missingKeys = [...missingKeys];
}

function renderState() {
  const link = view?.link ?? { state: 'opening' };
  const state = link.state;
  let words;
  let detail = null;
  let forIt = null;
  if (state === 'opening') {
    words = t('contact.opening');
  } else if (state === 'refused') {
    const [headline, advice] = REFUSAL_WORDS[link.problem] ?? REFUSAL_OTHER;
    words = t(headline);
    detail = t(advice);
    if (link.message) forIt = t('refused.for_it', { message: link.message });
  } else {
    const [headline, advice] = STATE_WORDS[state] ?? STATE_WORDS.connecting;
    words = t(headline, { attempt: link.attempt ?? 1 });
    if (advice) detail = t(advice);
    else if (view?.room_label) detail = t('state.room', { label: view.room_label });
  }
  const known = state in STATE_WORDS || state === 'refused' || state === 'opening';
  const key = known ? state : 'connecting';
  document.body.dataset.state = key;
  $('state-icon').setAttribute('href', `#icon-${key}`);
  $('state-headline').textContent = words;
  setText($('state-detail'), detail);
  setText($('state-it'), forIt);
  $('live-badge').hidden = key !== 'live';
  shown.state = key;
  shown.stateIcon = key;
  shown.stateText = words;
}

function personWords(person) {
  return person.name || t(ROLE_WORDS[person.role] ?? ROLE_OTHER);
}

function renderPeople() {
  // In the daemon's order.
  const people = view?.participants ?? [];
  const list = $('people');
  list.replaceChildren(...people.map(personItem));
  $('people-none').hidden = people.some((p) => !p.you) || view === null;
  shown.participants = people.map((p) => ({ id: p.id, shown: personWords(p), speaking: p.speaking, you: p.you, connected: p.connected }));
  shown.participantNames = people.map(personWords);
  shown.speakingIds = people.filter((p) => p.speaking).map((p) => p.id);
}

function personItem(person) {
  const item = document.createElement('li');
  item.className = 'person';
  item.dataset.id = person.id;
  item.classList.toggle('speaking', person.speaking);
  item.classList.toggle('absent', !person.connected);
  item.append(person.speaking ? speakingIcon() : icon('#icon-person', 'person-icon'));
  item.append(span('person-name', personWords(person)));
  if (person.name) item.append(span('person-role', t(ROLE_WORDS[person.role] ?? ROLE_OTHER)));
  if (person.you) item.append(span('tag tag-you', t('people.you')));
  if (person.speaking) item.append(span('tag tag-speaking', t('people.speaking')));
  if (!person.connected) item.append(span('person-role', t('people.not_connected')));
  return item;
}

const freshChat = new Map();
let lastChatSeq = null;

function renderChat() {
  const lines = view?.chat ?? [];
  const newest = lines.reduce((most, line) => Math.max(most, line.seq), -1);
  if (lastChatSeq !== null) {
    for (const line of lines) {
      if (line.seq > lastChatSeq && !freshChat.has(line.seq)) {
        freshChat.set(line.seq, setTimeout(() => {
          freshChat.delete(line.seq);
          renderChat();
        }, CHAT_FRESH_MS));
      }
    }
  }
  if (view !== null) lastChatSeq = Math.max(lastChatSeq ?? -1, newest);
  $('chat').replaceChildren(...lines.map(chatItem));
  $('chat-empty').hidden = lines.length > 0;
  hideCutChat();
  shown.chatTexts = lines.map((line) => line.text);
  shown.freshChatSeqs = lines.filter((line) => freshChat.has(line.seq)).map((line) => line.seq);
}

/** Hides old lines that only partly fit above the newest: half a line
 * is harder to read than none. */
function hideCutChat() {
  const list = $('chat');
  const top = list.getBoundingClientRect().top;
  for (const item of list.children) {
    item.classList.remove('cut');
    if (item.getBoundingClientRect().top < top - 1) item.classList.add('cut');
  }
}

function chatItem(line) {
  const item = document.createElement('li');
  item.className = 'chat-line';
  item.dataset.seq = String(line.seq);
  item.classList.toggle('fresh', freshChat.has(line.seq));
  const from = line.role === 'publisher' ? t('chat.you') : line.from || t(ROLE_WORDS[line.role] ?? ROLE_OTHER);
  const head = document.createElement('p');
  head.append(span('chat-from', from), span('tag chat-new', t('chat.new')));
  const text = document.createElement('p');
  text.className = 'chat-text';
  text.textContent = line.text;
  item.append(head, text);
  return item;
}

function renderQuality() {
  const quality = view?.quality ?? 'unknown';
  const words = QUALITY_WORDS[quality];
  const element = $('quality');
  // Quality only means something while the picture goes out.
  element.hidden = !words || view?.link?.state !== 'live';
  element.dataset.quality = quality;
  if (words) {
    $('quality-text').textContent = t(words[0]);
    $('quality-icon').setAttribute('href', words[1]);
  }
  shown.quality = element.hidden ? 'hidden' : quality;
}

function renderCamera() {
  const camera = view?.camera ?? 'starting';
  // The specialists see a slate meanwhile; she needs to know why.
  $('camera-lost').hidden = camera !== 'lost';
  shown.camera = camera;
}

function renderControls() {
  const microphone = view?.microphone ?? null;
  const mic = $('mic');
  mic.hidden = microphone === null;
  if (microphone) {
    mic.setAttribute('aria-pressed', String(microphone.muted));
    mic.setAttribute('aria-label', t(microphone.muted ? KEY('mic.unmute') : KEY('mic.mute')));
    $('mic-text').textContent = t(microphone.muted ? KEY('mic.off') : KEY('mic.on'));
    $('mic-icon').setAttribute('href', microphone.muted ? '#icon-mic-off' : '#icon-mic');
  }
  const talkback = view?.talkback ?? null;
  $('talkback').hidden = talkback === null;
  if (talkback) $('volume').textContent = t('talkback.volume', { percent: talkback.volume_percent });
  $('check').disabled = view?.check?.state === 'running';
  shown.microphone = microphone;
  shown.talkback = talkback;
}

// ---------------------------------------------------------------- the check

let checkSeen = null;
let checkDismissed = true;

function renderCheck() {
  const check = view?.check ?? null;
  const signature = JSON.stringify(check);
  if (signature !== checkSeen) {
    // A check that starts or ends while the page is open is shown; an old
    // result found on opening the page is not.
    if (check && (checkSeen !== null || check.state === 'running')) checkDismissed = false;
    checkSeen = signature;
  }
  const panel = $('check-panel');
  panel.hidden = !check || checkDismissed;
  shown.check = check ? { ...check, showing: !panel.hidden } : null;
  if (!check) return;
  if (check.state === 'running') {
    panel.dataset.verdict = 'running';
    $('check-status').textContent = t(CHECK_STEPS[check.step] ?? CHECK_STEP_OTHER);
    setText($('check-headline'), null);
    $('check-advice').replaceChildren();
  } else {
    panel.dataset.verdict = check.verdict;
    $('check-status').textContent = t(CHECK_VERDICTS[check.verdict] ?? CHECK_VERDICT_OTHER);
    setText($('check-headline'), check.headline || null);
    $('check-advice').replaceChildren(...(check.advice ?? []).map((advice) => {
      const item = document.createElement('li');
      item.textContent = advice;
      return item;
    }));
  }
}

// ---------------------------------------------------------------- the photo

let photoOutcome = null;
let photoTimer = null;

function notePhoto(previousViews) {
  const photo = view?.photo ?? null;
  if (!photo) return;
  const first = previousViews === 0;
  const changed = photo.seq !== shown.photoSeqSeen;
  const failedNow = photo.outcome === 'failed' && photoOutcome !== 'failed';
  shown.photoSeqSeen = photo.seq;
  photoOutcome = photo.outcome;
  // A photo from before the page opened is old news.
  if (first) return;
  if (changed || failedNow) flashPhoto(photo);
  else if (shown.photoShowing) $('photo-text').textContent = photoWords(photo);
}

function photoWords(photo) {
  if (photo.outcome === 'failed') return t('photo.failed');
  const who = photo.by || t(PHOTO_BY_ROLE[photo.by_role] ?? PHOTO_BY_OTHER);
  return t('photo.taken', { who });
}

function flashPhoto(photo) {
  const failed = photo.outcome === 'failed';
  const flash = $('photo-flash');
  flash.classList.toggle('failed', failed);
  // Restart the flash animation for back-to-back photos.
  flash.hidden = true;
  void flash.offsetWidth;
  flash.hidden = false;
  $('photo-icon').setAttribute('href', failed ? '#icon-camera-off' : '#icon-camera');
  $('photo-text').textContent = photoWords(photo);
  setText($('photo-detail'), failed ? t('photo.failed_detail') : null);
  shown.photoFlashes += 1;
  shown.photoText = photoWords(photo);
  shown.photoShowing = true;
  clearTimeout(photoTimer);
  photoTimer = setTimeout(() => {
    flash.hidden = true;
    shown.photoShowing = false;
  }, PHOTO_FLASH_MS);
}

// ---------------------------------------------------------------- self-view

let frameUrl = null;
let lastFrameAt = 0;

function showFrame(data) {
  shown.selfViewFrames += 1;
  lastFrameAt = performance.now();
  const img = $('self-view-img');
  const previous = frameUrl;
  frameUrl = URL.createObjectURL(new Blob([data], { type: 'image/jpeg' }));
  img.src = frameUrl;
  // The previous frame stays drawn until the new one decodes; its URL is
  // no longer needed.
  if (previous) URL.revokeObjectURL(previous);
  $('self-view-stale').hidden = true;
}

function watchSelfView() {
  const img = $('self-view-img');
  img.addEventListener('load', () => {
    shown.selfViewDecoded += 1;
    shown.selfViewWidth = img.naturalWidth;
    img.hidden = false;
    $('self-view-waiting').hidden = true;
  });
  setInterval(() => {
    const stale = shown.selfViewFrames > 0 && shown.daemonContact && performance.now() - lastFrameAt > SELF_VIEW_STALE_MS;
    $('self-view-stale').hidden = !stale;
  }, 1000);
}

// ---------------------------------------------------------------- the daemon

let socket = null;
let attempts = 0;
let everTried = false;

function connect() {
  const url = new URL('ws', location.href);
  url.protocol = 'ws:';
  url.search = '';
  url.hash = '';
  const ws = new WebSocket(url);
  ws.binaryType = 'blob';
  ws.addEventListener('open', () => {
    socket = ws;
    attempts = 0;
    setContact(true);
  });
  ws.addEventListener('message', (event) => {
    if (typeof event.data === 'string') receive(event.data);
    else showFrame(event.data);
  });
  ws.addEventListener('close', () => {
    if (socket === ws) socket = null;
    everTried = true;
    setContact(false);
    const delay = RECONNECT_DELAYS_MS[Math.min(attempts, RECONNECT_DELAYS_MS.length - 1)];
    attempts += 1;
    setTimeout(connect, delay);
  });
}

function receive(text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    return;
  }
  if (message.type === 'view') {
    const previousViews = shown.views;
    view = message.view;
    shown.views += 1;
    render();
    notePhoto(previousViews);
  } else if (message.type === 'error') {
    shown.errors.push(message.error);
    console.warn(`samsyn screen: ${message.error}: ${message.message}`);
  }
}

function setContact(connected) {
  const state = view?.link?.state;
  // Once the visit is over the daemon goes away: that is no lost contact.
  const over = state === 'stopped' || state === 'ended';
  const lost = !connected && !over && everTried;
  if (!connected && shown.daemonContact) shown.contactLosses += 1;
  shown.daemonContact = connected;
  document.body.dataset.contact = lost ? 'lost' : connected ? 'ok' : 'opening';
  $('contact-lost').hidden = !lost;
  for (const button of document.querySelectorAll('.controls button')) button.disabled = !connected;
  if (connected) renderControls();
}

function send(command) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return false;
  socket.send(JSON.stringify(command));
  shown.commandsSent.push(command.type);
  return true;
}

// ---------------------------------------------------------------- controls

let confirmTimer = null;

function askToEnd(asking) {
  $('confirm-end').hidden = !asking;
  shown.confirmingEnd = asking;
  clearTimeout(confirmTimer);
  if (asking) {
    confirmTimer = setTimeout(() => askToEnd(false), CONFIRM_TIMEOUT_MS);
    $('end-no').focus();
  }
}

function wireControls() {
  $('mic').addEventListener('click', () => {
    if (view?.microphone) send({ type: 'microphone', muted: !view.microphone.muted });
  });
  $('louder').addEventListener('click', () => send({ type: 'louder' }));
  $('softer').addEventListener('click', () => send({ type: 'softer' }));
  $('check').addEventListener('click', () => {
    if (send({ type: 'check' })) checkDismissed = false;
  });
  $('check-close').addEventListener('click', () => {
    checkDismissed = true;
    renderCheck();
  });
  $('end').addEventListener('click', () => askToEnd(true));
  $('end-no').addEventListener('click', () => askToEnd(false));
  $('end-yes').addEventListener('click', () => {
    askToEnd(false);
    send({ type: 'end_visit' });
  });
}

// ---------------------------------------------------------------- helpers

function setText(element, text) {
  element.hidden = !text;
  element.textContent = text ?? '';
}

function span(className, text) {
  const element = document.createElement('span');
  element.className = className;
  element.textContent = text;
  return element;
}

const SVG = 'http://www.w3.org/2000/svg';

function icon(href, className) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', className);
  svg.setAttribute('aria-hidden', 'true');
  const use = document.createElementNS(SVG, 'use');
  use.setAttribute('href', href);
  svg.append(use);
  return svg;
}

/** Three sound bars drawn in the page itself, so they can move. */
function speakingIcon() {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'person-icon');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  for (const [index, x, y, height] of [[1, 2.5, 8, 8], [2, 10, 3, 18], [3, 17.5, 6, 12]]) {
    const bar = document.createElementNS(SVG, 'rect');
    bar.setAttribute('class', `bar bar-${index}`);
    for (const [name, value] of Object.entries({ x, y, width: 4, height, rx: 1.5, fill: 'currentColor' })) {
      bar.setAttribute(name, String(value));
    }
    svg.append(bar);
  }
  return svg;
}

applyWords();
wireControls();
watchSelfView();
addEventListener('resize', hideCutChat);
render();
setContact(false);
connect();
