// samsyn talk-back: the specialist speaks to the nurse (and everyone else
// in the consultation) from this page, and hears the other speakers.
//
// Served at /r/assets/talkback.js and loaded before viewer.js, which asks
// it for the audio part of each WHEP offer:
//   - the first audio m-line carries the nurse's voice down and, for a
//     specialist with a microphone, this page's voice up (sendrecv);
//   - SLOTS more recvonly audio m-lines carry the other speakers, one each
//     (the gateway fills them; see signaling/src/media.rs, `Listener`).
// Observers listen only: they are never asked for a microphone.
//
// The microphone is asked for once per page and kept across reconnects.
// "Mute my microphone" stops sending speech (the track sends silence);
// "Hold to talk" (or holding the space bar) speaks while muted. (The
// page's other sound button, viewer.js's #unmute, is about hearing the
// nurse, not about this microphone.) Texts from the page's catalogue
// (i18n/viewer.js) through i18n/lang.js. The volume slider sets
// how loud everyone else is, the nurse included, up to 300 % for a
// listener who is hard of hearing (see "above 100 %" below).
//
// For tests: window.samsynTalkback = { mic, muted, talking, volume, slots,
// speakers, energies(), amplifierLevels() } and
// <body data-mic="on|muted|none|denied|off">.
'use strict';

