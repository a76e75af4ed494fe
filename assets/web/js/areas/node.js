// The Node area: who this node is, what it serves, how long it has run, and
// the live log of its events.

import { copyButton, h } from '../dom.js';
import { describe, isProgress } from '../events.js';
import { clock, compactJSON, dateTime, duration } from '../format.js';

const maxRows = 500;

export default { id: 'node', title: 'Node', render };

function render(root, { node, uptime, events, signal }) {
  const name = h('h1', { id: 'node-name', class: 'node-name' });
  const id = h('code', { id: 'node-id', class: 'mono' });
  const publicKey = h('code', { id: 'node-public-key', class: 'mono wrap' });
  const network = h('span', { id: 'node-network' });
  const version = h('span', { id: 'node-version' });
  const up = h('span', { id: 'node-uptime', class: 'tabular' });
  const started = h('time', { id: 'node-started' });
  const dataDir = h('code', { id: 'node-data-dir', class: 'mono wrap' });
  const services = h('tbody');
  const log = h('ol', { id: 'event-log', class: 'event-log', role: 'log', 'aria-label': 'Node events, newest first' });
  const count = h('span', { id: 'event-count', class: 'muted' });

  root.append(
    h('div', { class: 'node-grid' },
      h('section', { class: 'card identity', 'aria-labelledby': 'node-name' },
        h('p', { class: 'eyebrow' }, 'This node'),
        name,
        h('p', { class: 'node-id-line' },
          h('span', { class: 'muted' }, 'ID '), id, copyButton('node ID', () => id.textContent)),
        h('dl', { class: 'facts' },
          fact('Network', network),
          fact('Version', version),
          fact('Uptime', up),
          fact('Started', started),
          fact('Data dir', dataDir, 'wide'),
          fact('Public key', publicKey, 'wide'))),
      h('section', { class: 'card services-card', 'aria-labelledby': 'services-title' },
        h('h2', { id: 'services-title' }, 'Services'),
        h('table', { id: 'node-services', class: 'services' },
          h('thead', {},
            h('tr', {},
              h('th', { scope: 'col' }, 'Service'),
              h('th', { scope: 'col' }, 'Protocol'),
              h('th', { scope: 'col' }, 'Address'))),
          services)),
      h('section', { class: 'card events-card', 'aria-labelledby': 'events-title' },
        h('div', { class: 'card-head' },
          h('h2', { id: 'events-title' }, 'Events'),
          count),
        log)));

  node.watch((st) => {
    if (!st) return;
    name.textContent = st.name;
    id.textContent = st.id;
    publicKey.textContent = st.public_key ?? '';
    network.textContent = st.network;
    version.textContent = st.version;
    started.dateTime = st.started_at;
    started.textContent = dateTime(st.started_at);
    dataDir.textContent = st.data_dir;
    services.replaceChildren(...(st.services ?? []).map(serviceRow));
    if (!st.services?.length) {
      services.append(h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'No services listening.')));
    }
    tick();
  }, signal);

  function tick() {
    up.textContent = duration(uptime());
  }
  const ticker = setInterval(tick, 1000);
  signal.addEventListener('abort', () => clearInterval(ticker), { once: true });

  const rows = document.createDocumentFragment();
  for (let i = events.history.length - 1; i >= 0 && rows.childNodes.length < maxRows; i--) {
    if (!isProgress(events.history[i].type)) rows.append(eventRow(events.history[i]));
  }
  log.append(rows);
  showCount();
  events.subscribe((ev) => {
    if (isProgress(ev.type)) return;
    // Keep what the reader scrolled to in place while rows arrive on top.
    const scrolled = log.scrollTop > 0;
    const before = log.scrollHeight;
    log.prepend(eventRow(ev));
    while (log.childElementCount > maxRows) log.lastElementChild.remove();
    if (scrolled) log.scrollTop += log.scrollHeight - before;
    showCount();
  }, signal);

  function showCount() {
    const n = log.childElementCount;
    count.textContent = n === 1 ? '1 event' : `${n} events`;
  }
}

function fact(label, value, extra) {
  return h('div', { class: `fact ${extra ?? ''}`.trim() }, h('dt', {}, label), h('dd', {}, value));
}

function serviceRow(s) {
  const address = s.url
    ? h('a', { href: s.url, rel: 'noopener' }, s.address)
    : h('code', { class: 'mono' }, s.address);
  return h('tr', { dataset: { service: s.name } },
    h('td', {}, s.name),
    h('td', {}, h('span', { class: 'proto' }, s.proto)),
    h('td', {}, address));
}

function eventRow(ev) {
  const v = describe(ev);
  const attrs = Object.entries(v.attrs ?? {}).filter(([, val]) => val !== undefined && val !== null && val !== '');
  return h('li', { class: `ev level-${v.level}`, dataset: { seq: ev.seq, type: ev.type, level: v.level } },
    h('time', { class: 'ev-time', datetime: ev.time, title: dateTime(ev.time) }, clock(ev.time)),
    h('span', { class: `ev-badge${v.generic ? ' generic' : ''}`, title: ev.type }, v.badge),
    h('span', { class: 'ev-body' },
      h('span', { class: 'ev-text' }, v.text),
      attrs.map(([k, val]) =>
        h('span', { class: 'ev-attr' },
          h('span', { class: 'k' }, k), '=',
          h('span', { class: 'v' }, typeof val === 'string' ? val : compactJSON(val))))));
}

