// omnilive web page: talk view (camera + mic -> server, reply audio played here)
// and display view (captions, state and scene only).
// All text from the server is untrusted: it is only ever set with textContent.

const MSG_MIC = 0x01;
const MSG_FRAME = 0x02;
const MSG_AUDIO = 0x03;
const MIC_FRAME_SAMPLES = 512; // 32 ms at 16 kHz
const FRAME_INTERVAL_MS = 1000;
const FRAME_MAX_WIDTH = 640;

const STATE_LABELS = {
  idle: 'idle',
  listening: 'listening',
  hearing: 'hearing you',
  thinking: 'thinking',
  speaking: 'speaking',
  muted: 'muted',
};

const $ = (id) => document.getElementById(id);
const el = {
  state: $('state'), status: $('status'), busy: $('busy'), video: $('video'),
  scene: $('scene'), sceneAge: $('scene-age'), mute: $('mute'), volume: $('volume'),
  volumeValue: $('volume-value'), partial: $('partial'), reply: $('reply'),
  conversation: $('conversation'), metrics: $('metrics'), watches: $('watches'), fired: $('fired'),
};

const params = new URLSearchParams(location.search);
const token = params.get('token');
let view = params.get('view') === 'display' ? 'display' : 'talk';

// Counters a test can read with page.evaluate.
window.omnilive = {
  chunksReceived: 0, chunksPlayed: 0, samplesPlayed: 0, firstPlayedAt: null, flushes: 0,
  micStartedAt: null,  // performance.now() when the first mic message went out
  playStarts: [],      // performance.now() at which each run of reply audio starts playing
};

let ws = null;
let busy = false;
let ended = false;
let reconnectDelay = 1000;
let byeMessage = '';  // why the server ended the session, shown when the socket closes
let byeReason = '';
let muted = false;
let connText = 'connecting…';
let errText = '';
let clockT = null;        // latest session clock (media seconds)
let scene = null;         // {text, t}
let currentTurn = null;
const turns = new Map();  // turn -> {line, textEl, text}
const metricLines = new Map();
const watches = new Map();  // watch id -> its watch_set record
const FIRED_SHOWN = 8;      // the newest lines of what fired or ended

// ---------------------------------------------------------------- helpers

function setView(v) {
  view = v;
  document.body.classList.toggle('view-talk', v === 'talk');
  document.body.classList.toggle('view-display', v === 'display');
}

function renderStatus() {
  el.status.textContent = errText ? `${connText} — ${errText}` : connText;
  el.status.classList.toggle('error', Boolean(errText));
}
function setConn(text) { connText = text; renderStatus(); }
function setError(text) { errText = text; renderStatus(); }

function send(data) {
  if (ws && ws.readyState === WebSocket.OPEN) { ws.send(data); return true; }
  return false;
}
function sendJSON(obj) { return send(JSON.stringify(obj)); }

function addLine(kind, who, text) {
  const line = document.createElement('div');
  line.className = `line ${kind}`;
  if (who) {
    const w = document.createElement('span');
    w.className = 'who';
    w.textContent = who;
    line.append(w);
  }
  const t = document.createElement('span');
  t.className = 'text';
  t.textContent = text;
  line.append(t);
  el.conversation.append(line);
  el.conversation.scrollTop = el.conversation.scrollHeight;
  return { line, textEl: t };
}

function fmtMs(v) { return typeof v === 'number' && isFinite(v) ? `${Math.round(v)} ms` : '–'; }

// ---------------------------------------------------------------- capture

let stream = null;
let micCtx = null;
let frameTimer = null;
let frameBusy = false;
const canvas = document.createElement('canvas');

async function startCapture() {
  stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    video: { width: { ideal: 640 }, height: { ideal: 480 } },
  });
  el.video.muted = true;
  el.video.srcObject = stream;
  el.video.play().catch(() => {});

  if (stream.getAudioTracks().length) {
    micCtx = new AudioContext({ sampleRate: 16000 });
    await micCtx.audioWorklet.addModule('/static/mic-worklet.js');
    const source = micCtx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(micCtx, 'mic-capture', {
      numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
      processorOptions: { frameSize: MIC_FRAME_SAMPLES },
    });
    node.port.onmessage = (e) => sendMic(e.data);
    const silent = micCtx.createGain();  // pulls the worklet without local echo
    silent.gain.value = 0;
    source.connect(node).connect(silent).connect(micCtx.destination);
    micCtx.resume().catch(() => {});
  }
  frameTimer = setInterval(sendFrame, FRAME_INTERVAL_MS);
}