(() => {
  const t = window.samsynI18n ? window.samsynI18n.t : (key) => key;
  const SLOTS = 3;   // other speakers heard at once: a second specialist, the GP, one more

  const state = {
    mic: 'off',       // on | muted | none (no device) | denied | off (observer, or not asked yet)
    muted: false,
    talking: false,   // "hold to talk" held
    volume: 1,        // 0..3, for everyone this page plays
    slots: SLOTS,
    speakers: 0,      // talk-back tracks received in the current session
  };
  window.samsynTalkback = state;

  let microphone = null;      // MediaStreamTrack, once granted
  let asked = null;           // the one getUserMedia promise
  const players = new Set();  // <audio> elements of the other speakers
  let receivers = [];         // their RTCRtpReceivers, for the energy they carried

  // --- controls ------------------------------------------------------------------
  const el = (tag, props) => Object.assign(document.createElement(tag), props || {});
  const muteBtn = el('button', { id: 'mic-mute', type: 'button', textContent: t('mic.mute'), hidden: true });
  const talkBtn = el('button', { id: 'mic-talk', type: 'button', textContent: t('mic.hold'), hidden: true });
  talkBtn.title = t('mic.holdTitle');
  const micNote = el('span', { id: 'mic-note', className: 'mic-note' });
  const volume = el('input', { id: 'volume', type: 'range', min: '0', max: '300', step: '10', value: '100' });
  volume.setAttribute('aria-label', t('volume.label'));
  volume.setAttribute('aria-valuetext', '100 %');
  const volumeLabel = el('label', { className: 'volume', textContent: t('volume.text') + ' ' });
  volumeLabel.append(volume);

  function mount() {
    const buttons = document.querySelector('.controls .buttons');
    if (buttons) buttons.append(muteBtn, talkBtn, micNote, volumeLabel);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', mount);
  else mount();

  const MIC_WORDS = {
    on: t('mic.on'),
    muted: t('mic.muted'),
    none: t('mic.none'),
    denied: t('mic.denied'),
    off: '',
  };

  function render() {
    const speaking = microphone && (!state.muted || state.talking);
    if (microphone) microphone.enabled = Boolean(speaking);
    state.mic = microphone ? (speaking ? 'on' : 'muted') : state.mic;
    document.body.dataset.mic = state.mic;
    muteBtn.hidden = talkBtn.hidden = !microphone;
    muteBtn.textContent = state.muted ? t('mic.unmute') : t('mic.mute');
    muteBtn.setAttribute('aria-pressed', state.muted ? 'true' : 'false');
    talkBtn.disabled = !state.muted;
    talkBtn.setAttribute('aria-pressed', state.talking ? 'true' : 'false');
    micNote.textContent = MIC_WORDS[state.mic] || '';
  }

  muteBtn.addEventListener('click', () => { state.muted = !state.muted; render(); });
  const hold = (on) => { if (state.talking !== on) { state.talking = on; render(); } };
  talkBtn.addEventListener('pointerdown', () => hold(true));
  for (const ev of ['pointerup', 'pointerleave', 'pointercancel']) talkBtn.addEventListener(ev, () => hold(false));
  document.addEventListener('keydown', (ev) => {
    const typing = ev.target && /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(ev.target.tagName);
    if (ev.code === 'Space' && state.muted && microphone && !typing) { ev.preventDefault(); hold(true); }
  });
  document.addEventListener('keyup', (ev) => { if (ev.code === 'Space') hold(false); });
  window.addEventListener('blur', () => hold(false));

  volume.addEventListener('input', () => {
    state.volume = Number(volume.value) / 100;
    volume.setAttribute('aria-valuetext', `${volume.value} %`);
    volume.title = `${volume.value} %`;
    applyVolume();
  });

  // The other speakers follow the page's own sound button, #unmute
  // (autoplay rules).
  function followVideoMute(player) {
    const video = document.getElementById('video');
    player.muted = video ? video.muted : false;
  }
  document.addEventListener('volumechange', (ev) => {
    if (!ev.target || ev.target.id !== 'video') return;
    for (const player of players) followVideoMute(player);
    applyVolume();
  }, true);

  // --- above 100 % -------------------------------------------------------------------
  // A media element plays at most at its full volume. From the first time
  // the slider goes above 100 %, what the page hears goes through WebAudio
  // instead: each heard track (the nurse's, the other speakers') → a mix
  // (with an AnalyserNode: what is heard) → one GainNode (0 to 3) → an
  // AnalyserNode (what is played) → the speakers. The two analysers let a
  // test compare what is played with what is heard at the same moment.
  // The elements play on at volume 0: Chromium only pulls a remote track
  // into WebAudio while an element plays it.
  let amp = null;          // { ctx, mix, heard, gain, played, sources } once boosted
  let nurseTrack = null;   // the current session's nurse's voice

  function amplifier() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;   // no WebAudio: the volume stays capped at 100 %
    const ctx = new Context();
    const mix = ctx.createGain();
    const gain = ctx.createGain();
    const heard = ctx.createAnalyser();
    const played = ctx.createAnalyser();
    heard.fftSize = played.fftSize = 2048;
    mix.connect(heard);
    mix.connect(gain).connect(played).connect(ctx.destination);
    return { ctx, mix, heard, gain, played, sources: new Map() };
  }

  // Sends `track` through the amplifier, once.
  function amplify(track) {
    if (!amp || !track || amp.sources.has(track)) return;
    const source = amp.ctx.createMediaStreamSource(new MediaStream([track]));
    source.connect(amp.mix);
    amp.sources.set(track, source);
    track.addEventListener('ended', () => { source.disconnect(); amp.sources.delete(track); });
  }

  // How loud each element plays: all of it through the amplifier once it exists.
  const elementVolume = () => (amp ? 0 : Math.min(state.volume, 1));

  function applyVolume() {
    if (state.volume > 1 && !amp) amp = amplifier();
    const video = document.getElementById('video');
    if (video) video.volume = elementVolume();
    for (const player of players) player.volume = elementVolume();
    if (!amp) return;
    amplify(nurseTrack);
    for (const player of players) amplify(player.srcObject && player.srcObject.getAudioTracks()[0]);
    // The page's own Unmute (video.muted) silences the amplifier too.
    amp.gain.gain.value = video && video.muted ? 0 : state.volume;
    if (amp.ctx.state === 'suspended') amp.ctx.resume().catch(() => { /* waits for a click */ });
  }

  // What the amplifier hears and plays now: RMS of the last 2048 samples
  // before and after its gain, in dBFS (-100 for silence, or before the
  // volume first went above 100 %).
  const levelOf = (analyser) => {
    const samples = new Float32Array(analyser.fftSize);
    analyser.getFloatTimeDomainData(samples);
    const rms = Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
    return rms > 0 ? Math.max(-100, 20 * Math.log10(rms)) : -100;
  };
  state.amplifierLevels = () => (amp
    ? { heard: levelOf(amp.heard), played: levelOf(amp.played) }
    : { heard: -100, played: -100 });

  async function askForMicrophone() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      state.mic = 'none';
      return null;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
      microphone = stream.getAudioTracks()[0] || null;
      if (!microphone) state.mic = 'none';
    } catch (e) {
      state.mic = e && (e.name === 'NotAllowedError' || e.name === 'SecurityError') ? 'denied' : 'none';
      console.info('[samsyn] no microphone: ' + (e && e.name));
    }
    render();
    return microphone;
  }

  // --- what viewer.js calls ---------------------------------------------------------
  // Adds the offer's audio m-lines to `pc`; returns the transceiver that
  // carries the nurse's voice. Never waits for the microphone: the video
  // must not wait for someone to answer the browser's question. A
  // specialist's first m-line is sendrecv from the start, and the
  // microphone joins it when granted (no new offer needed).
  let upline = null;   // the current session's sendrecv transceiver
  state.addTransceivers = (pc, role) => {
    state.speakers = 0;
    const specialist = role === 'specialist';
    const nurse = pc.addTransceiver('audio', { direction: specialist ? 'sendrecv' : 'recvonly' });
    for (let i = 0; i < SLOTS; i++) pc.addTransceiver('audio', { direction: 'recvonly' });
    upline = specialist ? nurse : null;
    nurseTrack = nurse.receiver.track;
    applyVolume();
    if (specialist) {
      asked = asked || askForMicrophone();
      asked.then((track) => {
        if (track && upline === nurse) nurse.sender.replaceTrack(track).catch(() => { /* session gone */ });
      });
    }
    render();
    return nurse;
  };

  // Plays another speaker's track; viewer.js hands over every audio track
  // that is not the nurse's.
  state.play = (track, receiver) => {
    if (receiver) receivers.push(receiver);
    const player = el('audio', { autoplay: true });
    player.srcObject = new MediaStream([track]);
    player.volume = elementVolume();
    amplify(track);
    followVideoMute(player);
    player.dataset.talkback = '';
    player.hidden = true;
    document.body.append(player);
    players.add(player);
    state.speakers++;
    track.addEventListener('ended', () => { players.delete(player); player.remove(); });
    const p = player.play();
    if (p && p.catch) p.catch(() => { /* waits for the page's Unmute */ });
  };

  // The session ended: its speakers' players go with it.
  state.reset = () => {
    for (const player of players) player.remove();
    players.clear();
    receivers = [];
    state.speakers = 0;
  };

  // The sound energy (WebRTC's totalAudioEnergy) each other speaker's
  // m-line has brought so far; silence adds nothing.
  state.energies = async () => Promise.all(receivers.map(async (receiver) => {
    let energy = 0;
    try {
      (await receiver.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp') energy = r.totalAudioEnergy || 0;
      });
    } catch (_) { /* the session ended */ }
    return energy;
  }));
})();
