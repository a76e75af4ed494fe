// The Browse area: the group's sites (published folders with an
// index.html), each opened in a sandboxed frame served by a member's peer
// port — an origin other than this page's, so a site can never reach the
// web client or its session — and how to point one's own browser at the
// node's proxy, which serves the .shoal names (GET /api/v1/browse/sites).

import { copyButton, h } from '../dom.js';
import { bytes } from '../format.js';

export default { id: 'browse', title: 'Browse', render };

const pollMs = 15000;

function render(root, { api, signal }) {
  let sites = [];
  let shown = null; // the site in the frame

  const list = h('ul', { id: 'site-list', class: 'site-list' });
  const listError = h('div', { id: 'sites-error', class: 'alert error', role: 'alert', hidden: true });
  const frameTitle = h('h2', { id: 'site-frame-title' }, 'No site open');
  const frameLink = h('a', { id: 'site-frame-link', target: '_blank', rel: 'noopener noreferrer', hidden: true }, 'Open in a tab');
  const frameHolder = h('div', { id: 'site-frame-holder', class: 'site-frame-holder' },
    h('p', { class: 'muted empty' }, 'Choose a site to open it here.'));

  const pacCode = h('code', { id: 'proxy-pac', class: 'mono' });
  const proxyCode = h('code', { id: 'proxy-address', class: 'mono' });
  const chromiumCode = h('code', { id: 'proxy-chromium', class: 'mono wrap' });
  const curlCode = h('code', { id: 'proxy-curl', class: 'mono wrap' });
  const proxyOff = h('div', { id: 'proxy-off', class: 'alert info', hidden: true },
    'The proxy is off on this node; turn it on in Settings to reach the sites from your own browser.');

  // The proxy's cache: hit ratio by requests and by bytes, bytes saved.
  const cacheBox = h('dl', { id: 'proxy-stats', class: 'proxy-stats' });
  const purgeBtn = h('button', { id: 'proxy-purge', type: 'button', class: 'button small' }, 'Empty the cache');
  purgeBtn.addEventListener('click', async () => {
    try {
      await api.post('/api/v1/proxy/purge', { all: true });
      refreshStats();
    } catch (err) {
      listError.textContent = `Cannot empty the cache: ${err.message}`;
      listError.hidden = false;
    }
  });

  root.append(
    h('div', { class: 'browse-grid' },
      h('section', { class: 'card', 'aria-labelledby': 'cache-title' },
        h('h2', { id: 'cache-title' }, 'The proxy\u2019s cache'), cacheBox, purgeBtn),
      h('section', { class: 'card', 'aria-labelledby': 'sites-title' },
        h('h2', { id: 'sites-title' }, 'Sites of the group'),
        listError,
        list),
      h('section', { class: 'card site-card', 'aria-labelledby': 'site-frame-title' },
        h('div', { class: 'card-head' }, frameTitle, frameLink),
        frameHolder),
      h('section', { class: 'card', 'aria-labelledby': 'own-browser-title' },
        h('h2', { id: 'own-browser-title' }, 'Your own browser'),
        proxyOff,
        h('p', {}, 'Sites have names such as ', h('code', { class: 'mono' }, 'NAME.shoal'),
          ', which only the node\u2019s proxy knows. Point your browser\u2019s automatic proxy configuration at ',
          pacCode, ' ', copyButton('PAC URL', () => pacCode.textContent),
          ': it sends .shoal names through the proxy and everything else direct. Or set the HTTP proxy to ',
          proxyCode, ' to send everything through the node\u2019s cache.'),
        h('p', { class: 'hint' }, 'Firefox: Settings \u2192 Network Settings \u2192 Automatic proxy configuration URL. Chromium:'),
        h('p', {}, chromiumCode),
        h('p', { class: 'hint' }, 'From a terminal:'),
        h('p', {}, curlCode))));

  function showList() {
    list.replaceChildren(...sites.map((s) => {
      const open = h('button', { type: 'button', class: 'button small', 'aria-label': `Open ${s.name} here` }, 'Open here');
      open.addEventListener('click', () => openSite(s));
      return h('li', { class: 'site-row', dataset: { infohash: s.infohash } },
        h('span', { class: 'site-name' }, s.name),
        h('span', { class: 'muted' }, ` on ${s.holder} `),
        h('code', { class: 'mono muted wrap' }, s.url),
        ' ', open);
    }));
    if (!sites.length) {
      list.append(h('li', { class: 'muted empty' },
        'No member has published a site yet: publish a folder with an index.html in the Library.'));
    }
  }

  // openSite frames s from its holder's peer port. The frame is sandboxed
  // without allow-same-origin, so even its own origin is opaque to it.
  function openSite(s) {
    let src;
    try {
      src = new URL(s.peer_url);
    } catch {
      frameHolder.replaceChildren(h('p', { class: 'alert error' }, `${s.name} has no address to open it from.`));
      return;
    }
    if (src.origin === location.origin || (src.protocol !== 'http:' && src.protocol !== 'https:')) {
      frameHolder.replaceChildren(h('p', { class: 'alert error' }, `${s.name} would open on this page\u2019s own origin; it is not shown.`));
      return;
    }
    shown = s;
    frameTitle.textContent = s.name;
    frameLink.href = src.href;
    frameLink.hidden = false;
    frameHolder.replaceChildren(h('iframe', {
      id: 'site-frame',
      class: 'site-frame',
      title: `The site ${s.name}`,
      src: src.href,
      sandbox: 'allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox',
      referrerpolicy: 'no-referrer',
      dataset: { infohash: s.infohash },
    }));
  }

  async function refresh() {
    try {
      const res = await api.get('/api/v1/browse/sites');
      if (signal.aborted) return;
      listError.hidden = true;
      sites = res.sites ?? [];
      showList();
      const first = sites[0]?.url ?? `http://www.NAME.${res.zone}/`;
      if (res.pac) {
        proxyOff.hidden = true;
        pacCode.textContent = res.pac;
        proxyCode.textContent = res.proxy;
        chromiumCode.textContent = `chromium --proxy-pac-url=${res.pac}`;
        curlCode.textContent = `curl -x http://${res.proxy} ${first}`;
      } else {
        proxyOff.hidden = false;
      }
      if (shown && !sites.some((s) => s.infohash === shown.infohash)) {
        frameHolder.replaceChildren(h('p', { class: 'muted empty' }, `${shown.name} is no longer served by any member.`));
        shown = null;
      }
    } catch (err) {
      if (signal.aborted || err.status === 401) return;
      listError.textContent = `Cannot list the sites: ${err.message}`;
      listError.hidden = false;
    }
  }
  async function refreshStats() {
    try {
      const st = await api.get('/api/v1/proxy/stats');
      if (signal.aborted) return;
      const pct = (r) => `${(100 * r).toFixed(1)} %`;
      cacheBox.replaceChildren(...[
        ['Requests', `${st.requests} (${st.hits} hits, ${st.revalidated} revalidated, ${st.misses} misses)`],
        ['Hit ratio', pct(st.hit_ratio)], ['Byte hit ratio', pct(st.byte_hit_ratio)],
        ['Bytes saved', bytes(st.bytes_saved)],
        ['Entries', `${st.entries}, ${bytes(st.size)} of ${bytes(st.max_bytes)}`],
      ].flatMap(([k, v]) => [h('dt', {}, k), h('dd', { dataset: { key: k } }, v)]));
    } catch (err) {
      if (signal.aborted || err.status === 401) return;
      cacheBox.replaceChildren(h('dd', { class: 'muted' }, `The proxy is not running (${err.message}).`));
    }
  }
  refresh();
  refreshStats();
  const timer = setInterval(() => { refresh(); refreshStats(); }, pollMs);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}
