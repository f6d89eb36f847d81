// samsyn viewer: plays a room's live camera over WHEP (RFC 9725 shape).
//
// Served by the gateway at /r/assets/viewer.js for the page at /r/{room}.
// The viewer token comes in the URL fragment (#token=…), which browsers never
// send to the server; it is read once, removed from the address bar, and kept
// in this tab only (memory, plus sessionStorage so a reload keeps working).
//
// Connecting (RFC 9725): OPTIONS to the WHEP URL for the relays the gateway
// announces (Link: rel="ice-server", fresh credentials for every session),
// then the offer is POSTed at once and candidates follow by PATCH (trickle
// ICE, RFC 8840 fragments). When the network drops, ICE is restarted on the
// same session (PATCH with new credentials); only when that fails does the
// page start a new session.
//
// Every text it shows comes from the page's catalogue (i18n/viewer.js)
// through i18n/lang.js: t() for a text, say() for a message of the page
// (its text, and its key for tests in samsyn.messageKey).
//
// For tests: window.samsyn = { state, stats, framesRendered, path,
// iceRestarts, sessionsStarted, messageKey, … } and
// <body data-state="connecting|live|reconnecting|waiting|error">.
'use strict';

(() => {
  const i18n = window.samsynI18n || { t: (key) => key, say: (key) => ({ key, text: key }), locale: 'nb-NO' };
  const t = i18n.t;
  const say = i18n.say;
  const $ = (id) => document.getElementById(id);
  const video = $('video');
  const stage = $('stage');
  const badge = $('badge');
  const corner = $('corner');
  const messageEl = $('message');
  const detailEl = $('detail');
  const retryBtn = $('retry');
  const unmuteBtn = $('unmute');
  const fullscreenBtn = $('fullscreen');
  const statEls = {
    res: $('stat-res'),
    fps: $('stat-fps'),
    bitrate: $('stat-bitrate'),
    rtt: $('stat-rtt'),
    lost: $('stat-lost'),
    path: $('stat-path'),
  };

  // --- timings (ms) ---------------------------------------------------------
  const OPTIONS_TIMEOUT = 3000;     // relays unknown by then: go on without them
  const POST_TIMEOUT = 10000;       // give up on a WHEP POST after this
  const PATCH_TIMEOUT = 5000;       // give up on one trickle or restart PATCH after this
  const WAITING_RETRY = 2000;       // poll while the camera is not connected
  const DISCONNECTED_GRACE = 2000;  // ICE 'disconnected' longer than this: restart ICE
  const SILENCE_LIMIT = 3000;       // not one packet this long (Chromium says 'disconnected'
                                    // only after several s more): restart ICE
  const RESTART_LIMIT = 6000;       // an ICE restart not connected by then: new session
  const STALL_LIMIT = 4000;         // no new frames this long while connected: reconnect
  const FIRST_FRAME_LIMIT = 10000;  // session up but no frame this long: reconnect
  const BACKOFF_MAX = 10000;        // 1 s, 2 s, 4 s, 8 s, 10 s, 10 s, …
  const STABLE_AFTER = 10000;       // live this long: reset the attempt counter

  const MSG = {
    connecting: say('msg.connecting'),
    waiting: say('msg.waiting'),
    badLink: say('msg.badLink'),
    expired: say('msg.expired'),
    ended: say('msg.ended'),
    unknownRoom: say('msg.unknownRoom'),
    noToken: say('msg.noToken'),
    noWebrtc: say('msg.noWebrtc'),
    full: say('msg.full'),
    codec: say('msg.codec'),
    lost: say('msg.lost'),
    iceRestart: say('msg.iceRestart'),
  };

  // --- room and token -------------------------------------------------------
  const segments = location.pathname.split('/').filter(Boolean);
  const room = decodeURIComponent(segments[segments.length - 1] || '');
  const whepUrl = new URL('/whep/' + encodeURIComponent(room), location.href).href;
  const storageKey = 'samsyn.token.' + room;

  function readToken() {
    let token = null;
    const hash = location.hash.replace(/^#/, '');
    for (const part of hash.split('&')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq) === 'token') {
        try { token = decodeURIComponent(part.slice(eq + 1)); } catch (_) { token = part.slice(eq + 1); }
      }
    }
    if (location.hash) {
      // Keep the token off the screen (shoulder-surfing, screen sharing).
      try { history.replaceState(history.state, '', location.pathname + location.search); } catch (_) { /* ignore */ }
    }
    try {
      if (token) sessionStorage.setItem(storageKey, token);
      else token = sessionStorage.getItem(storageKey);
    } catch (_) { /* storage disabled: memory only */ }
    return token || null;
  }
  const token = readToken();

  // --- what tests (and curious IT staff) can read ------------------------------
  const samsyn = {
    state: 'connecting',
    stats: {},
    framesRendered: 0,
    msToFirstFrame: null,   // performance.now() at the first rendered frame
    attempt: 0,             // current reconnect attempt, 0 when stable
    error: null,            // { status, code, message } of the last HTTP error
    room,
    roomInfo: null,         // GET /api/rooms/{room}: label, gateway, role, expires_at
    sessionUrl: null,       // WHEP session (Location) of the current session
    sessionsStarted: 0,     // WHEP sessions the gateway created for this page (201s)
    iceRestarts: 0,         // ICE restarts begun on a running session
    iceRestartsConnected: 0,// … and those that connected again
    iceServers: [],         // URLs of the relays the gateway announced (never credentials)
    iceCandidateErrors: [], // { url, errorCode } of relays (or STUN servers) that failed, last 10
    trickled: 0,            // local candidates sent by PATCH
    path: null,             // 'udp' | 'tcp' | 'relay': the media path in use
    pathDetail: null,       // { local, remote, protocol, relayProtocol } candidate types
    timings: null,          // ms since navigation: options, posted, answered, connected
    messageKey: null,       // the catalogue key of the message shown (null: none, or the server's words)
    lang: i18n.lang || null,// the page's language: nb, nn or en
  };
  window.samsyn = samsyn;

  // --- state display -----------------------------------------------------------
  // `message`: one of the page's messages (from say()), or words the server sent.
  function setState(state, message, detail) {
    const label = {
      connecting: t('state.connecting'),
      live: t('state.live'),
      reconnecting: samsyn.attempt > 0 ? t('state.reconnectingAttempt', { n: samsyn.attempt }) : t('state.reconnecting'),
      waiting: t('state.waiting'),
      error: t('state.error'),
    }[state];
    const text = message && typeof message === 'object' ? message.text : message || '';
    const key = message && typeof message === 'object' ? message.key : null;
    const changed = samsyn.state !== state || badge.textContent !== label;
    samsyn.state = state;
    samsyn.messageKey = key;
    document.body.dataset.state = state;
    badge.textContent = label;
    corner.textContent = label;
    messageEl.textContent = text;
    messageEl.dataset.key = key || '';
    detailEl.textContent = detail || '';
    retryBtn.hidden = state !== 'error';
    if (changed) console.info('[samsyn] ' + state + (key ? ': ' + key : '') + (detail ? ' (' + detail + ')' : ''));
  }

  // --- one WHEP session at a time -------------------------------------------------
  let gen = 0;            // bumped on every connect/teardown; stale callbacks compare
  let cur = null;         // { gen, pc, stream, location, establishedAt, lastProgress, … }
  let retryTimer = null;
  let stopped = false;    // page is going away
  let liveSince = 0;

  function clearRetry() {
    if (retryTimer !== null) { clearTimeout(retryTimer); retryTimer = null; }
  }

  function deleteSession(url) {
    fetch(url, {
      method: 'DELETE',
      headers: { Authorization: 'Bearer ' + token },
      keepalive: true,
      cache: 'no-store',
    }).catch(() => { /* best effort */ });
  }

  function teardown() {
    gen++;
    const s = cur;
    cur = null;
    samsyn.sessionUrl = null;
    if (!s) return;
    clearTimeout(s.disconnectTimer);
    if (s.restart) clearTimeout(s.restart.timer);
    if (s.abort) s.abort.abort();
    try { if (s.pc) s.pc.close(); } catch (_) { /* ignore */ }
    if (s.location) deleteSession(s.location);
    samsyn.stats = {};
    samsyn.path = null;
    samsyn.pathDetail = null;
    renderStats();
    showLatency(null, 'not connected', t('latency.why.notConnected'));
    if (window.samsynTalkback) window.samsynTalkback.reset();
  }

  function retryIn(ms) {
    clearRetry();
    if (stopped) return;
    retryTimer = setTimeout(() => { retryTimer = null; connect(); }, ms);
  }

  function backoff() {
    return Math.min(1000 * 2 ** Math.max(0, samsyn.attempt - 1), BACKOFF_MAX);
  }

  // Connection lost, stalled, or the server had trouble: new session with
  // backoff. `soon`: the gateway answered but has forgotten the session (it
  // restarted), so the first new attempt need not wait.
  function reconnect(why, message, soon) {
    if (stopped) return;
    console.warn('[samsyn] reconnecting: ' + why);
    teardown();
    samsyn.attempt++;
    liveSince = 0;
    setState('reconnecting', message || MSG.lost);
    retryIn(soon && samsyn.attempt <= 1 ? 0 : backoff());
  }

  async function readError(res) {
    let text = '';
    try { text = await res.text(); } catch (_) { /* ignore */ }
    try {
      const j = JSON.parse(text);
      return { code: String(j.error || ''), message: String(j.message || '') };
    } catch (_) {
      return { code: '', message: text.slice(0, 200) };
    }
  }

  // The detail line under a message: the code and status, for IT; the
  // gateway's own words (English) only on an English page.
  function describe(status, code, message) {
    const words = i18n.lang === 'en' ? message : '';
    return [code ? t('detail.code', { code }) : '', 'HTTP ' + status, words].filter(Boolean).join(' \u2014 ');
  }

  // A link that cannot work (expired, ended, wrong): the words for it, or null.
  function linkMessage(status, code) {
    if (code === 'token_expired') return MSG.expired;
    if (code === 'room_ended' || status === 410) return MSG.ended;
    if (code === 'unknown_room') return MSG.unknownRoom;
    if (status === 401 || status === 403) return MSG.badLink;
    return null;
  }

  async function handleHttpError(res, my) {
    const { code, message } = await readError(res);
    if (my !== gen) return;
    const status = res.status;
    samsyn.error = { status, code, message };
    const detail = describe(status, code, message);
    console.warn('[samsyn] WHEP POST refused: ' + detail);
    teardown();

    const linkProblem = linkMessage(status, code);
    if (linkProblem) {
      setState('error', linkProblem, detail);
      retryBtn.hidden = true;                          // retrying will not help
      return;
    }
    if (/no_publisher|not_live|no_camera|not_publishing/i.test(code) || (status === 409 && !code)) {
      samsyn.attempt = 0;
      setState('waiting', MSG.waiting, detail);
      retryIn(WAITING_RETRY);
      return;
    }
    samsyn.attempt++;
    if (/too_many|full|capacity/i.test(code)) {
      setState('error', MSG.full, detail);
      retryIn(BACKOFF_MAX);
      return;
    }
    if (status === 422 || /codec/i.test(code)) {
      setState('error', MSG.codec, detail);
      retryIn(BACKOFF_MAX);
      return;
    }
    if (status === 429 || status >= 500) {
      const after = Number(res.headers.get('Retry-After'));
      setState('reconnecting', say('msg.busy'), detail);
      retryIn(after > 0 ? Math.min(after * 1000, 30000) : backoff());
      return;
    }
    // Other 4xx: the server did not accept what we sent. Say so (its own
    // words, in English, go in the detail line), keep trying slowly.
    setState('error', say('msg.refused'), detail);
    retryIn(backoff());
  }

  // --- relays the gateway announces (RFC 9725 §4.6) -------------------------------
  // Link: <turn:gw.example:443?transport=tcp>; rel="ice-server";
  //   username="…"; credential="…"; credential-type="password"
  // fetch() joins several Link headers with ", ", so this is a small RFC 8288
  // parser: commas inside <…> and inside quoted strings do not split.
  function parseLinks(header) {
    const links = [];
    const text = String(header || '');
    const n = text.length;
    let i = 0;
    const skipSpace = () => { while (i < n && (text[i] === ' ' || text[i] === '\t')) i++; };
    const quoted = () => {             // at the opening quote
      let value = '';
      for (i++; i < n && text[i] !== '"'; i++) {
        if (text[i] === '\\' && i + 1 < n) i++;
        value += text[i];
      }
      i++;                             // the closing quote
      return value;
    };
    const skipToComma = () => {        // past junk, honouring quotes
      while (i < n && text[i] !== ',') {
        if (text[i] === '"') quoted(); else i++;
      }
    };
    while (i < n) {
      skipSpace();
      if (text[i] === ',') { i++; continue; }
      if (text[i] !== '<') { skipToComma(); continue; }
      const close = text.indexOf('>', i);
      if (close < 0) break;
      const link = { target: text.slice(i + 1, close).trim(), params: {} };
      i = close + 1;
      for (;;) {
        skipSpace();
        if (text[i] !== ';') break;
        i++;
        skipSpace();
        const start = i;
        while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(text[i])) i++;
        const name = text.slice(start, i).toLowerCase();
        skipSpace();
        let value = '';
        if (text[i] === '=') {
          i++;
          skipSpace();
          if (text[i] === '"') value = quoted();
          else {
            const from = i;
            while (i < n && !/[;,\s]/.test(text[i])) i++;
            value = text.slice(from, i);
          }
        }
        // The first occurrence of a parameter counts (RFC 8288 §3).
        if (name && !Object.prototype.hasOwnProperty.call(link.params, name)) link.params[name] = value;
      }
      skipToComma();
      links.push(link);
    }
    return links;
  }

  // RTCIceServer entries from Link headers: turn:, turns: and stun: only,
  // password credentials only.
  function iceServersFrom(header) {
    const servers = [];
    for (const link of parseLinks(header)) {
      const rel = String(link.params.rel || '').toLowerCase().split(/\s+/);
      if (!rel.includes('ice-server') || !/^(turns?|stun):/i.test(link.target)) continue;
      const type = String(link.params['credential-type'] || 'password').toLowerCase();
      if (type !== 'password') continue;
      const server = { urls: link.target };
      if (link.params.username !== undefined) server.username = link.params.username;
      if (link.params.credential !== undefined) server.credential = link.params.credential;
      if (/^turns?:/i.test(link.target) && (server.username === undefined || server.credential === undefined)) continue;
      servers.push(server);
    }
    return servers;
  }

  // OPTIONS to the WHEP URL with the token: the relays, with credentials made
  // for this request. Nothing (an older gateway, an error, no answer in
  // time) means no relays: the page works without them.
  async function fetchIceServers(maxMs) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), maxMs);
    try {
      const res = await fetch(whepUrl, {
        method: 'OPTIONS',
        headers: { Authorization: 'Bearer ' + token },
        cache: 'no-store',
        signal: abort.signal,
      });
      return res.ok ? iceServersFrom(res.headers.get('Link')) : [];
    } catch (_) {
      return [];
    } finally {
      clearTimeout(timer);
    }
  }

  // What may be shown of the relays the connection now has: their URLs,
  // never the credentials.
  function announceRelays(pc) {
    samsyn.iceServers = (pc.getConfiguration().iceServers || []).flatMap((server) => server.urls);
    if (samsyn.iceServers.length) console.info('[samsyn] relays: ' + samsyn.iceServers.join(', '));
  }

  // Gives the connection its relays: before its first setLocalDescription
  // they serve the first gathering, later an ICE restart's. False if this
  // browser does not take them (an unknown URL form, say).
  function useRelays(pc, servers) {
    if (!servers.length) return false;
    try {
      pc.setConfiguration(Object.assign(pc.getConfiguration(), { iceServers: servers }));
      announceRelays(pc);
      return true;
    } catch (e) {
      console.warn('[samsyn] the announced relays are not usable here (' + (e && e.name) + ')');
      return false;
    }
  }

  // --- trickle ICE (RFC 8840 fragments by PATCH, RFC 9725 §4.3) -------------------
  function sdpLines(sdp) { return String(sdp || '').split(/\r?\n/).filter((line) => line !== ''); }

  function attributeOf(sdp, name) {
    const line = sdpLines(sdp).find((l) => l.startsWith('a=' + name + ':'));
    return line ? line.slice(name.length + 3) : null;
  }

  // The fragment for the current local description: credentials, the first
  // (bundled) media section's m= line and mid, the candidates, and
  // a=end-of-candidates once gathering is done.
  function sdpFragment(sdp, candidates, ended) {
    const lines = sdpLines(sdp);
    const m = lines.findIndex((l) => l.startsWith('m='));
    const mid = lines.slice(m + 1).find((l) => l.startsWith('a=mid:') || l.startsWith('m='));
    const out = [];
    if (m >= 0) out.push(lines[m]);
    if (mid && mid.startsWith('a=mid:')) out.push(mid);
    out.push('a=ice-ufrag:' + attributeOf(sdp, 'ice-ufrag'), 'a=ice-pwd:' + attributeOf(sdp, 'ice-pwd'));
    for (const c of candidates) out.push('a=' + c);
    if (ended) out.push('a=end-of-candidates');
    return out.join('\r\n') + '\r\n';
  }

  // A PATCH of the session's Location with an RFC 8840 fragment.
  async function sendPatch(s, body, headers) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), PATCH_TIMEOUT);
    try {
      return await fetch(s.location, {
        method: 'PATCH',
        headers: Object.assign({
          'Content-Type': 'application/trickle-ice-sdpfrag',
          Authorization: 'Bearer ' + token,
        }, headers || {}),
        body,
        cache: 'no-store',
        signal: abort.signal,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  // Runs `job` after the session's earlier PATCHes: they go out in order.
  function enqueue(s, job) {
    const result = s.patches.then(job, job);
    s.patches = result.catch(() => { /* the next one goes anyway */ });
    return result;
  }

  // Sends the candidates gathered since the last PATCH. Before the session
  // exists (no 201 yet) and while an ICE restart waits for its answer they
  // wait; candidates of an older ICE generation are dropped.
  function trickle(s) {
    if (cur !== s || !s.location || s.noTrickle || s.trickleQueued) return;
    if (s.restart && !s.restart.answered) return;
    s.trickleQueued = true;
    const send = async () => {
      s.trickleQueued = false;
      if (cur !== s || s.noTrickle || (s.restart && !s.restart.answered)) return null;
      const sdp = s.pc.localDescription ? s.pc.localDescription.sdp : '';
      const ufrag = attributeOf(sdp, 'ice-ufrag');
      const fresh = s.gathered.filter((c) => !c.ufrag || c.ufrag === ufrag).map((c) => c.line);
      const ended = s.gatheringDone === ufrag && s.endSent !== ufrag;
      s.gathered = [];
      if (!fresh.length && !ended) return null;
      if (ended) s.endSent = ufrag;
      const res = await sendPatch(s, sdpFragment(sdp, fresh, ended), s.etag ? { 'If-Match': s.etag } : {});
      if (res.ok) {
        samsyn.trickled += fresh.length;
      } else if (res.status === 405 || res.status === 501) {
        s.noTrickle = true;   // the gateway learns the address from the checks instead
      } else {
        const { code } = await readError(res);
        console.warn('[samsyn] trickle PATCH refused: HTTP ' + res.status + (code ? ' ' + code : ''));
      }
      return res;
    };
    enqueue(s, send).catch((e) => {
      console.warn('[samsyn] trickle PATCH failed: ' + (e && e.message || e));
    });
  }

  // --- ICE restart on the same session (RFC 9725 §4.4) ---------------------------
  function iceUp(pc) {
    return pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed';
  }

  // The gateway's answer fragment applied to its last answer: new
  // credentials, its candidates in place of the old ones.
  function answerWithFragment(sdp, fragment) {
    const ufrag = attributeOf(fragment, 'ice-ufrag');
    const pwd = attributeOf(fragment, 'ice-pwd');
    if (!ufrag || !pwd) throw new Error('the restart answer has no ice-ufrag/ice-pwd');
    const byMid = new Map();
    let mid = null;
    for (const line of sdpLines(fragment)) {
      if (line.startsWith('m=')) mid = null;
      else if (line.startsWith('a=mid:')) mid = line.slice(6);
      else if (line.startsWith('a=candidate:') || line === 'a=end-of-candidates') {
        if (!byMid.has(mid)) byMid.set(mid, []);
        byMid.get(mid).push(line);
      }
    }
    const sections = [[]];
    for (const line of sdpLines(sdp)) {
      if (line.startsWith('m=')) sections.push([]);
      if (line.startsWith('a=candidate:') || line === 'a=end-of-candidates') continue;
      if (line.startsWith('a=ice-ufrag:')) sections[sections.length - 1].push('a=ice-ufrag:' + ufrag);
      else if (line.startsWith('a=ice-pwd:')) sections[sections.length - 1].push('a=ice-pwd:' + pwd);
      else sections[sections.length - 1].push(line);
    }
    let placed = false;
    for (let k = 1; k < sections.length; k++) {
      const midLine = sections[k].find((l) => l.startsWith('a=mid:'));
      const lines = midLine ? byMid.get(midLine.slice(6)) : null;
      if (lines) { sections[k].push(...lines); placed = true; }
    }
    // Candidates the fragment gave no known mid: the first (bundled) section.
    if (!placed && sections.length > 1) {
      for (const lines of byMid.values()) { sections[1].push(...lines); break; }
    }
    return sections.flat().join('\r\n') + '\r\n';
  }

  async function restartIce(s, why) {
    if (cur !== s || s.restart || !s.location || stopped) return;
    const pc = s.pc;
    const r = { startedAt: performance.now(), answered: false, timer: null };
    s.restart = r;
    samsyn.iceRestarts++;
    console.warn('[samsyn] restarting ICE: ' + why);
    setState('reconnecting', MSG.iceRestart);
    r.timer = setTimeout(() => {
      if (cur === s && s.restart === r) reconnect('the ICE restart did not connect within ' + RESTART_LIMIT / 1000 + ' s');
    }, RESTART_LIMIT);
    try {
      // Fresh relay credentials for the new candidates, if the gateway answers now.
      const servers = await fetchIceServers(Math.min(OPTIONS_TIMEOUT, RESTART_LIMIT / 3));
      if (cur !== s || s.restart !== r) return;
      useRelays(pc, servers);
      const offer = await pc.createOffer({ iceRestart: true });
      if (cur !== s || s.restart !== r) return;
      await pc.setLocalDescription(offer);
      // New credentials only: the candidates trickle after the answer (the
      // gateway reads none from a restart fragment).
      const res = await enqueue(s, () => (cur === s ? sendPatch(s, sdpFragment(offer.sdp, [], false), { 'If-Match': '*' }) : null));
      if (!res || cur !== s || s.restart !== r) return;
      if (res.status !== 200) {
        const { code } = await readError(res);
        if (cur === s && s.restart === r) {
          reconnect('the gateway did not restart ICE: HTTP ' + res.status + (code ? ' ' + code : ''), null,
            code === 'unknown_session');
        }
        return;
      }
      if (res.headers.get('ETag')) s.etag = res.headers.get('ETag');
      const fragment = await res.text();
      if (cur !== s || s.restart !== r) return;
      const remote = pc.currentRemoteDescription || pc.remoteDescription;
      await pc.setRemoteDescription({ type: 'answer', sdp: answerWithFragment(remote.sdp, fragment) });
      if (cur !== s || s.restart !== r) return;
      r.answered = true;
      trickle(s);
      watchConnection(s);
    } catch (e) {
      if (cur === s && s.restart === r) reconnect('ICE restart failed: ' + (e && e.message || e));
    }
  }

  // The connection's state decides: fine, restart ICE, or a new session.
  function watchConnection(s) {
    if (cur !== s) return;
    const pc = s.pc;
    const ice = pc.iceConnectionState;
    const conn = pc.connectionState;
    if (iceUp(pc) && conn !== 'failed') {
      clearTimeout(s.disconnectTimer);
      s.disconnectTimer = null;
      if (!s.connectedOnce) {
        s.connectedOnce = true;
        s.timings.connected = Math.round(performance.now());
      }
      if (s.iceDown) {
        s.iceDown = false;
        s.lastProgress = performance.now();   // frames need a moment to come back
      }
      const r = s.restart;
      if (r && r.answered) {
        clearTimeout(r.timer);
        s.restart = null;
        s.lastProgress = s.heardAt = performance.now();
        samsyn.iceRestartsConnected++;
        console.info('[samsyn] ICE restarted: connected again after ' + Math.round(performance.now() - r.startedAt) + ' ms');
      }
      return;
    }
    if (ice === 'failed' || conn === 'failed') {
      s.iceDown = true;
      if (!s.connectedOnce || !s.location) reconnect('connection failed');
      else if (!s.restart) restartIce(s, 'the connection failed');
      // A restart under way has its own time limit.
    } else if (ice === 'disconnected' || conn === 'disconnected') {
      s.iceDown = true;
      if (!s.disconnectTimer && !s.restart) {
        s.disconnectTimer = setTimeout(() => {
          s.disconnectTimer = null;
          if (cur !== s || iceUp(s.pc)) return;
          if (s.connectedOnce && s.location) restartIce(s, 'disconnected for more than ' + DISCONNECTED_GRACE / 1000 + ' s');
          else reconnect('disconnected before the connection was up');
        }, DISCONNECTED_GRACE);
      }
    }
  }

  // --- a new WHEP session ------------------------------------------------------------
  // The first session's relays, asked for alongside the room's details.
  let prefetchedRelays = null;

  async function connect() {
    clearRetry();
    if (stopped) return;
    teardown();
    const my = ++gen;
    const s = {
      gen: my,
      pc: null,
      stream: new MediaStream(),
      location: null,
      etag: null,
      abort: new AbortController(),
      establishedAt: 0,
      lastProgress: 0,
      framesDecoded: 0,
      prev: null,
      disconnectTimer: null,
      gotFrame: false,
      connectedOnce: false,
      iceDown: false,
      bytesIn: null,          // transport bytes received at the last look …
      heardAt: 0,             // … and when that number last grew
      restart: null,          // { startedAt, answered, timer } while ICE restarts
      gathered: [],           // { line, ufrag } not sent yet
      gatheringDone: null,    // the ufrag whose gathering completed
      endSent: null,          // the ufrag whose a=end-of-candidates went out
      patches: Promise.resolve(),
      trickleQueued: false,
      noTrickle: false,
      timings: { start: Math.round(performance.now()) },
    };
    cur = s;
    samsyn.timings = s.timings;

    // The relays are asked for while the offer is made; the connection has
    // them before it starts gathering (setLocalDescription).
    samsyn.iceServers = [];
    const relays = (prefetchedRelays || fetchIceServers(OPTIONS_TIMEOUT)).then((servers) => {
      s.timings.options = Math.round(performance.now());
      return servers;
    });
    prefetchedRelays = null;   // every later session asks anew
    let pc;
    try {
      pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    } catch (e) {
      setState('error', MSG.noWebrtc, String(e && e.message || e));
      return;
    }
    s.pc = pc;

    s.captureTimesOffered = offerCaptureTimes(pc.addTransceiver('video', { direction: 'recvonly' }));
    // Talk-back (talkback.js): the nurse's voice, this page's microphone
    // and the other speakers' m-lines; without it, the nurse's voice only.
    const talkback = window.samsynTalkback;
    s.nurseAudio = talkback
      ? talkback.addTransceivers(pc, samsyn.roomInfo ? samsyn.roomInfo.role : null)
      : pc.addTransceiver('audio', { direction: 'recvonly' });

    pc.ontrack = (ev) => {
      if (cur !== s) return;
      if (talkback && ev.track.kind === 'audio' && ev.transceiver !== s.nurseAudio) {
        talkback.play(ev.track, ev.receiver);
        return;
      }
      s.stream.addTrack(ev.track);
      if (video.srcObject !== s.stream) video.srcObject = s.stream;
      if (ev.track.kind === 'audio') {
        unmuteBtn.disabled = false;
        unmuteBtn.title = t('sound.title');
      }
      play();
    };
    pc.onicecandidate = (ev) => {
      if (cur !== s) return;
      const c = ev.candidate;
      if (c && c.candidate) {
        s.gathered.push({ line: c.candidate, ufrag: c.usernameFragment || null });
      } else if (!c) {
        s.gatheringDone = pc.localDescription ? attributeOf(pc.localDescription.sdp, 'ice-ufrag') : null;
      }
      trickle(s);
    };
    pc.onicecandidateerror = (ev) => {
      if (cur !== s) return;
      samsyn.iceCandidateErrors.push({ url: ev.url || null, errorCode: ev.errorCode || null });
      if (samsyn.iceCandidateErrors.length > 10) samsyn.iceCandidateErrors.shift();
    };
    pc.oniceconnectionstatechange = () => {
      if (cur === s) console.info('[samsyn] ICE ' + pc.iceConnectionState);
      watchConnection(s);
    };
    pc.onconnectionstatechange = () => watchConnection(s);

    try {
      // The offer goes out at once; candidates follow by PATCH.
      const offer = await pc.createOffer();
      const servers = await relays;
      if (cur !== s) return;
      const withRelays = useRelays(pc, servers);
      await pc.setLocalDescription(offer);
      if (cur !== s) return;
      const timeout = setTimeout(() => s.abort.abort(), POST_TIMEOUT);
      let res;
      try {
        s.timings.posted = Math.round(performance.now());
        res = await fetch(whepUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + token },
          body: offer.sdp,
          cache: 'no-store',
          signal: s.abort.signal,
        });
      } finally {
        clearTimeout(timeout);
      }
      const loc = res.headers.get('Location');
      const sessionUrl = loc ? new URL(loc, res.url || whepUrl).href : null;
      if (cur !== s) {
        if (res.ok && sessionUrl) deleteSession(sessionUrl);  // we moved on meanwhile
        return;
      }
      if (!res.ok) {
        await handleHttpError(res, my);
        return;
      }
      s.location = sessionUrl;
      s.etag = res.headers.get('ETag');
      samsyn.sessionUrl = sessionUrl;
      samsyn.sessionsStarted++;
      // Relays announced only on the 201 (not on OPTIONS): for ICE restarts.
      if (!withRelays) useRelays(pc, iceServersFrom(res.headers.get('Link')));
      trickle(s);   // what was gathered while the POST was under way
      const answer = await res.text();
      if (cur !== s) return;
      s.timings.answered = Math.round(performance.now());
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      s.captureTimesAnswered = answerHasCaptureTimes(answer);
      s.establishedAt = s.lastProgress = performance.now();
      // The server ending the session (DTLS close) need not wait for the stall watchdog.
      const dtls = pc.getReceivers().map((r) => r.transport).find(Boolean);
      if (dtls) {
        dtls.addEventListener('statechange', () => {
          if (cur === s && (dtls.state === 'closed' || dtls.state === 'failed')) reconnect('the server closed the session (DTLS ' + dtls.state + ')');
        });
      }
      if (samsyn.state === 'waiting' || samsyn.state === 'error') setState('connecting', MSG.connecting);
      watchConnection(s);
    } catch (e) {
      if (cur !== s) return;
      const aborted = e && e.name === 'AbortError';
      reconnect(aborted ? 'no answer from the server' : 'setup failed: ' + (e && e.message || e),
        aborted ? say('msg.noAnswer') : say('msg.unreachable'));
    }
  }

  // A frame arrived in the current session (rendered or decoded).
  function progress() {
    const s = cur;
    if (!s || !s.establishedAt) return;
    s.lastProgress = performance.now();
    if (!s.gotFrame) {
      s.gotFrame = true;
      s.timings.firstFrame = Math.round(performance.now());
      liveSince = performance.now();
      samsyn.error = null;
      setState('live');
    } else if (samsyn.state === 'reconnecting' && !s.restart) {
      liveSince = performance.now();   // an ICE restart brought the video back
      setState('live');
    }
  }

  function play() {
    const p = video.play();
    if (p && p.catch) {
      p.catch((e) => {
        if (e && e.name === 'NotAllowedError' && !video.muted) {
          // Sound not allowed without a click: play muted, let the user unmute.
          video.muted = true;
          updateMuteButton();
          video.play().catch(() => { /* ignore */ });
        }
      });
    }
  }

  // --- counting rendered frames ----------------------------------------------------
  if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
    const onFrame = () => {
      samsyn.framesRendered++;
      if (samsyn.msToFirstFrame === null) samsyn.msToFirstFrame = Math.round(performance.now());
      progress();
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  } else {
    let last = 0;
    setInterval(() => {
      const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
      const total = q ? q.totalVideoFrames : 0;
      if (total > last) {
        samsyn.framesRendered += total - last;
        if (samsyn.msToFirstFrame === null) samsyn.msToFirstFrame = Math.round(performance.now());
        progress();
      }
      last = total;
    }, 200);
  }

  // --- stats, once a second ---------------------------------------------------------
  function kindOf(r) { return r.kind || r.mediaType; }

  async function tick() {
    const s = cur;
    if (!s || !s.establishedAt) return;
    let report;
    try { report = await s.pc.getStats(); } catch (_) { return; }
    if (cur !== s) return;

    let v = null, a = null, transport = null, pair = null;
    report.forEach((r) => {
      if (r.type === 'inbound-rtp' && kindOf(r) === 'video') {
        if (!v || (r.bytesReceived || 0) > (v.bytesReceived || 0)) v = r;
      } else if (r.type === 'inbound-rtp' && kindOf(r) === 'audio') {
        if (!a || (r.bytesReceived || 0) > (a.bytesReceived || 0)) a = r;
      } else if (r.type === 'transport') {
        transport = r;
      }
    });
    if (transport && transport.selectedCandidatePairId) pair = report.get(transport.selectedCandidatePairId) || null;
    if (!pair) {
      report.forEach((r) => {
        if (r.type === 'candidate-pair' && (r.selected || (r.nominated && r.state === 'succeeded'))) pair = pair || r;
      });
    }

    const ts = v ? v.timestamp : performance.now();
    const bytes = (v ? v.bytesReceived || 0 : 0) + (a ? a.bytesReceived || 0 : 0);
    const decoded = v ? v.framesDecoded || 0 : 0;
    const received = (v ? v.packetsReceived || 0 : 0) + (a ? a.packetsReceived || 0 : 0);
    const lost = (v ? v.packetsLost || 0 : 0) + (a ? a.packetsLost || 0 : 0);
    const prev = s.prev;
    const dt = prev ? (ts - prev.ts) / 1000 : 0;

    let fps = v && typeof v.framesPerSecond === 'number' ? v.framesPerSecond : null;
    if (fps === null && prev && dt > 0) fps = (decoded - prev.decoded) / dt;
    const kbps = prev && dt > 0 ? Math.max(0, (bytes - prev.bytes) * 8 / 1000 / dt) : null;
    let lossPercent = null;
    if (prev) {
      const dLost = Math.max(0, lost - prev.lost);
      const dRecv = Math.max(0, received - prev.received);
      lossPercent = dLost + dRecv > 0 ? (100 * dLost) / (dLost + dRecv) : 0;
    }
    const codec = v && v.codecId && report.get(v.codecId) ? String(report.get(v.codecId).mimeType || '').replace(/^video\//, '') : null;

    samsyn.stats = {
      width: v && v.frameWidth ? v.frameWidth : null,
      height: v && v.frameHeight ? v.frameHeight : null,
      fps: fps === null ? null : Math.round(fps * 10) / 10,
      bitrateKbps: kbps === null ? null : Math.round(kbps),
      rttMs: pair && typeof pair.currentRoundTripTime === 'number' ? Math.round(pair.currentRoundTripTime * 1000) : null,
      packetsLost: lost,
      packetsReceived: received,
      lossPercent: lossPercent === null ? null : Math.round(lossPercent * 10) / 10,
      framesDecoded: decoded,
      framesDropped: v ? v.framesDropped || 0 : 0,
      jitterMs: v && typeof v.jitter === 'number' ? Math.round(v.jitter * 1000) : null,
      codec,
    };
    s.prev = { ts, bytes, decoded, received, lost };
    notePath(pair ? report.get(pair.localCandidateId) : null, pair ? report.get(pair.remoteCandidateId) : null);
    renderStats();
    measureLatency(s);

    const now = performance.now();
    // Anything at all arriving (media, RTCP, STUN answers) says the path works.
    const bytesIn = transport && typeof transport.bytesReceived === 'number' ? transport.bytesReceived
      : pair && typeof pair.bytesReceived === 'number' ? pair.bytesReceived : null;
    if (bytesIn !== s.bytesIn || !s.heardAt) {
      s.bytesIn = bytesIn;
      s.heardAt = now;
    }
    // The selected pair's own clock says when its last packet came, to the
    // millisecond; believed when the byte count agrees (nothing since the last look).
    let silent = now - s.heardAt;
    if (silent > 500 && pair && typeof pair.lastPacketReceivedTimestamp === 'number' &&
        typeof pair.timestamp === 'number' && pair.lastPacketReceivedTimestamp > 0) {
      silent = Math.max(silent, pair.timestamp - pair.lastPacketReceivedTimestamp);
    }
    if (s.connectedOnce && !s.restart && silent > SILENCE_LIMIT) {
      restartIce(s, 'nothing received for ' + (silent / 1000).toFixed(1) + ' s');
    }
    if (decoded > s.framesDecoded) {
      s.framesDecoded = decoded;
      progress();   // also covers hidden tabs, where rendering callbacks pause
    }
    if (liveSince && now - liveSince > STABLE_AFTER) samsyn.attempt = 0;

    // Watchdogs. A hidden tab may not render; only judge what we can see.
    // While ICE is down or restarting, watchConnection decides instead.
    if (document.hidden) return;
    if (s.gotFrame && iceUp(s.pc) && !s.restart && !s.iceDown && now - s.lastProgress > STALL_LIMIT) {
      reconnect('no new video for ' + Math.round((now - s.lastProgress) / 1000) + ' s', say('msg.stalled'));
    } else if (!s.gotFrame && now - s.establishedAt > FIRST_FRAME_LIMIT) {
      reconnect('no video within ' + FIRST_FRAME_LIMIT / 1000 + ' s', say('msg.noVideo'));
    }
  }

  // A number as the page's language writes it (1,5 or 1.5).
  function decimal(x, digits) {
    try {
      return x.toLocaleString(i18n.locale, { minimumFractionDigits: digits, maximumFractionDigits: digits });
    } catch (_) {
      return x.toFixed(digits);
    }
  }

  function renderStats() {
    const st = samsyn.stats;
    const dash = '\u2014';
    statEls.res.textContent = st.width && st.height ? st.width + '\u00d7' + st.height + (st.codec ? ' ' + st.codec : '') : dash;
    statEls.fps.textContent = st.fps === null || st.fps === undefined ? dash : t('stat.fpsValue', { fps: Math.round(st.fps) });
    statEls.bitrate.textContent = st.bitrateKbps === null || st.bitrateKbps === undefined ? dash
      : st.bitrateKbps >= 1000 ? decimal(st.bitrateKbps / 1000, 1) + ' Mbit/s' : st.bitrateKbps + ' kbit/s';
    statEls.rtt.textContent = st.rttMs === null || st.rttMs === undefined ? dash : st.rttMs + ' ms';
    statEls.lost.textContent = st.packetsLost === undefined ? dash
      : st.packetsLost + (st.lossPercent ? ' (' + decimal(st.lossPercent, st.lossPercent % 1 ? 1 : 0) + ' %)' : '');
    const path = describePath(samsyn.pathDetail);
    statEls.path.textContent = path.text;
    statEls.path.title = path.title;
    statEls.path.dataset.path = samsyn.path || '';
  }

  // The selected candidate pair: is the media relayed (TURN), or direct?
  function notePath(local, remote) {
    if (!local) return;
    const relayProtocol = local.relayProtocol ? String(local.relayProtocol).toLowerCase() : null;
    samsyn.pathDetail = {
      local: local.candidateType || null,
      remote: remote ? remote.candidateType || null : null,
      protocol: local.protocol ? String(local.protocol).toLowerCase() : null,
      relayProtocol,
    };
    samsyn.path = local.candidateType === 'relay' ? 'relay' : samsyn.pathDetail.protocol === 'tcp' ? 'tcp' : 'udp';
  }

  // In the page's language; `samsyn.path` says the same for tests.
  function describePath(detail) {
    if (!detail || !samsyn.path) return { text: '\u2014', title: '' };
    if (samsyn.path === 'relay') {
      const protocol = (detail.relayProtocol || 'udp').toUpperCase();
      return { text: t('path.relayed', { protocol }), title: t('path.relayedTitle') };
    }
    const protocol = samsyn.path === 'tcp' ? 'TCP' : 'UDP';
    return { text: t('path.direct', { protocol }), title: t('path.directTitle') };
  }

  setInterval(() => { tick().catch((e) => console.warn('[samsyn] stats: ' + e)); }, 1000);

  // --- the viewer's own link ---------------------------------------------------------------
  // The gateway measures each viewer's connection (GET <session>/link). When
  // this viewer's own network is what makes the picture stutter, say so: the
  // specialist should not blame the nurse's camera.
  const linkNote = $('link-note');
  const LINK_POLL = 3000;
  samsyn.link = null;

  function describeLink(r) {
    if (!r || !r.weak) return '';
    const through = r.estimate_kbps ? t('link.through', { kbps: r.estimate_kbps }) : null;
    const needs = r.stream_kbps ? t('link.needs', { kbps: r.stream_kbps }) : null;
    const lossy = r.loss_percent && r.loss_percent > 5 ? t('link.lossy', { percent: Math.round(r.loss_percent) }) : null;
    const facts = [through, needs, lossy].filter(Boolean).join(', ');
    return facts ? t('link.weakFacts', { facts }) : t('link.weak');
  }

  async function checkOwnLink() {
    const s = cur;
    if (!s || !s.location || samsyn.state !== 'live') {
      linkNote.hidden = true;
      return;
    }
    let report = null;
    try {
      const res = await fetch(s.location + '/link', {
        headers: { Authorization: 'Bearer ' + token },
        cache: 'no-store',
      });
      if (res.ok) {
        report = await res.json();
      } else if ((await readError(res)).code === 'unknown_session') {
        // The gateway restarted: this session is gone, a new one is needed.
        if (cur === s) reconnect('the gateway no longer knows this session', null, true);
        return;
      }
    } catch (_) { /* the connection watchdogs handle outages */ }
    if (cur !== s) return;
    samsyn.link = report;
    const text = describeLink(report);
    linkNote.textContent = text;
    linkNote.hidden = !text;
  }
  setInterval(() => { checkOwnLink().catch(() => { /* ignore */ }); }, LINK_POLL);

  // --- end-to-end delay (abs-capture-time) ---------------------------------------------
  // The camera stamps each video packet with the wall-clock time its frame was
  // captured (RTP header extension abs-capture-time); the gateway forwards it.
  // Chrome negotiates the extension only when asked (it is "stopped" by
  // default, Chromium 156) and then reports it per received stream as
  // captureTimestamp (NTP milliseconds) next to timestamp (when the frame was
  // delivered, Unix milliseconds) in getSynchronizationSources(). Their
  // difference is camera-to-screen delay when both computers keep network time.
  const ABS_CAPTURE_TIME = 'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time';
  const NTP_UNIX_OFFSET_MS = 2208988800000;   // 1900 to 1970
  const PLAUSIBLE_DELAY_MS = 10000;           // beyond this (or negative) the clocks disagree
  const latencyEl = $('stat-latency');
  samsyn.latency = { ms: null, reason: 'not connected' };   // reason: in English, for IT and tests

  // Asks to receive capture times on the video transceiver; false if this browser cannot.
  function offerCaptureTimes(transceiver) {
    if (typeof transceiver.getHeaderExtensionsToNegotiate !== 'function' ||
        typeof transceiver.setHeaderExtensionsToNegotiate !== 'function') return false;
    try {
      const extensions = transceiver.getHeaderExtensionsToNegotiate();
      if (!extensions.some((e) => e.uri === ABS_CAPTURE_TIME)) return false;
      transceiver.setHeaderExtensionsToNegotiate(extensions.map((e) =>
        e.uri === ABS_CAPTURE_TIME ? { uri: e.uri, direction: 'recvonly' } : { uri: e.uri, direction: e.direction }));
      return true;
    } catch (e) {
      console.warn('[samsyn] capture times not available: ' + e);
      return false;
    }
  }

  function answerHasCaptureTimes(sdp) {
    return sdp.split(/\r?\n/).some((line) => /^a=extmap:\d+(\/\w+)? /.test(line) && line.includes(ABS_CAPTURE_TIME));
  }

  function measureLatency(s) {
    if (!s.captureTimesOffered) {
      return showLatency(null, 'this browser does not report capture times', t('latency.why.browser'));
    }
    if (!s.captureTimesAnswered) {
      return showLatency(null, 'the camera does not send capture times', t('latency.why.camera'));
    }
    const receiver = s.pc.getReceivers().find((r) => r.track && r.track.kind === 'video');
    const source = receiver ? receiver.getSynchronizationSources()[0] : null;
    if (!source || typeof source.captureTimestamp !== 'number') {
      return showLatency(null, 'no capture time received yet', t('latency.why.notYet'));
    }
    const delay = source.timestamp - (source.captureTimestamp - NTP_UNIX_OFFSET_MS);
    if (!(delay >= 0 && delay <= PLAUSIBLE_DELAY_MS)) {
      return showLatency(null, 'the camera laptop\u2019s clock and this computer\u2019s disagree (both need network time)',
        t('latency.why.clocks'));
    }
    return showLatency(delay, null, t('latency.known'));
  }

  // `reason` (English) for samsyn.latency; `title` for the person.
  function showLatency(ms, reason, title) {
    samsyn.latency = { ms: ms === null ? null : Math.round(ms), reason };
    latencyEl.textContent = ms === null ? t('latency.unknown') : Math.round(ms) + ' ms';
    latencyEl.title = title;
  }

  // --- buttons ---------------------------------------------------------------------------
  // The sound of the consultation on this page (the nurse, and the other
  // speakers with her): not this page's microphone (talkback.js).
  function updateMuteButton() {
    unmuteBtn.textContent = video.muted ? t('sound.on') : t('sound.off');
    unmuteBtn.setAttribute('aria-pressed', video.muted ? 'false' : 'true');
  }
  unmuteBtn.addEventListener('click', () => {
    video.muted = !video.muted;
    updateMuteButton();
    play();
  });

  function fullscreenElement() { return document.fullscreenElement || document.webkitFullscreenElement || null; }
  function toggleFullscreen() {
    if (fullscreenElement()) {
      (document.exitFullscreen || document.webkitExitFullscreen).call(document);
    } else {
      const req = stage.requestFullscreen || stage.webkitRequestFullscreen;
      if (req) {
        const p = req.call(stage);
        if (p && p.catch) p.catch(() => { /* refused: ignore */ });
      }
    }
  }
  fullscreenBtn.addEventListener('click', toggleFullscreen);
  video.addEventListener('dblclick', toggleFullscreen);
  const onFullscreenChange = () => {
    fullscreenBtn.textContent = fullscreenElement() ? t('fullscreen.exit') : t('fullscreen.enter');
  };
  document.addEventListener('fullscreenchange', onFullscreenChange);
  document.addEventListener('webkitfullscreenchange', onFullscreenChange);
  if (!(stage.requestFullscreen || stage.webkitRequestFullscreen)) fullscreenBtn.hidden = true;

  retryBtn.addEventListener('click', () => {
    samsyn.attempt = 0;
    setState('connecting', MSG.connecting);
    connect();
  });

  // --- page lifecycle ------------------------------------------------------------------
  window.addEventListener('pagehide', () => {
    stopped = true;
    clearRetry();
    teardown();   // DELETE the session (keepalive fetch survives the unload)
  });
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted && stopped && token) {   // back/forward cache restore
      stopped = false;
      setState('connecting', MSG.connecting);
      connect();
    }
  });
  window.addEventListener('online', () => {
    if (retryTimer !== null && samsyn.state === 'reconnecting') connect();
    else if (cur && cur.pc && cur.connectedOnce && !iceUp(cur.pc)) restartIce(cur, 'the network is back');
  });

  // --- which consultation this is ------------------------------------------------------
  // The room's label and the gateway's name go in the header, so the person can
  // check the link led to the right consultation. A link that cannot work is
  // said plainly here, before any video is tried. Resolves true to go on.
  async function showRoom() {
    let res;
    try {
      res = await fetch(new URL('/api/rooms/' + encodeURIComponent(room), location.href).href, {
        headers: { Authorization: 'Bearer ' + token },
        cache: 'no-store',
      });
    } catch (_) {
      return true;   // the network: WHEP will say more, and retry
    }
    if (!res.ok) {
      const { code, message } = await readError(res);
      const problem = linkMessage(res.status, code);
      if (!problem) return true;
      samsyn.error = { status: res.status, code, message };
      setState('error', problem, describe(res.status, code, message));
      retryBtn.hidden = true;
      return false;
    }
    const info = await res.json();
    samsyn.roomInfo = info;
    $('room-label').textContent = info.label || t('room.fallbackLabel', { room: info.room });
    $('gateway-name').textContent = info.gateway || location.host;
    $('room-role').textContent = info.role === 'observer' ? t('room.observer') : '';
    $('room-info').hidden = false;
    document.title = (info.label || t('room.consultation')) + ' \u2014 ' + (info.gateway || 'samsyn');
    return true;
  }

  // --- start ---------------------------------------------------------------------------
  if (!token) {
    samsyn.error = { status: 0, code: 'no_token', message: 'no token in the link' };
    setState('error', MSG.noToken, t('detail.code', { code: 'no_token' }));
    retryBtn.hidden = true;
  } else if (typeof RTCPeerConnection !== 'function') {
    samsyn.error = { status: 0, code: 'no_webrtc', message: 'RTCPeerConnection is missing' };
    setState('error', MSG.noWebrtc, t('detail.code', { code: 'no_webrtc' }));
    retryBtn.hidden = true;
  } else {
    setState('connecting', MSG.connecting);
    prefetchedRelays = fetchIceServers(OPTIONS_TIMEOUT);
    showRoom().then((goOn) => { if (goOn) connect(); else prefetchedRelays = null; });
  }
})();
