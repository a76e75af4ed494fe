// The Watch area: plays a video item of the network. The node runs the
// player (a watch session: buffer, ABR, QoE; see docs/API.md); this page
// only renders: it takes the session's segments in order from
// /api/v1/watch/ID/next and feeds them to Media Source Extensions, reports
// the play position back, and shows the rendition, the buffer, a plot of
// buffer level and bitrate, where each segment came from and the QoE.

import { colors, prepare } from '../canvas.js';
import { h } from '../dom.js';
import { bytes } from '../format.js';

export default { id: 'watch', title: 'Watch', render };

const reportMs = 500;
const plotSpanS = 120;

function render(root, { api, signal }) {
  const pick = h('select', { id: 'watch-item', 'aria-label': 'Video to watch' });
  const abrPick = h('select', { id: 'watch-abr', 'aria-label': 'Rate adaptation' },
    h('option', { value: 'shoal' }, "Shoal's ABR"),
    h('option', { value: 'bolae' }, 'BOLA-E'),
    h('option', { value: 'throughput' }, 'Throughput'));
  const play = h('button', { id: 'watch-play', type: 'submit', class: 'button primary' }, 'Play');
  const stopButton = h('button', { id: 'watch-stop', type: 'button', class: 'button quiet', hidden: true }, 'Stop');
  const error = h('p', { id: 'watch-error', class: 'error', role: 'alert', hidden: true });
  const empty = h('p', { id: 'watch-empty', class: 'muted', hidden: true },
    'No video in the network yet. Publish one with ', h('code', {}, 'shoal publish --video FILE'), '.');
  const video = h('video', { id: 'watch-video', class: 'watch-video', controls: true, muted: true, playsinline: true });
  video.muted = true; // autoplay is allowed for muted media; the controls unmute
  const rendPick = h('select', { id: 'watch-rendition-pick', 'aria-label': 'Rendition' });
  const readout = {
    rendition: h('span', { id: 'watch-rendition', class: 'tabular' }),
    buffer: h('span', { id: 'watch-buffer', class: 'tabular' }),
    bitrate: h('span', { id: 'watch-bitrate', class: 'tabular' }),
    source: h('span', { id: 'watch-source' }),
    qoe: h('span', { id: 'watch-qoe', class: 'tabular' }),
    stalls: h('span', { id: 'watch-stalls', class: 'tabular' }),
  };
  const plot = h('canvas', { id: 'watch-plot', class: 'rate-plot', 'aria-label': 'Buffer level and bitrate over time' });
  const segments = h('tbody', { id: 'watch-segments' });

  const form = h('form', { id: 'watch-form', class: 'watch-form' }, pick, abrPick, play, stopButton);
  root.append(
    h('section', { class: 'card', 'aria-labelledby': 'watch-title' },
      h('div', { class: 'card-head' }, h('h2', { id: 'watch-title' }, 'Watch')),
      form, empty, error, video,
      h('dl', { class: 'facts' },
        fact('Rendition', h('span', {}, readout.rendition, ' ', rendPick)),
        fact('Buffer', readout.buffer),
        fact('Bitrate', readout.bitrate),
        fact('Last segment from', readout.source),
        fact('QoE', readout.qoe),
        fact('Stalls', readout.stalls))),
    h('section', { class: 'card', 'aria-labelledby': 'watch-plot-title' },
      h('div', { class: 'card-head' }, h('h2', { id: 'watch-plot-title' }, 'Buffer and bitrate')),
      plot),
    h('section', { class: 'card', 'aria-labelledby': 'watch-seg-title' },
      h('div', { class: 'card-head' }, h('h2', { id: 'watch-seg-title' }, 'Segments')),
      h('table', { class: 'services' },
        h('thead', {}, h('tr', {}, ...['Track', 'Segment', 'Rendition', 'Size', 'Took', 'From'].map((c) => h('th', { scope: 'col' }, c)))),
        segments)));

  let session = null; // {id, feeder, samples}
  signal.addEventListener('abort', () => stop(), { once: true });

  async function loadItems() {
    try {
      const entries = await api.get('/api/v1/catalog');
      const videos = (entries ?? []).filter((e) => e.item.kind === 'video' && e.item.files?.some((f) => f.path === 'manifest.mpd'));
      const chosen = pick.value;
      pick.replaceChildren(...videos.map((e) => h('option', { value: e.item.infohash }, e.item.name)));
      if (videos.some((e) => e.item.infohash === chosen)) pick.value = chosen;
      // The Library's Play button names the video to play.
      const wanted = sessionStorage.getItem('shoal.watch');
      if (wanted && videos.some((e) => e.item.infohash === wanted)) {
        sessionStorage.removeItem('shoal.watch');
        pick.value = wanted;
        form.requestSubmit();
      }
      empty.hidden = videos.length > 0;
      play.disabled = videos.length === 0;
    } catch (err) {
      showError(err.message);
    }
  }
  loadItems();
  const itemsTimer = setInterval(() => { if (!session) loadItems(); }, 3000);
  signal.addEventListener('abort', () => clearInterval(itemsTimer), { once: true });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!pick.value) return;
    await stop();
    showError('');
    play.disabled = true;
    try {
      const ws = await api.post('/api/v1/watch', { infohash: pick.value, abr: abrPick.value });
      rendPick.replaceChildren(h('option', { value: '-1' }, 'auto'),
        ...ws.state.renditions.map((r, i) => h('option', { value: String(i) }, `${r.height}p ${kbps(r.bandwidth)}`)));
      const feeder = new Feeder(api, ws.id, video, ws.state, showError);
      session = { id: ws.id, feeder, samples: [] };
      stopButton.hidden = false;
      show(ws.state);
      await feeder.start();
      video.play().catch(() => {});
    } catch (err) {
      showError(err.message);
    } finally {
      play.disabled = false;
    }
  });
  stopButton.addEventListener('click', () => stop());
  rendPick.addEventListener('change', () => {
    if (session) api.post(`/api/v1/watch/${session.id}/rendition`, { rendition: Number(rendPick.value) }).catch((err) => showError(err.message));
  });

  // Position reports: the answer is the session's state, shown at once.
  let stalled = false;
  video.addEventListener('waiting', () => { stalled = true; });
  video.addEventListener('playing', () => {
    stalled = false;
    reportNow(); // the first frame ends start-up: say so at once
  });
  video.addEventListener('error', () => showError(`the video cannot play: ${video.error?.message || video.error?.code}`));
  const reporter = setInterval(() => reportNow(), reportMs);
  async function reportNow() {
    if (!session || !video.src) return;
    const s = session;
    try {
      const st = await api.post(`/api/v1/watch/${s.id}/position`, {
        position: Math.max(0, video.currentTime),
        playing: !video.paused && !stalled && video.readyState >= 3,
        stalled: !video.paused && stalled,
      });
      if (session === s) show(st);
    } catch (err) {
      if (session === s) showError(err.message);
    }
  }
  signal.addEventListener('abort', () => clearInterval(reporter), { once: true });

  video.addEventListener('seeking', () => {
    if (!session) return;
    const t = video.currentTime;
    const b = video.buffered;
    for (let i = 0; i < b.length; i++) if (t >= b.start(i) && t < b.end(i) - 0.1) return;
    session.feeder.seek(t).catch((err) => showError(err.message));
  });

  async function stop() {
    const s = session;
    session = null;
    stopButton.hidden = true;
    if (!s) return;
    s.feeder.close();
    await api.del(`/api/v1/watch/${s.id}`).catch(() => {});
  }

  function show(st) {
    const r = st.renditions[st.rendition];
    readout.rendition.textContent = r ? `${r.width}×${r.height}, ${kbps(r.bandwidth)}${st.fixed_rendition >= 0 ? ' (fixed)' : ` (${st.abr})`}` : '—';
    readout.buffer.textContent = `${(st.buffer_ns / 1e9).toFixed(1)} s of ${(st.buffer_max_ns / 1e9).toFixed(0)} s`;
    const history = st.history ?? [];
    const last = history.filter((x) => x.track === 'video' && !x.abandoned).at(-1);
    readout.bitrate.textContent = last ? kbps(last.bitrate) : '—';
    readout.source.textContent = last ? last.from : '—';
    const q = st.qoe;
    readout.qoe.textContent = q.started
      ? `start-up ${(q.startup_ns / 1e6).toFixed(0)} ms · mean ${q.mean_bitrate_kbps.toFixed(0)} kbps · ${q.switches} switches · QoE_lin ${q.qoe_lin.toFixed(2)}`
      : 'starting';
    readout.stalls.textContent = `${q.rebuffers} (${q.rebuffer_seconds.toFixed(1)} s)`;
    if (st.error) showError(st.error);
    if (session) {
      session.samples.push({ t: Date.now(), buffer: st.buffer_ns / 1e9, bitrate: last ? last.bitrate : 0 });
      if (session.samples.length > plotSpanS * 4) session.samples.shift();
      drawPlot(plot, session.samples, st.buffer_max_ns / 1e9, Math.max(...st.renditions.map((x) => x.bandwidth)));
    }
    segments.replaceChildren(...history.slice(-12).reverse().map((x) =>
      h('tr', { dataset: { from: x.from } },
        h('td', {}, x.track), h('td', {}, String(x.segment)),
        h('td', {}, x.track === 'video' ? `${st.renditions[x.rendition]?.height ?? '?'}p` : 'audio'),
        h('td', {}, bytes(x.size)), h('td', {}, `${(x.took_ns / 1e6).toFixed(0)} ms${x.abandoned ? ' (abandoned)' : ''}`),
        h('td', {}, x.from))));
  }

  function showError(msg) {
    error.textContent = msg;
    error.hidden = !msg;
  }
}

