// samsyn viewer: plays a room's live camera over WHEP (RFC 9725 shape).
//
// Served by the gateway at /r/assets/viewer.js for the page at /r/{room}.
// The viewer token comes in the URL fragment (#token=…), which browsers never
// send to the server; it is read once, removed from the address bar, and kept
// in this tab only (memory, plus sessionStorage so a reload keeps working).
//
// For tests: window.samsyn = { state, stats, framesRendered, … } and
// <body data-state="connecting|live|reconnecting|waiting|error">.
'use strict';

(() => {
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
  };

  // --- timings (ms) ---------------------------------------------------------
  const ICE_GATHER_MAX = 1000;      // send whatever candidates we have by then
  const POST_TIMEOUT = 10000;       // give up on a WHEP POST after this
  const WAITING_RETRY = 2000;       // poll while the camera is not connected
  const DISCONNECTED_GRACE = 3000;  // 'disconnected' longer than this: reconnect
  const STALL_LIMIT = 4000;         // no new frames this long while live: reconnect
  const FIRST_FRAME_LIMIT = 10000;  // session up but no frame this long: reconnect
  const BACKOFF_MAX = 10000;        // 1 s, 2 s, 4 s, 8 s, 10 s, 10 s, …
  const STABLE_AFTER = 10000;       // live this long: reset the attempt counter

  const MSG = {
    connecting: 'Connecting to the camera…',
    waiting: 'The nurse\u2019s camera is not connected yet \u2014 waiting\u2026',
    badLink: 'This link has expired or is wrong \u2014 ask the hospital for a new link.',
    expired: 'This link has expired \u2014 ask the hospital for a new link.',
    ended: 'This consultation has ended. If it should go on, ask the hospital for a new link.',
    unknownRoom: 'This consultation does not exist (any more) \u2014 ask the hospital for a new link.',
    noToken: 'This link is incomplete \u2014 ask the hospital for a new link.',
    noWebrtc: 'This browser cannot show live video. Use a recent Chrome, Edge or Firefox.',
    full: 'Too many people are watching this room. Trying again\u2026',
    codec: 'This browser cannot play the camera\u2019s video format. Try Chrome, Edge or Firefox.',
    lost: 'The connection was lost \u2014 reconnecting\u2026',
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
  };
  window.samsyn = samsyn;

  // --- state display -----------------------------------------------------------
  function setState(state, message, detail) {
    const label = {
      connecting: 'Connecting',
      live: 'Live',
      reconnecting: 'Reconnecting (attempt ' + samsyn.attempt + ')',
      waiting: 'Waiting for camera',
      error: 'Error',
    }[state];
    const changed = samsyn.state !== state || badge.textContent !== label;
    samsyn.state = state;
    document.body.dataset.state = state;
    badge.textContent = label;
    corner.textContent = label;
    messageEl.textContent = message || '';
    detailEl.textContent = detail || '';
    retryBtn.hidden = state !== 'error';
    if (changed) console.info('[samsyn] ' + label + (message ? ': ' + message : '') + (detail ? ' (' + detail + ')' : ''));
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
    if (s.abort) s.abort.abort();
    try { s.pc.close(); } catch (_) { /* ignore */ }
    if (s.location) deleteSession(s.location);
    samsyn.stats = {};
    renderStats();
    showLatency(null, 'not connected');
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

  // Connection lost, stalled, or the server had trouble: new session with backoff.
  function reconnect(why, message) {
    if (stopped) return;
    console.warn('[samsyn] reconnecting: ' + why);
    teardown();
    samsyn.attempt++;
    liveSince = 0;
    setState('reconnecting', message || MSG.lost);
    retryIn(backoff());
  }

  function waitForGathering(pc, maxMs) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        pc.removeEventListener('icegatheringstatechange', onChange);
        resolve();
      };
      const onChange = () => { if (pc.iceGatheringState === 'complete') done(); };
      const timer = setTimeout(done, maxMs);
      pc.addEventListener('icegatheringstatechange', onChange);
    });
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

  function describe(status, code, message) {
    return [code ? 'Code: ' + code : '', 'HTTP ' + status, message].filter(Boolean).join(' \u2014 ');
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
      setState('reconnecting', 'The server is busy or restarting \u2014 trying again\u2026', detail);
      retryIn(after > 0 ? Math.min(after * 1000, 30000) : backoff());
      return;
    }
    // Other 4xx: the server did not accept what we sent. Say so, keep trying slowly.
    setState('error', message || 'The server refused the connection.', detail);
    retryIn(backoff());
  }

  async function connect() {
    clearRetry();
    if (stopped) return;
    teardown();
    const my = ++gen;
    let pc;
    try {
      pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    } catch (e) {
      setState('error', MSG.noWebrtc, String(e && e.message || e));
      return;
    }
    const s = {
      gen: my,
      pc,
      stream: new MediaStream(),
      location: null,
      abort: new AbortController(),
      establishedAt: 0,
      lastProgress: 0,
      framesDecoded: 0,
      prev: null,
      disconnectTimer: null,
      gotFrame: false,
    };
    cur = s;

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
        unmuteBtn.title = '';
      }
      play();
    };
    pc.onconnectionstatechange = () => {
      if (cur !== s) return;
      const st = pc.connectionState;
      if (st === 'connected') {
        clearTimeout(s.disconnectTimer);
        s.disconnectTimer = null;
      } else if (st === 'failed') {
        reconnect('connection failed');
      } else if (st === 'disconnected' && !s.disconnectTimer) {
        s.disconnectTimer = setTimeout(() => {
          s.disconnectTimer = null;
          if (cur === s && pc.connectionState !== 'connected') reconnect('disconnected for more than 3 s');
        }, DISCONNECTED_GRACE);
      }
    };

    try {
      await pc.setLocalDescription(await pc.createOffer());
      await waitForGathering(pc, ICE_GATHER_MAX);
      if (cur !== s) return;
      const timeout = setTimeout(() => s.abort.abort(), POST_TIMEOUT);
      let res;
      try {
        res = await fetch(whepUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + token },
          body: pc.localDescription.sdp,
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
      samsyn.sessionUrl = sessionUrl;
      const answer = await res.text();
      if (cur !== s) return;
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
    } catch (e) {
      if (cur !== s) return;
      const aborted = e && e.name === 'AbortError';
      reconnect(aborted ? 'no answer from the server' : 'setup failed: ' + (e && e.message || e),
        aborted ? 'The server does not answer \u2014 trying again\u2026'
                : 'Cannot reach the server \u2014 trying again\u2026');
    }
  }

  // A frame arrived in the current session (rendered or decoded).
  function progress() {
    const s = cur;
    if (!s || !s.establishedAt) return;
    s.lastProgress = performance.now();
    if (!s.gotFrame) {
      s.gotFrame = true;
      liveSince = performance.now();
      samsyn.error = null;
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
    renderStats();
    measureLatency(s);

    const now = performance.now();
    if (decoded > s.framesDecoded) {
      s.framesDecoded = decoded;
      progress();   // also covers hidden tabs, where rendering callbacks pause
    }
    if (liveSince && now - liveSince > STABLE_AFTER) samsyn.attempt = 0;

    // Watchdogs. A hidden tab may not render; only judge what we can see.
    if (document.hidden) return;
    if (s.gotFrame && now - s.lastProgress > STALL_LIMIT) {
      reconnect('no new video for ' + Math.round((now - s.lastProgress) / 1000) + ' s', 'The video stopped \u2014 reconnecting\u2026');
    } else if (!s.gotFrame && now - s.establishedAt > FIRST_FRAME_LIMIT) {
      reconnect('no video within ' + FIRST_FRAME_LIMIT / 1000 + ' s', 'No video is arriving \u2014 reconnecting\u2026');
    }
  }

  function renderStats() {
    const st = samsyn.stats;
    const dash = '\u2014';
    statEls.res.textContent = st.width && st.height ? st.width + '\u00d7' + st.height + (st.codec ? ' ' + st.codec : '') : dash;
    statEls.fps.textContent = st.fps === null || st.fps === undefined ? dash : Math.round(st.fps) + ' fps';
    statEls.bitrate.textContent = st.bitrateKbps === null || st.bitrateKbps === undefined ? dash
      : st.bitrateKbps >= 1000 ? (st.bitrateKbps / 1000).toFixed(1) + ' Mbit/s' : st.bitrateKbps + ' kbit/s';
    statEls.rtt.textContent = st.rttMs === null || st.rttMs === undefined ? dash : st.rttMs + ' ms';
    statEls.lost.textContent = st.packetsLost === undefined ? dash
      : st.packetsLost + (st.lossPercent ? ' (' + st.lossPercent + ' %)' : '');
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
    const through = r.estimate_kbps ? 'about ' + r.estimate_kbps + ' kbit/s gets through' : null;
    const needs = r.stream_kbps ? 'the video needs ' + r.stream_kbps + ' kbit/s' : null;
    const lossy = r.loss_percent && r.loss_percent > 5 ? Math.round(r.loss_percent) + ' % of the video is lost on the way' : null;
    const facts = [through, needs, lossy].filter(Boolean).join(', ');
    return 'Your own network connection is too weak for this video' + (facts ? ' (' + facts + ')' : '') +
      '. The picture may stutter; the nurse\u2019s camera is fine. A wired or better Wi-Fi connection helps.';
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
      if (res.ok) report = await res.json();
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
  samsyn.latency = { ms: null, reason: 'not connected' };

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
    if (!s.captureTimesOffered) return showLatency(null, 'this browser does not report capture times');
    if (!s.captureTimesAnswered) return showLatency(null, 'the camera does not send capture times');
    const receiver = s.pc.getReceivers().find((r) => r.track && r.track.kind === 'video');
    const source = receiver ? receiver.getSynchronizationSources()[0] : null;
    if (!source || typeof source.captureTimestamp !== 'number') return showLatency(null, 'no capture time received yet');
    const delay = source.timestamp - (source.captureTimestamp - NTP_UNIX_OFFSET_MS);
    if (!(delay >= 0 && delay <= PLAUSIBLE_DELAY_MS)) {
      return showLatency(null, 'the camera laptop\u2019s clock and this computer\u2019s disagree (both need network time)');
    }
    return showLatency(delay, null);
  }

  function showLatency(ms, reason) {
    samsyn.latency = { ms: ms === null ? null : Math.round(ms), reason };
    latencyEl.textContent = ms === null ? 'unknown' : Math.round(ms) + ' ms';
    latencyEl.title = reason ? 'Not known: ' + reason : 'From the camera capturing a frame to this browser showing it';
  }

  // --- buttons ---------------------------------------------------------------------------
  function updateMuteButton() {
    unmuteBtn.textContent = video.muted ? 'Unmute' : 'Mute';
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
    fullscreenBtn.textContent = fullscreenElement() ? 'Exit full screen' : 'Full screen';
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
    $('room-label').textContent = info.label || 'Consultation ' + info.room;
    $('gateway-name').textContent = info.gateway || location.host;
    $('room-role').textContent = info.role === 'observer' ? '(watching as observer)' : '';
    $('room-info').hidden = false;
    document.title = (info.label || 'Consultation') + ' \u2014 ' + (info.gateway || 'samsyn');
    return true;
  }

  // --- start ---------------------------------------------------------------------------
  if (!token) {
    samsyn.error = { status: 0, code: 'no_token', message: 'no token in the link' };
    setState('error', MSG.noToken, 'Code: no_token');
    retryBtn.hidden = true;
  } else if (typeof RTCPeerConnection !== 'function') {
    samsyn.error = { status: 0, code: 'no_webrtc', message: 'RTCPeerConnection is missing' };
    setState('error', MSG.noWebrtc, 'Code: no_webrtc');
    retryBtn.hidden = true;
  } else {
    setState('connecting', MSG.connecting);
    showRoom().then((goOn) => { if (goOn) connect(); });
  }
})();
