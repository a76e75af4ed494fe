// EventStream follows the node's event bus: GET /api/v1/events, a stream of
// server-sent events whose data is {seq, time, type, data}, the kept backlog
// first. It reads the stream with fetch rather than EventSource: EventSource
// hands an event that has an `event:` field only to listeners of that exact
// type, so types added to the node later would be dropped unseen, and it
// hides the status of a failed connection, so a 401 would look like a
// network error. Like EventSource it resumes with Last-Event-ID after a drop.

import { ApiError, notifyUnauthorized } from './api.js';
import { Value } from './store.js';

const firstRetryMs = 500;
const maxRetryMs = 5000;

export class EventStream {
  // state is connecting, live, reconnecting or closed.
  state = new Value('connecting');
  // history is the kept events, oldest first.
  history = [];

  #url;
  #keep;
  #onResume;
  #listeners = new Set();
  #seen = new Set(); // keys of kept events, against repeats after a resync
  #lastSeq = 0;
  #abort = null;
  #connects = 0;
  #closed = false;

  // onResume runs after every reconnection, when events may have been missed
  // or the node may have restarted.
  constructor(url, { keep = 500, onResume } = {}) {
    this.#url = url;
    this.#keep = keep;
    this.#onResume = onResume;
  }

  start() {
    this.#run();
  }

  close() {
    this.#closed = true;
    this.#abort?.abort();
    this.state.set('closed');
  }

  // resync reads the stream again from the node's oldest kept event. A node
  // counts events from 1 again after a restart, so resuming after the last
  // seq seen would skip what the new run has logged so far.
  resync() {
    this.#lastSeq = 0;
    this.#abort?.abort();
  }

  // subscribe calls fn with every new event until signal aborts.
  subscribe(fn, signal) {
    this.#listeners.add(fn);
    signal?.addEventListener('abort', () => this.#listeners.delete(fn), { once: true });
  }

  // latest is the newest kept event of a type, or null.
  latest(type) {
    for (let i = this.history.length - 1; i >= 0; i--) {
      if (this.history[i].type === type) return this.history[i];
    }
    return null;
  }

  async #run() {
    let retry = firstRetryMs;
    while (!this.#closed) {
      const ctl = new AbortController();
      this.#abort = ctl;
      try {
        const headers = { Accept: 'text/event-stream' };
        if (this.#lastSeq > 0) headers['Last-Event-ID'] = String(this.#lastSeq);
        const res = await fetch(this.#url, {
          credentials: 'same-origin',
          cache: 'no-store',
          headers,
          signal: ctl.signal,
        });
        if (res.status === 401) {
          this.close();
          notifyUnauthorized(new ApiError(401, 'not logged in'));
          return;
        }
        if (!res.ok || !res.body) throw new Error(`event stream: HTTP ${res.status}`);
        this.#connects++;
        this.state.set('live');
        retry = firstRetryMs;
        if (this.#connects > 1) this.#onResume?.();
        await this.#read(res.body, ctl.signal);
      } catch {
        // The connection dropped or was aborted; both end up below.
      }
      if (this.#closed) return;
      if (ctl.signal.aborted) continue; // resync: reconnect at once
      this.state.set('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, retry));
      retry = Math.min(retry * 2, maxRetryMs);
    }
  }

  // #read parses text/event-stream until the stream ends or signal aborts.
  async #read(body, signal) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let id = '';
    let type = '';
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      while (!signal.aborted) {
        const i = buf.search(/[\r\n]/);
        if (i < 0 || (buf[i] === '\r' && i === buf.length - 1)) break; // wait for a whole line
        const line = buf.slice(0, i);
        buf = buf.slice(buf[i] === '\r' && buf[i + 1] === '\n' ? i + 2 : i + 1);
        if (line === '') {
          if (data.length > 0) this.#dispatch(id, type, data.join('\n'));
          type = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue; // comment: ready, keepalive
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? '' : line.slice(colon + 1);
        if (val.startsWith(' ')) val = val.slice(1);
        if (field === 'data') data.push(val);
        else if (field === 'id') id = val;
        else if (field === 'event') type = val;
      }
    }
  }

  #dispatch(id, type, raw) {
    let ev;
    try {
      ev = JSON.parse(raw);
    } catch {
      ev = null;
    }
    if (!ev || typeof ev !== 'object') {
      ev = { seq: Number(id) || 0, time: new Date().toISOString(), type: type || 'message', data: raw };
    }
    ev.type ??= type || 'message';
    const key = `${ev.seq}@${ev.time}`;
    if (this.#seen.has(key)) return;
    if (ev.seq > 0 && ev.seq <= this.#lastSeq) {
      // Sequence numbers only grow within one run of the node: this event
      // is from a new run, which this stream has not read from its start.
      this.resync();
      return;
    }
    this.#lastSeq = Math.max(this.#lastSeq, ev.seq || 0);
    this.#seen.add(key);
    this.history.push(ev);
    if (this.history.length > this.#keep) {
      const old = this.history.shift();
      this.#seen.delete(`${old.seq}@${old.time}`);
    }
    for (const fn of [...this.#listeners]) {
      try {
        fn(ev);
      } catch (err) {
        console.error('event listener failed', err);
      }
    }
  }
}