function stopCapture() {
  clearInterval(frameTimer);
  frameTimer = null;
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  if (micCtx) micCtx.close().catch(() => {});
  micCtx = null;
  el.video.srcObject = null;
}

function sendMic(f32) {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  if (window.omnilive.micStartedAt === null) window.omnilive.micStartedAt = performance.now();
  const n = f32.length;
  const buf = new ArrayBuffer(1 + 2 * n);
  const dv = new DataView(buf);
  dv.setUint8(0, MSG_MIC);
  if (!muted) {  // while muted, send silence: keeps the stream's timing, no audio leaves
    for (let i = 0; i < n; i++) {
      const s = Math.max(-1, Math.min(1, f32[i]));
      dv.setInt16(1 + 2 * i, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
  }
  ws.send(buf);
}

function sendFrame() {
  const v = el.video;
  if (frameBusy || !ws || ws.readyState !== WebSocket.OPEN) return;
  if (v.readyState < HTMLMediaElement.HAVE_CURRENT_DATA || !v.videoWidth) return;
  if (ws.bufferedAmount > 2_000_000) return;  // the link is slow: skip this frame
  const w = Math.min(FRAME_MAX_WIDTH, v.videoWidth);
  const h = Math.round(v.videoHeight * (w / v.videoWidth));
  canvas.width = w;
  canvas.height = h;
  canvas.getContext('2d').drawImage(v, 0, 0, w, h);
  frameBusy = true;
  canvas.toBlob(async (blob) => {
    try {
      if (!blob) return;
      const jpeg = new Uint8Array(await blob.arrayBuffer());
      const msg = new Uint8Array(1 + jpeg.length);
      msg[0] = MSG_FRAME;
      msg.set(jpeg, 1);
      send(msg.buffer);
    } finally {
      frameBusy = false;
    }
  }, 'image/jpeg', 0.8);
}

// ---------------------------------------------------------------- playback

let playCtx = null;
let playGain = null;
let nextStart = 0;
let sources = [];

function ensurePlayback() {
  if (!playCtx) {
    playCtx = new AudioContext();
    playGain = playCtx.createGain();
    playGain.gain.value = 1;  // volume is applied on the server
    playGain.connect(playCtx.destination);
  }
  if (playCtx.state === 'suspended') playCtx.resume().catch(() => {});
  return playCtx;
}

function playChunk(buf) {
  const om = window.omnilive;
  om.chunksReceived++;
  if (view !== 'talk' || buf.byteLength < 5) return;
  const dv = new DataView(buf);
  const rate = dv.getUint32(1, true);
  const n = (buf.byteLength - 5) >> 1;
  if (!n || rate < 3000 || rate > 768000) return;
  const ctx = ensurePlayback();
  const audio = ctx.createBuffer(1, n, rate);
  const ch = audio.getChannelData(0);
  for (let i = 0; i < n; i++) ch[i] = dv.getInt16(5 + 2 * i, true) / 32768;

  const src = ctx.createBufferSource();
  src.buffer = audio;
  src.connect(playGain);
  const at = Math.max(ctx.currentTime, nextStart);
  if (nextStart <= ctx.currentTime) om.playStarts.push(performance.now() + (at - ctx.currentTime) * 1000);
  src.start(at);
  nextStart = at + audio.duration;
  if (om.firstPlayedAt === null) om.firstPlayedAt = performance.now() + (at - ctx.currentTime) * 1000;
  sources.push(src);
  src.onended = () => {
    sources = sources.filter((s) => s !== src);
    if (src.flushed) return;
    om.chunksPlayed++;
    om.samplesPlayed += n;
  };
}

function flush(count = true) {
  for (const src of sources) {
    src.flushed = true;
    try { src.stop(); } catch { /* not started yet or already stopped */ }
  }
  sources = [];
  nextStart = 0;
  if (count) window.omnilive.flushes++;
}

// Autoplay policy: a suspended context starts on the first user gesture.
function resumeAudio() {
  if (micCtx && micCtx.state === 'suspended') micCtx.resume().catch(() => {});
  if (view === 'talk') ensurePlayback();
}
document.addEventListener('pointerdown', resumeAudio);
document.addEventListener('keydown', resumeAudio);

// ---------------------------------------------------------------- display

function setState(s) {
  el.state.dataset.state = s;
  el.state.textContent = STATE_LABELS[s] || s;
}

function renderSceneAge() {
  if (!scene || clockT === null || typeof scene.t !== 'number') { el.sceneAge.textContent = ''; return; }
  const age = Math.max(0, Math.round(clockT - scene.t));
  el.sceneAge.textContent = age < 120 ? `${age} s ago` : `${Math.round(age / 60)} min ago`;
}

function turnEntry(turn) {
  let entry = turns.get(turn);
  if (!entry) {
    entry = { ...addLine('assistant', 'Assistant', ''), text: '' };
    entry.line.dataset.turn = String(turn);
    turns.set(turn, entry);
  }
  return entry;
}

// ---------------------------------------------------------------- watches

function watchLabel(w) {
  const what = w.kind === 'text' ? `the sign saying ${w.text}`
    : w.kind === 'gone' ? `${w.name} going`
    : w.kind === 'change' ? 'any change' : String(w.name ?? '');
  return `${what}${w.every ? ' (every time)' : ''}`;
}

function renderWatches() {
  el.watches.replaceChildren();
  for (const w of watches.values()) {
    const li = document.createElement('li');
    li.textContent = watchLabel(w);
    li.dataset.watch = String(w.watch);
    el.watches.append(li);
  }
  if (!watches.size) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'Nothing: ask "Tell me when you see a cat."';
    el.watches.append(li);
  }
}

function addFired(kind, text) {
  const li = document.createElement('li');
  li.className = kind;
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  el.fired.prepend(li);
  while (el.fired.children.length > FIRED_SHOWN) el.fired.lastChild.remove();
}

function onEvent(ev) {
  if (!ev || typeof ev !== 'object') return;
  if (typeof ev.t === 'number') clockT = Math.max(clockT ?? ev.t, ev.t);
  switch (ev.type) {
    case 'transcript': {
      const text = String(ev.text ?? '');
      el.partial.textContent = text ? `You: ${text}` : '';
      el.partial.dataset.final = ev.final ? 'true' : 'false';
      if (ev.final && text) addLine('you', 'You', text);
      break;
    }
    case 'reply_chunk': {
      const entry = turnEntry(ev.turn);
      entry.text += String(ev.text ?? '');
      entry.textEl.textContent = entry.text;
      if (currentTurn !== ev.turn) currentTurn = ev.turn;
      el.reply.textContent = entry.text;
      el.conversation.scrollTop = el.conversation.scrollHeight;
      break;
    }
    case 'reply_text': {
      const entry = turnEntry(ev.turn);
      entry.text = String(ev.text ?? '');
      entry.textEl.textContent = entry.text;
      entry.line.classList.toggle('interrupted', Boolean(ev.interrupted));
      entry.line.querySelector('.note')?.remove();
      if (ev.interrupted) {
        const note = document.createElement('span');
        note.className = 'note';
        note.textContent = ' (interrupted)';
        entry.line.append(note);
      }
      if (currentTurn === null || !(ev.turn < currentTurn)) {
        currentTurn = ev.turn;
        el.reply.textContent = entry.text + (ev.interrupted ? ' (interrupted)' : '');
      }
      break;
    }
    case 'scene': {
      scene = { text: String(ev.text ?? ''), t: ev.t };
      el.scene.textContent = scene.text;
      el.scene.classList.remove('empty');
      renderSceneAge();
      break;
    }
    case 'turn_metrics': {
      let li = metricLines.get(ev.turn);
      if (!li) {
        li = document.createElement('li');
        metricLines.set(ev.turn, li);
        el.metrics.append(li);
      }
      const head = typeof ev.first_audio_ms === 'number'
        ? `first audio ${Math.round(ev.first_audio_ms)} ms after you stopped`
        : 'no audio';
      li.textContent = `turn ${ev.turn}: ${head} (VAD ${fmtMs(ev.vad_end_ms)}, transcript ${fmtMs(ev.asr_final_ms)}, `
        + `first token ${fmtMs(ev.first_token_ms)}, first sentence ${fmtMs(ev.first_chunk_ms)}, `
        + `first audio ${fmtMs(ev.first_audio_ms)})`;
      break;
    }
    case 'barge_in':
      addLine('barge', '', '— you interrupted —');
      break;
    case 'watch_set':
      watches.set(ev.watch, ev);
      renderWatches();
      break;
    case 'watch_fired':
      addFired('fired', String(ev.said ?? ev.name ?? ''));
      break;
    case 'watch_cleared':
      if (watches.has(ev.watch) && ev.reason !== 'fired') {
        addFired('cleared', `no longer watching for ${watchLabel(watches.get(ev.watch))} (${ev.reason})`);
      }
      watches.delete(ev.watch);
      renderWatches();
      break;
    case 'error':
      setError(`error${ev.stage ? ` (${ev.stage})` : ''}: ${ev.message ?? ev.code ?? 'unknown'}`);
      break;
    case 'session_end':
      // A server that stops or fails comes back: the page reconnects; a session that ended for good does not.
      ended = !['stopping', 'error'].includes(byeReason);
      setConn(byeMessage || `session ended (${ev.reason ?? 'unknown'})`);
      break;
    default:
      break;
  }
}

function onText(data) {
  let msg;
  try { msg = JSON.parse(data); } catch { return; }
  if (!msg || typeof msg !== 'object') return;
  switch (msg.type) {
    case 'hello':
      reconnectDelay = 1000;  // only a session that started resets the back-off, not an open socket
      window.omnilive.session = msg.session;
      setConn(`connected (${msg.view ?? view}) — session ${msg.session ?? '?'}`
        + (msg.out ? `, output ${msg.out}` : ''));
      break;
    case 'busy':
      busy = true;
      el.busy.textContent = String(msg.message ?? 'The assistant is busy.');
      el.busy.hidden = false;
      stopCapture();
      flush(false);
      setConn('busy');
      break;
    case 'bye':  // the server says why it ends this session: shown; the conversation so far stays
      byeMessage = String(msg.message ?? 'The server ended the session.');
      byeReason = String(msg.reason ?? '');
      setError(byeMessage);
      break;
    case 'flush':
      flush();
      break;
    case 'state':
      setState(String(msg.state ?? ''));
      break;
    case 'tick':
      if (typeof msg.t === 'number') { clockT = msg.t; renderSceneAge(); }
      break;
    case 'event':
      onEvent(msg.event);
      break;
    case 'watches':  // the standing watches, for a page that joins after they were set
      watches.clear();
      for (const w of Array.isArray(msg.watches) ? msg.watches : []) {
        if (w && typeof w === 'object') watches.set(w.watch, w);
      }
      renderWatches();
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------- socket

function wsURL() {
  const q = new URLSearchParams();
  if (token) q.set('token', token);
  q.set('view', view);
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws?${q}`;
}

function connect() {
  setConn('connecting…');
  ws = new WebSocket(wsURL());
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {
    setConn('connected');
    if (view === 'talk') {
      if (muted) sendJSON({ type: 'mute', muted: true });
      if (el.volume.value !== '100') sendJSON({ type: 'volume', level: Number(el.volume.value) / 100 });
    }
  };
  ws.onmessage = (e) => {
    if (typeof e.data === 'string') { onText(e.data); return; }
    const buf = e.data;
    if (buf.byteLength && new Uint8Array(buf, 0, 1)[0] === MSG_AUDIO) playChunk(buf);
  };
  ws.onclose = (e) => {
    flush(false);
    if (busy) { setConn('busy: the server closed the connection'); return; }
    if (ended) return;
    const why = byeMessage || `disconnected${e.code ? ` (${e.code})` : ''}`;
    byeMessage = '';
    byeReason = '';
    setConn(`${why} Reconnecting in ${Math.round(reconnectDelay / 1000)} s; the conversation above stays.`);
    setTimeout(connect, reconnectDelay);
    reconnectDelay = Math.min(reconnectDelay * 2, 15000);
  };
  ws.onerror = () => {}; // onclose follows and reports
}

// ---------------------------------------------------------------- controls

el.mute.addEventListener('click', () => {
  muted = !muted;
  el.mute.textContent = muted ? 'Unmute' : 'Mute';
  el.mute.setAttribute('aria-pressed', String(muted));
  sendJSON({ type: 'mute', muted });
});

el.volume.addEventListener('input', () => {
  el.volumeValue.textContent = `${el.volume.value}%`;
  sendJSON({ type: 'volume', level: Number(el.volume.value) / 100 });
});

// ---------------------------------------------------------------- start

async function main() {
  setView(view);
  if (view === 'talk') {
    try {
      ensurePlayback();
      await startCapture();
    } catch (err) {
      stopCapture();
      setError(`camera/microphone unavailable: ${err && err.name ? `${err.name}: ` : ''}${err && err.message ? err.message : err}`);
      setView('display');
    }
  }
  connect();
}

main();