function fact(label, value) {
  return h('div', { class: 'fact' }, h('dt', {}, label), h('dd', {}, value));
}

function kbps(bps) {
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} Mb/s` : `${Math.round(bps / 1000)} kb/s`;
}

// drawPlot draws buffer level (s, left axis) and bitrate (right axis) over
// the last minutes.
function drawPlot(canvas, samples, bufMax, topRate) {
  const p = prepare(canvas);
  if (!p) return;
  const { ctx, width, height } = p;
  const c = colors('plot-down', 'plot-up', 'plot-grid', 'plot-axis', 'plot-text');
  const now = Date.now();
  const left = 40, right = 64, top = 10, bottom = 20;
  const pw = width - left - right, ph = height - top - bottom;
  if (pw < 10 || ph < 10) return;
  const x = (t) => left + pw - ((now - t) / 1000 / plotSpanS) * pw;
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = c['plot-text'];
  ctx.strokeStyle = c['plot-grid'];
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const yy = Math.round(top + ph - (i / 4) * ph) + 0.5;
    ctx.beginPath();
    ctx.moveTo(left, yy);
    ctx.lineTo(left + pw, yy);
    ctx.stroke();
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    ctx.fillText(`${((bufMax * i) / 4).toFixed(0)} s`, left - 6, yy);
    ctx.textAlign = 'left';
    ctx.fillText(kbps((topRate * i) / 4), left + pw + 6, yy);
  }
  const line = (key, scale, color) => {
    ctx.beginPath();
    samples.forEach((s, i) => {
      const yy = top + ph - Math.min(1, s[key] / scale) * ph;
      if (i) ctx.lineTo(x(s.t), yy);
      else ctx.moveTo(x(s.t), yy);
    });
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.stroke();
  };
  line('buffer', bufMax, c['plot-down']);
  line('bitrate', topRate, c['plot-up']);
}

// Feeder moves a session's chunks into a MediaSource, one SourceBuffer per
// track, dropping what it buffered when a seek starts a new generation.
class Feeder {
  constructor(api, id, video, state, onError) {
    this.api = api;
    this.id = id;
    this.video = video;
    this.state = state;
    this.onError = onError;
    this.tracks = state.audio ? ['video', 'audio'] : ['video'];
    this.abort = new AbortController();
    this.generation = 0;
    this.buffers = {};
    this.ended = {};
    this.waiters = [];
  }

  async start() {
    const ms = new MediaSource();
    this.ms = ms;
    this.video.src = URL.createObjectURL(ms);
    await new Promise((resolve) => ms.addEventListener('sourceopen', resolve, { once: true }));
    ms.duration = this.state.duration_ns / 1e9;
    // Every SourceBuffer is added before anything is appended: the first
    // chunk of each track is its initialization segment.
    const firsts = {};
    for (const track of this.tracks) {
      const c = await this.next(track);
      if (!c || !c.init) throw new Error(`no initialization segment for the ${track}`);
      firsts[track] = c;
      this.buffers[track] = ms.addSourceBuffer(`${c.mime}; codecs="${c.codecs}"`);
    }
    for (const track of this.tracks) this.pump(track, firsts[track]);
  }

  close() {
    this.abort.abort();
    if (this.video.src) {
      URL.revokeObjectURL(this.video.src);
      this.video.removeAttribute('src');
      this.video.load();
    }
  }

  async seek(t) {
    const st = await this.api.post(`/api/v1/watch/${this.id}/seek`, { position: t });
    this.generation = st.generation;
    this.ended = {};
    for (const w of this.waiters.splice(0)) w();
  }

  // next fetches the next chunk of track; null when none came in time.
  async next(track) {
    const res = await fetch(`/api/v1/watch/${this.id}/next?track=${track}&wait=10`, {
      credentials: 'same-origin', cache: 'no-store', signal: this.abort.signal,
    });
    if (res.status === 204) return res.headers.get('X-Shoal-Ended') === '1' ? { ended: true } : null;
    if (!res.ok) {
      let msg = `${res.status}`;
      try { msg = (await res.json()).error; } catch { /* not JSON */ }
      throw new Error(msg);
    }
    const hd = (k) => res.headers.get(`X-Shoal-${k}`);
    return {
      init: hd('Init') === '1', generation: Number(hd('Generation')), segment: Number(hd('Segment')),
      rendition: Number(hd('Rendition')), start: Number(hd('Start')), codecs: hd('Codecs'), mime: hd('Mime'),
      data: await res.arrayBuffer(),
    };
  }

  async pump(track, first) {
    const sb = this.buffers[track];
    let c = first;
    let codecs = first.codecs;
    try {
      for (;;) {
        if (this.abort.signal.aborted) return;
        if (!c) {
          c = await this.next(track);
          continue;
        }
        if (c.ended) {
          this.ended[track] = true;
          this.maybeEnd();
          // Wait for a seek to start another generation.
          await new Promise((resolve) => this.waiters.push(resolve));
          c = null;
          continue;
        }
        if (c.generation < this.generation) { c = null; continue; } // from before a seek
        if (c.generation > this.generation) this.generation = c.generation;
        if (c.generation !== (sb.generation ?? 0)) {
          sb.generation = c.generation;
          await this.op(sb, () => sb.abort());
          await this.op(sb, () => sb.remove(0, Infinity));
        }
        if (c.init && c.codecs !== codecs && sb.changeType) {
          sb.changeType(`${c.mime}; codecs="${c.codecs}"`);
          codecs = c.codecs;
        }
        await this.room(sb);
        await this.op(sb, () => sb.appendBuffer(c.data));
        c = null;
      }
    } catch (err) {
      if (!this.abort.signal.aborted) this.onError(`${track}: ${err.message}`);
    }
  }

  // op runs one SourceBuffer operation and waits for it to finish.
  op(sb, fn) {
    return new Promise((resolve, reject) => {
      if (sb.updating) {
        sb.addEventListener('updateend', () => this.op(sb, fn).then(resolve, reject), { once: true });
        return;
      }
      const done = () => {
        sb.removeEventListener('updateend', done);
        sb.removeEventListener('error', fail);
        resolve();
      };
      const fail = () => {
        sb.removeEventListener('updateend', done);
        sb.removeEventListener('error', fail);
        reject(new Error('the browser refused a segment'));
      };
      sb.addEventListener('updateend', done);
      sb.addEventListener('error', fail);
      try {
        fn();
      } catch (err) {
        sb.removeEventListener('updateend', done);
        sb.removeEventListener('error', fail);
        if (err.name === 'InvalidStateError' && !sb.updating) resolve();
        else reject(err);
        return;
      }
      if (!sb.updating) done();
    });
  }

  // room waits while the browser holds more than a minute ahead of the
  // position (the node's buffer is the one that matters).
  async room(sb) {
    while (!this.abort.signal.aborted) {
      const b = sb.buffered;
      const end = b.length ? b.end(b.length - 1) : 0;
      if (end - this.video.currentTime < 60) return;
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  maybeEnd() {
    if (this.tracks.every((t) => this.ended[t]) && this.ms.readyState === 'open' &&
        !Object.values(this.buffers).some((sb) => sb.updating)) {
      try { this.ms.endOfStream(); } catch { /* a seek reopened it */ }
    }
  }
}
