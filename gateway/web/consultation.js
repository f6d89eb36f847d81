// samsyn consultation panel: who is in the consultation, the chat, and the
// still photos (specialists ask the camera for one, and see them in a strip).
//
// Served at /r/assets/consultation.js beside viewer.js, which plays the
// video; this file only talks to the room events WebSocket
// (/events/{room}, message set version 1, documented in
// signaling/src/events/mod.rs). viewer.js runs first and keeps the link's
// token in sessionStorage ('samsyn.token.<room>'); this file reads it there.
// The token goes in the first message, never in the URL.
//
// Photos are fetched with the token (fetch + Authorization) and shown from
// blob: URLs; they live in this tab's memory only.
//
// Texts from the page's catalogue (i18n/viewer.js) through i18n/lang.js;
// the gateway's own refusals (in English) are put in the page's words where
// the code is known.
//
// For tests: window.samsynConsultation = { state, you, role, participants,
// chat, photos, errors } and <aside id="consultation" data-state="…">.
'use strict';

(() => {
  const i18n = window.samsynI18n || { t: (key) => key, locale: undefined };
  const t = i18n.t;
  const VERSION = 1;
  const BACKOFF_MAX = 10000;   // 1 s, 2 s, 4 s, 8 s, 10 s, …
  const QUALITY_EVERY = 5000;  // this page's connection figures, to the room
  const MAX_CHAT_CHARS = 500;
  // Refusals of the hello after which a new attempt cannot help.
  const FINAL = ['invalid_token', 'token_expired', 'wrong_room', 'wrong_role',
    'room_ended', 'unknown_room', 'missing_token'];

  const segments = location.pathname.split('/').filter(Boolean);
  const room = decodeURIComponent(segments[segments.length - 1] || '');
  let token = null;
  try { token = sessionStorage.getItem('samsyn.token.' + room); } catch (_) { /* no storage */ }
  if (!room || !token) return;   // viewer.js already says the link is incomplete

  const state = {
    state: 'connecting',
    you: null,
    role: null,
    participants: [],   // as the gateway sends them: id, role, name, sockets, media, quality, speaking
    chat: [],           // { from: {id, role, name}, text, sent_at_ms, seq }
    photos: [],         // { id, width, height, bytes, captured_at_ms, type, naturalWidth, naturalHeight }
    errors: [],         // { error, message } refusals of what this page sent
    lastSeq: null,
  };
  window.samsynConsultation = state;

  // --- the panel ---------------------------------------------------------------
  const el = (tag, props, children) => {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    for (const child of children || []) node.append(child);
    return node;
  };
  const list = el('ul', { id: 'participants', className: 'participants' });
  const log = el('ol', { id: 'chat-log', className: 'chat-log' });
  log.setAttribute('aria-live', 'polite');
  const input = el('input', {
    id: 'chat-input', type: 'text', maxLength: MAX_CHAT_CHARS, autocomplete: 'off',
    placeholder: t('chat.placeholder'),
  });
  input.setAttribute('aria-label', t('chat.label'));
  const send = el('button', { id: 'chat-send', type: 'submit', textContent: t('chat.send') });
  const note = el('p', { id: 'chat-note', className: 'chat-note' });
  const form = el('form', { id: 'chat-form', className: 'chat-form' }, [input, send]);
  const status = el('p', { id: 'consultation-status', className: 'consultation-status', textContent: t('panel.joining') });
  const takePhoto = el('button', { id: 'take-photo', type: 'button', textContent: t('photo.take'), hidden: true });
  const photoNote = el('p', { id: 'photo-note', className: 'chat-note' });
  const strip = el('ul', { id: 'photo-strip', className: 'photo-strip' });
  const photosSection = el('section', { id: 'photos', className: 'photos', hidden: true }, [
    el('h2', { textContent: t('photo.heading') }), takePhoto, photoNote, strip,
  ]);
  const viewerImg = el('img', { id: 'photo-full', alt: t('photo.fullAlt') });
  const download = el('a', { id: 'photo-download', textContent: t('photo.download') });
  const closeView = el('button', { id: 'photo-close', type: 'button', textContent: t('photo.close') });
  const photoView = el('dialog', { id: 'photo-view', className: 'photo-view' }, [
    el('div', { className: 'photo-view-bar' }, [download, closeView]),
    el('div', { className: 'photo-view-image' }, [viewerImg]),
  ]);
  const panel = el('aside', { id: 'consultation', className: 'consultation' }, [
    el('h2', { textContent: t('panel.heading') }), status, list, photosSection,
    el('h2', { textContent: t('chat.heading') }), log, form, note,
  ]);
  panel.setAttribute('aria-label', t('panel.label'));
  document.body.append(panel, photoView);
  document.body.classList.add('with-consultation');

  function setState(next, words) {
    state.state = next;
    panel.dataset.state = next;
    status.textContent = words || '';
    status.hidden = !words;
    const canWrite = next === 'joined' && state.role !== 'observer';
    input.disabled = !canWrite;
    send.disabled = !canWrite;
    // Photos are for specialists: they take them and they see them.
    photosSection.hidden = state.role !== 'specialist';
    takePhoto.hidden = state.role !== 'specialist';
    takePhoto.disabled = next !== 'joined';
  }

  const ROLE_WORDS = { publisher: t('role.publisher'), specialist: t('role.specialist'), observer: t('role.observer') };
  const MEDIA_WORDS = {
    publisher: { none: t('media.camera.none'), connecting: t('media.camera.connecting'), connected: t('media.camera.connected') },
    other: { none: t('media.viewer.none'), connecting: t('media.viewer.connecting'), connected: t('media.viewer.connected') },
  };
  const UNNAMED = { publisher: t('name.publisher'), specialist: t('name.specialist'), observer: t('name.observer') };

  function nameOf(p) {
    if (p.name) return p.name;
    return UNNAMED[p.role] || p.role;
  }

  const LEVEL_WORDS = { good: t('quality.good'), fair: t('quality.fair'), poor: t('quality.poor') };

  function qualityText(q) {
    if (!q) return '';
    const figures = [];
    if (typeof q.rtt_ms === 'number') figures.push(q.rtt_ms + ' ms');
    if (typeof q.loss_percent === 'number') figures.push(t('quality.lost', { percent: q.loss_percent }));
    if (typeof q.fps === 'number') figures.push(q.fps + ' fps');
    return ' \u00b7 ' + (LEVEL_WORDS[q.level] || q.level) + (figures.length ? ' (' + figures.join(', ') + ')' : '');
  }

  function renderParticipants() {
    const order = { publisher: 0, specialist: 1, observer: 2 };
    const sorted = [...state.participants].sort((a, b) =>
      (order[a.role] - order[b.role]) || nameOf(a).localeCompare(nameOf(b)));
    list.replaceChildren(...sorted.map((p) => {
      const media = (MEDIA_WORDS[p.role === 'publisher' ? 'publisher' : 'other'])[p.media] || p.media;
      const item = el('li', { className: 'participant' }, [
        el('span', { className: 'participant-name', textContent: p.id === state.you ? t('participant.you', { name: nameOf(p) }) : nameOf(p) }),
        el('span', { className: 'participant-role', textContent: p.speaking ? t('participant.speaking', { role: ROLE_WORDS[p.role] || p.role }) : ROLE_WORDS[p.role] || p.role }),
        el('span', { className: 'participant-media', textContent: media + qualityText(p.quality) }),
      ]);
      item.dataset.id = p.id;
      item.dataset.quality = p.quality ? p.quality.level : '';
      item.dataset.role = p.role;
      item.dataset.media = p.media;
      item.dataset.speaking = p.speaking ? 'true' : 'false';
      return item;
    }));
  }

  function showChat(message) {
    const time = new Date(message.sent_at_ms).toLocaleTimeString(i18n.locale, { hour: '2-digit', minute: '2-digit' });
    const who = message.from.id === state.you ? t('chat.you') : nameOf(message.from);
    const item = el('li', { className: 'chat-line' }, [
      el('span', { className: 'chat-time', textContent: time }),
      el('span', { className: 'chat-from', textContent: who }),
      el('span', { className: 'chat-text', textContent: message.text }),   // text, never HTML
    ]);
    log.append(item);
    while (log.children.length > 200) log.firstElementChild.remove();
    log.scrollTop = log.scrollHeight;
  }

  // --- photos --------------------------------------------------------------------
  const stamp = (ms) => {
    const d = new Date(ms);
    const two = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}${two(d.getMonth() + 1)}${two(d.getDate())}-${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
  };

  async function receivePhoto(photo) {
    let blob;
    try {
      const response = await fetch(new URL(photo.url, location.href).href, {
        headers: { Authorization: 'Bearer ' + token },
        cache: 'no-store',
      });
      if (!response.ok) throw new Error('HTTP ' + response.status);
      blob = await response.blob();
    } catch (e) {
      photoNote.textContent = t('photo.failed', { why: e.message });
      return;
    }
    const url = URL.createObjectURL(blob);
    const entry = { id: photo.id, width: photo.width, height: photo.height, bytes: photo.bytes,
      captured_at_ms: photo.captured_at_ms, type: blob.type, naturalWidth: 0, naturalHeight: 0 };
    const thumb = el('img', { className: 'photo-thumb', src: url,
      alt: t('photo.alt', { time: new Date(photo.captured_at_ms).toLocaleTimeString(i18n.locale) }) });
    thumb.addEventListener('load', () => {
      entry.naturalWidth = thumb.naturalWidth;
      entry.naturalHeight = thumb.naturalHeight;
    });
    const name = `samsyn-${room}-${stamp(photo.captured_at_ms)}.jpg`;
    const open = el('button', { type: 'button', className: 'photo-open', title: t('photo.show') }, [thumb]);
    open.addEventListener('click', () => {
      viewerImg.src = url;
      download.href = url;
      download.download = name;
      photoView.showModal();
    });
    const item = el('li', { className: 'photo' }, [
      open,
      el('a', { className: 'photo-save', href: url, download: name, textContent: t('photo.download') }),
    ]);
    item.dataset.id = photo.id;
    strip.prepend(item);
    state.photos.push(entry);
    photoNote.textContent = t('photo.received', { size: photo.width + '\u00d7' + photo.height });
  }

  takePhoto.addEventListener('click', () => {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ v: VERSION, type: 'photo_request' }));
    photoNote.textContent = t('photo.asking');
  });
  closeView.addEventListener('click', () => photoView.close());

  // --- the socket ----------------------------------------------------------------
  let socket = null;
  let attempt = 0;
  let finished = false;

  function connect() {
    const url = new URL('/events/' + encodeURIComponent(room), location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = new WebSocket(url.href);
    socket.onopen = () => socket.send(JSON.stringify({ v: VERSION, type: 'hello', token }));
    socket.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (_) { return; }
      if (message.v !== VERSION) return;
      receive(message);
    };
    socket.onclose = () => {
      socket = null;
      if (finished) return;
      attempt += 1;
      const wait = Math.min(1000 * 2 ** (attempt - 1), BACKOFF_MAX);
      setState('reconnecting', t('panel.lost'));
      setTimeout(connect, wait);
    };
  }

  // The gateway's refusal in the page's words where the code is known,
  // otherwise its own (English) words.
  function refusal(message) {
    const table = {
      invalid_token: t('msg.badLink'),
      wrong_room: t('msg.badLink'),
      wrong_role: t('refusal.wrongRole'),
      missing_token: t('msg.badLink'),
      token_expired: t('msg.expired'),
      room_ended: t('panel.ended'),
      unknown_room: t('msg.unknownRoom'),
      replaced: t('refusal.replaced'),
      chat_too_long: t('refusal.chatTooLong'),
      empty_chat: t('refusal.emptyChat'),
      bad_chat_text: t('refusal.badChatText'),
      rate_limited: t('refusal.tooFast'),
    };
    return Object.prototype.hasOwnProperty.call(table, message.error) ? table[message.error] : message.message;
  }

  function receive(message) {
    if (typeof message.seq === 'number') state.lastSeq = message.seq;
    switch (message.type) {
      case 'welcome':
        attempt = 0;
        state.you = message.you;
        state.participants = message.participants;
        state.role = (message.participants.find((p) => p.id === message.you) || {}).role || null;
        note.textContent = state.role === 'observer' ? t('chat.observer') : '';
        renderParticipants();
        setState('joined', '');
        break;
      case 'participant': {
        const i = state.participants.findIndex((p) => p.id === message.participant.id);
        if (i >= 0) state.participants[i] = message.participant;
        else state.participants.push(message.participant);
        renderParticipants();
        break;
      }
      case 'left':
        state.participants = state.participants.filter((p) => p.id !== message.id);
        renderParticipants();
        break;
      case 'speaking': {
        const who = state.participants.find((p) => p.id === message.id);
        if (who) {
          who.speaking = message.speaking;
          renderParticipants();
        }
        break;
      }
      case 'chat':
        state.chat.push({ from: message.from, text: message.text, sent_at_ms: message.sent_at_ms, seq: message.seq });
        showChat(message);
        break;
      case 'photo_requested':
        if (message.by.id !== state.you) photoNote.textContent = t('photo.requested', { name: nameOf(message.by) });
        break;
      case 'photo_ready':
        receivePhoto(message.photo);
        break;
      case 'room_ended':
        finished = true;
        setState('ended', t('panel.ended'));
        break;
      case 'error':
        state.errors.push({ error: message.error, message: message.message });
        if (state.state !== 'joined' && FINAL.includes(message.error)) {
          finished = true;
          setState('error', refusal(message));
        } else if (message.error === 'replaced') {
          // Newer tabs with this link hold its sockets: joining again
          // would only push one of them out. A reload takes the place back.
          finished = true;
          setState('error', refusal(message));
        } else {
          note.textContent = refusal(message);
        }
        break;
      default:
        break;   // a newer gateway's message this page does not know
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ v: VERSION, type: 'chat', text }));
    input.value = '';
    note.textContent = '';
  });

  // This page's own figures (viewer.js measures them), for everyone's list.
  setInterval(() => {
    const viewer = window.samsyn;
    if (!viewer || viewer.state !== 'live' || !socket || socket.readyState !== WebSocket.OPEN) return;
    const s = viewer.stats || {};
    const report = { v: VERSION, type: 'quality' };
    const put = (key, value, max) => {
      if (typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= max) report[key] = value;
    };
    put('rtt_ms', s.rttMs, 60000);
    put('loss_percent', s.lossPercent, 100);
    put('fps', s.fps, 1000);
    put('bitrate_kbps', s.bitrateKbps, 10000000);
    socket.send(JSON.stringify(report));
  }, QUALITY_EVERY);

  window.addEventListener('pagehide', () => {
    finished = true;
    if (socket) socket.close(1000, 'page closed');
  });

  setState('connecting', t('panel.joining'));
  connect();
})();
