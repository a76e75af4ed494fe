// The Network area: the members of the group as this node sees them, the
// DHT's nodes, and a plot of this node's upload and download rates over the
// last two minutes, sampled from GET /api/v1/network every second while
// the area is shown.

import { copyButton, h } from '../dom.js';
import { ago, bytes, dateTime, isZeroTime, millis, rate } from '../format.js';
import { onResize } from '../canvas.js';
import { drawRates, windowMs } from '../plot.js';

export default { id: 'network', title: 'Network', render };

const sampleMs = 1000;
const membersMs = 2000;

// The samples outlive the area, so coming back shows what was sampled
// before (with a gap for the time away).
const samples = [];

const stateHints = {
  alive: 'Answers pings',
  suspect: 'Missed a ping; may be leaving',
  down: 'Does not answer; removed after a grace period',
};

function render(root, { api, node, uptime, events, signal }) {
  let members = [];
  let net = null;

  const tile = (id, label) => {
    const value = h('span', { id, class: 'tile-value tabular' }, '\u2014');
    const sub = h('span', { class: 'tile-sub muted' });
    return { value, sub, el: h('div', { class: 'tile' }, h('span', { class: 'tile-label' }, label), value, sub) };
  };
  const tMembers = tile('net-members', 'Members alive');
  const tDown = tile('net-down', 'Download');
  const tUp = tile('net-up', 'Upload');
  const tDHT = tile('net-dht', 'DHT nodes');
  const tCache = tile('net-cache', 'Cache');

  const canvas = h('canvas', { id: 'rate-plot', class: 'rate-plot', width: 0, height: 0, role: 'img', 'aria-label': 'Upload and download rate over the last two minutes' });
  const legendDown = h('span', { class: 'legend-value tabular' });
  const legendUp = h('span', { class: 'legend-value tabular' });
  const legend = h('ul', { id: 'rate-legend', class: 'legend', 'aria-label': 'Legend' },
    h('li', { class: 'down' }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), 'Download ', legendDown),
    h('li', { class: 'up' }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), 'Upload ', legendUp));

  const membersBody = h('tbody');
  const membersError = h('div', { id: 'members-error', class: 'alert error', role: 'alert', hidden: true });
  const membersCount = h('span', { id: 'members-count', class: 'muted' });
  const dhtList = h('ul', { id: 'dht-nodes', class: 'dht-nodes' });
  const dhtCount = h('span', { id: 'dht-count', class: 'muted' });
  const peerAPI = h('code', { id: 'net-peer-api', class: 'mono' });

  // The network's kind, Invite (the link and its QR code) and Join (paste
  // a link): /api/v1/network/info, .../invite, .../join.
  const kindText = h('span', { id: 'net-kind' }, '\u2014');
  const kindNote = h('p', { id: 'net-kind-note', class: 'hint' });
  const kindAlert = h('div', { id: 'net-kind-alert', class: 'alert', role: 'status', hidden: true });
  const expiry = h('select', { id: 'invite-expires', 'aria-label': 'The invitation is good for' },
    h('option', { value: '1h' }, '1 hour'), h('option', { value: '24h', selected: true }, '1 day'),
    h('option', { value: '168h' }, '1 week'), h('option', { value: '' }, 'never'));
  const inviteBtn = h('button', { id: 'invite-make', type: 'button', class: 'button' }, 'Invite');
  const inviteLink = h('textarea', { id: 'invite-link', rows: 3, readonly: true, class: 'mono' });
  const inviteQR = h('img', { id: 'invite-qr', alt: 'The invitation as a QR code', width: 220, height: 220 });
  const inviteOut = h('div', { id: 'invite-out', class: 'invite-out', hidden: true }, inviteLink, copyButton('the invitation', () => inviteLink.value), inviteQR,
    h('p', { class: 'hint' }, 'The link carries the network key: send it only to whom you invite.'));
  const joinInput = h('textarea', { id: 'join-link', rows: 2, placeholder: 'shoal:\u2026', class: 'mono', 'aria-label': 'Invitation link' });
  const joinBtn = h('button', { id: 'join-submit', type: 'submit', class: 'button primary' }, 'Join');
  const say = (kind, text) => {
    kindAlert.className = `alert ${kind}`;
    kindAlert.textContent = text;
    kindAlert.hidden = false;
  };
  const joinForm = h('form', { id: 'join-form', class: 'join-form' }, joinInput, joinBtn);
  joinForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const info = await api.post('/api/v1/network/join', { invite: joinInput.value.trim() });
      const next = info.restarting ? 'The node is starting again to join; reload this page in a moment.' : 'Restart the node to join.';
      say('ok', info.saved ? `Invitation to ${info.saved.network} accepted. ${next}` : `This node is a member of ${info.network} already.`);
      joinInput.value = '';
      showKind(info);
    } catch (err) {
      say('error', `Not joined: ${err.message}`);
    }
  });
  inviteBtn.addEventListener('click', async () => {
    try {
      const res = await api.post('/api/v1/network/invite', { expires: expiry.value });
      inviteLink.value = res.invite;
      inviteQR.src = `data:image/png;base64,${res.qr_png}`;
      inviteOut.hidden = false;
      kindAlert.hidden = true;
    } catch (err) {
      say('error', `No invitation: ${err.message}`);
    }
  });
  function showKind(info) {
    kindText.textContent = `${info.network} \u00b7 ${info.kind}`;
    kindText.dataset.kind = info.kind;
    kindNote.textContent = info.private
      ? `Members hold the network\u2019s key (fingerprint ${info.fingerprint}); ${info.refused_at_handshake} connections without it refused since the node started.`
      : 'Anyone who knows a member\u2019s address may join.';
    if (info.saved) kindNote.textContent += ` Next start: ${info.saved.network} (${info.saved.private ? 'private' : 'open'}).`;
    inviteBtn.disabled = expiry.disabled = !info.private;
  }
  async function refreshKind() {
    try {
      const info = await api.get('/api/v1/network/info');
      if (!signal.aborted) showKind(info);
    } catch (err) {
      if (signal.aborted || err.status === 401) return;
      say('error', `Cannot read the network: ${err.message}`);
    }
  }

  root.append(h('div', { class: 'network' },
    h('section', { class: 'card kind-card', 'aria-labelledby': 'kind-title' },
      h('div', { class: 'card-head' }, h('h2', { id: 'kind-title' }, 'Network'), kindText),
      kindNote, kindAlert,
      h('div', { class: 'invite-row' }, expiry, inviteBtn), inviteOut,
      h('p', { class: 'hint' }, 'Join a private network with an invitation a member made:'), joinForm),
    h('div', { class: 'tiles', id: 'net-tiles' }, tMembers.el, tDown.el, tUp.el, tDHT.el, tCache.el),
    h('section', { class: 'card plot-card', 'aria-labelledby': 'plot-title' },
      h('div', { class: 'card-head' },
        h('h2', { id: 'plot-title' }, 'Transfer rate'),
        legend),
      canvas,
      h('p', { class: 'hint' }, 'This node\u2019s total over all items, sampled every second while this page is shown.')),
    h('section', { class: 'card members-card', 'aria-labelledby': 'members-title' },
      h('div', { class: 'card-head' }, h('h2', { id: 'members-title' }, 'Members'), membersCount),
      membersError,
      h('div', { class: 'table-wrap' },
        h('table', { id: 'members', class: 'data members' },
          h('thead', {},
            h('tr', {},
              h('th', { scope: 'col' }, 'Name'),
              h('th', { scope: 'col' }, 'ID'),
              h('th', { scope: 'col' }, 'Addresses'),
              h('th', { scope: 'col' }, 'State'),
              h('th', { scope: 'col' }, 'Last seen'),
              h('th', { scope: 'col', class: 'num' }, 'Round trip'))),
          membersBody))),
    h('section', { class: 'card dht-card', 'aria-labelledby': 'dht-title' },
      h('div', { class: 'card-head' }, h('h2', { id: 'dht-title' }, 'DHT nodes'), dhtCount),
      h('p', { class: 'hint' }, 'The nodes in this node\u2019s DHT routing table. Its peer API: ', peerAPI),
      dhtList)));

  // nodeNow is the time on the node's clock, for "last seen" times.
  const nodeNow = () => {
    const st = node.get();
    return st ? Date.parse(st.started_at) + uptime() * 1000 : Date.now();
  };

  function drawPlot() {
    const n = drawRates(canvas, samples, Date.now());
    canvas.dataset.samples = String(n);
  }
  onResize(canvas, drawPlot, signal);

  async function sample() {
    if (document.visibilityState !== 'visible') return;
    try {
      const res = await api.get('/api/v1/network');
      if (signal.aborted) return;
      net = res;
      const now = Date.now();
      samples.push({ t: now, down: res.down_rate ?? 0, up: res.up_rate ?? 0 });
      while (samples.length && samples[0].t < now - windowMs - 10_000) samples.shift();
      showNetwork();
    } catch (err) {
      if (signal.aborted || err.status === 401) return;
    }
    drawPlot();
  }

  function showNetwork() {
    if (!net) return;
    tDown.value.textContent = rate(net.down_rate);
    tUp.value.textContent = rate(net.up_rate);
    legendDown.textContent = rate(net.down_rate);
    legendUp.textContent = rate(net.up_rate);
    const peak = samples.reduce((m, s) => ({ down: Math.max(m.down, s.down), up: Math.max(m.up, s.up) }), { down: 0, up: 0 });
    tDown.sub.textContent = `peak ${rate(peak.down)} in 2 min`;
    tUp.sub.textContent = `peak ${rate(peak.up)} in 2 min`;
    const nodes = net.dht_nodes ?? [];
    tDHT.value.textContent = String(nodes.length);
    tDHT.sub.textContent = 'in the routing table';
    tCache.value.textContent = bytes(net.cache_used);
    tCache.sub.textContent = `of ${bytes(net.cache_quota)} quota`;
    peerAPI.textContent = net.peer_api ?? '';
    showDHT();
  }

  function showDHT() {
    const nodes = net?.dht_nodes ?? [];
    // Name the DHT nodes that are members' BitTorrent ports.
    const byAddr = new Map();
    for (const m of members) {
      const port = m.record?.ports?.bittorrent;
      for (const a of m.record?.addresses ?? []) if (port) byAddr.set(joinHostPort(a, port), m.display_name);
    }
    dhtList.replaceChildren(...nodes.map((ap) =>
      h('li', { class: 'dht-node', dataset: { addr: ap } },
        h('code', { class: 'mono' }, ap),
        byAddr.has(ap) ? h('span', { class: 'muted' }, byAddr.get(ap)) : null)));
    if (!nodes.length) dhtList.append(h('li', { class: 'muted empty' }, 'No DHT nodes known yet.'));
    dhtCount.textContent = nodes.length === 1 ? '1 node' : `${nodes.length} nodes`;
  }

  async function refreshMembers() {
    try {
      const res = await api.get('/api/v1/members');
      if (signal.aborted) return;
      membersError.hidden = true;
      members = res ?? [];
      showMembers();
    } catch (err) {
      if (signal.aborted || err.status === 401) return;
      membersError.textContent = `Cannot list the members: ${err.message}`;
      membersError.hidden = false;
    }
  }

  function showMembers() {
    const now = nodeNow();
    membersBody.replaceChildren(...members.map((m) => memberRow(m, now)));
    if (!members.length) membersBody.append(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No members known.')));
    const alive = members.filter((m) => m.state === 'alive').length;
    membersCount.textContent = `${members.length} known`;
    tMembers.value.textContent = `${alive}`;
    tMembers.sub.textContent = `of ${members.length} known`;
    showDHT();
  }

  function memberRow(m, now) {
    const r = m.record ?? {};
    const ports = r.ports ?? {};
    const addrs = (r.addresses ?? []).map((a) => h('code', { class: 'mono' }, a));
    const portText = Object.entries(ports).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`).join(' \u00b7 ');
    return h('tr', { dataset: { id: r.id, state: m.state, self: String(!!m.self) } },
      h('td', {},
        h('span', { class: 'member-name' }, m.display_name || r.name),
        m.self ? h('span', { class: 'chip self' }, 'this node') : null,
        m.display_name && r.name && m.display_name !== r.name ? h('div', { class: 'sub muted' }, `claims ${r.name}`) : null),
      h('td', {}, h('code', { class: 'mono', title: r.id }, (r.id ?? '').slice(0, 12)), h('span', { class: 'muted' }, '\u2026')),
      h('td', {}, h('div', { class: 'addrs' }, addrs.length ? addrs : h('span', { class: 'muted' }, '\u2014')),
        portText ? h('div', { class: 'sub muted' }, portText) : null),
      h('td', {}, h('span', { class: 'member-state', dataset: { state: m.state }, title: stateHints[m.state] ?? '' },
        h('span', { class: 'dot', 'aria-hidden': 'true' }), m.state),
        m.state === 'down' && !isZeroTime(m.down_since) ? h('div', { class: 'sub muted' }, `since ${ago(m.down_since, now)}`) : null),
      h('td', { class: 'tabular' },
        m.self ? h('span', { class: 'muted' }, '\u2014') : h('time', { datetime: m.last_seen, title: isZeroTime(m.last_seen) ? 'Never answered this node' : dateTime(m.last_seen) }, ago(m.last_seen, now))),
      h('td', { class: 'num tabular' }, m.self ? h('span', { class: 'muted' }, '\u2014') : millis(m.rtt)));
  }

  let memberTimer;
  events.subscribe((ev) => {
    if (ev.type === 'cdn.member') {
      clearTimeout(memberTimer);
      memberTimer = setTimeout(refreshMembers, 200);
    }
  }, signal);

  const sampler = setInterval(sample, sampleMs);
  const poller = setInterval(() => {
    if (document.visibilityState === 'visible') refreshMembers();
  }, membersMs);
  signal.addEventListener('abort', () => {
    clearInterval(sampler);
    clearInterval(poller);
    clearTimeout(memberTimer);
  }, { once: true });

  sample();
  refreshMembers();
  refreshKind();
}

function joinHostPort(host, port) {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
