// The Library area: publish a file or folder that lies on the node's disk,
// this node's items with their progress, piece maps and actions, and the
// network's catalog, searchable, with a Get button per item. It follows the
// node's cdn.* events and polls every 2 s while it is shown.

import { h } from '../dom.js';
import { bytes, dateTime, duration, percent, rate } from '../format.js';
import { onResize } from '../canvas.js';
import { decodePieces, drawPieces } from '../piecemap.js';
import { Value } from '../store.js';

export default { id: 'library', title: 'Library', render };

const pollMs = 2000;

const stateLabels = {
  queued: 'Queued',
  downloading: 'Downloading',
  seeding: 'Seeding',
  paused: 'Paused',
  missing: 'Missing',
};
const stateHints = {
  queued: 'Waiting for the item\u2019s metadata from peers',
  downloading: 'Fetching pieces from peers',
  seeding: 'Complete and verified; serving peers',
  paused: 'Stopped; resume to go on',
  missing: 'The published files were moved or changed; not served',
};
const originLabels = {
  published: 'Published here',
  download: 'Fetched',
  cache: 'Cached',
};
const originHints = {
  published: 'This node published it from its own disk; never evicted',
  download: 'Fetched on request; kept until removed',
  cache: 'Fetched for the gateway; evicted when the cache is full unless pinned',
};

// A publish runs on in the node when the user leaves the area, and its
// progress is here when they come back: {path, name, state: hashing | done
// | error, done, total, item, error}.
const publishing = new Value(null);

// Names of files that are offered for packaging as video.
const videoExt = /\.(mp4|m4v|mkv|mov|webm|avi|mpe?g|ts|m2ts|wmv|flv|ogv|3gp)$/i;

async function publish(api, path, name, video) {
  let cur = { path, name, video, state: 'hashing', stage: video ? 'packaging' : 'hashing', done: 0, total: 0 };
  const set = (patch) => {
    cur = { ...cur, ...patch };
    publishing.set(cur);
  };
  set({});
  try {
    const last = await api.ndjson('/api/v1/publish', { path, name, video }, (line) => {
      if (typeof line.done === 'number') set({ done: line.done, total: line.total, stage: line.stage ?? 'hashing' });
    });
    if (last?.item) set({ state: 'done', item: last.item, done: last.item.size, total: last.item.size });
    else set({ state: 'error', error: last?.error ?? 'the node ended its answer without a result' });
  } catch (err) {
    set({ state: 'error', error: err.message });
  }
}

function render(root, { api, events, signal }) {
  const rows = new Map(); // infohash → item row
  let catalogQuery = '';
  let catalogSeq = 0;
  let lastCatalog = [];
  let shownQuery = '';
  let catalogRows = new Map(); // infohash → {key, tr}: the catalog's rows

  // Publish card.
  const pathInput = h('input', { id: 'publish-path', name: 'path', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: '/home/you/Videos/holiday.mkv', 'aria-describedby': 'publish-help', required: true });
  const nameInput = h('input', { id: 'publish-name', name: 'name', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'the file\u2019s own name' });
  const submit = h('button', { id: 'publish-submit', type: 'submit', class: 'button primary' }, 'Publish');
  const videoInput = h('input', { id: 'publish-video', name: 'video', type: 'checkbox' });
  // A dropped video file (by its name) is offered for packaging; editing
  // the path withdraws the offer, not a choice the user made.
  let offered = false;
  const offerVideo = (path) => {
    offered = videoExt.test(path);
    videoInput.checked = offered;
    return offered;
  };
  videoInput.addEventListener('change', () => { offered = false; });
  const dropNote = h('div', { id: 'publish-note', class: 'alert info', role: 'status', hidden: true });
  const progressBar = h('progress', { id: 'publish-progress', class: 'bar', max: 1, value: 0 });
  const progressLabel = h('span', { id: 'publish-progress-label', class: 'progress-label' });
  const progressText = h('span', { id: 'publish-progress-text', class: 'muted tabular' });
  const progress = h('div', { id: 'publish-status', class: 'publish-status', hidden: true, role: 'status' },
    h('div', { class: 'progress-line' }, progressLabel, progressText), progressBar);
  const result = h('div', { id: 'publish-result', class: 'alert ok', role: 'status', hidden: true });
  const error = h('div', { id: 'publish-error', class: 'alert error', role: 'alert', hidden: true });
  const form = h('form', { id: 'publish-form', class: 'publish-form', novalidate: true },
    h('div', { class: 'publish-fields' },
      h('div', { class: 'pfield grow' },
        h('label', { for: 'publish-path' }, 'Path on the node'),
        pathInput),
      h('div', { class: 'pfield' },
        h('label', { for: 'publish-name' }, 'Name ', h('span', { class: 'muted' }, '(optional)')),
        nameInput),
      h('div', { class: 'pfield action' }, submit)),
    h('label', { class: 'check' }, videoInput,
      ' A video: package it for streaming (DASH renditions, with ffmpeg on the node) and publish the result'));
  const publishCard = h('section', { id: 'publish-card', class: 'card publish-card', 'aria-labelledby': 'publish-title' },
    h('div', { class: 'card-head' },
      h('h2', { id: 'publish-title' }, 'Publish'),
      h('span', { class: 'drop-hint muted' }, 'or drop a file anywhere on this page')),
    h('p', { id: 'publish-help', class: 'hint' },
      'The node shares a file or folder from where it lies on its own disk; nothing is uploaded. ',
      'Give its full path on the node\u2019s machine: a browser cannot tell a web page where a file is stored.'),
    form, dropNote, progress, result, error);

  // This node's items.
  const list = h('ul', { id: 'items', class: 'items', 'aria-label': 'Items on this node' });
  const itemsCount = h('span', { id: 'items-count', class: 'muted' });
  const itemsError = h('div', { id: 'items-error', class: 'alert error', role: 'alert', hidden: true });
  // Getting an item by magnet link, infohash or name, or from a .torrent
  // file (picked or dropped: the browser can send a .torrent's bytes).
  const getInput = h('input', { id: 'get-spec', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'Magnet link, infohash or name', 'aria-label': 'Magnet link, infohash or name to get' });
  const torrentInput = h('input', { id: 'get-torrent', type: 'file', accept: '.torrent,application/x-bittorrent', hidden: true });
  const torrentButton = h('button', { type: 'button', class: 'button', id: 'get-torrent-button' }, 'Open .torrent\u2026');
  const getStatus = h('div', { id: 'get-status', class: 'get-status muted', role: 'status' });
  const getForm = h('form', { id: 'get-form', class: 'get-form', novalidate: true },
    getInput, h('button', { type: 'submit', class: 'button primary', id: 'get-submit' }, 'Get'), torrentButton, torrentInput);
  const itemsCard = h('section', { id: 'items-card', class: 'card', 'aria-labelledby': 'items-title' },
    h('div', { class: 'card-head' }, h('h2', { id: 'items-title' }, 'On this node'), itemsCount),
    getForm, getStatus, itemsError, list);

  // The network's catalog.
  const search = h('input', { id: 'catalog-search', type: 'search', placeholder: 'Search by name or infohash', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Search the network\u2019s catalog' });
  const catalogBody = h('tbody');
  const catalogCount = h('span', { id: 'catalog-count', class: 'muted' });
  const catalogError = h('div', { id: 'catalog-error', class: 'alert error', role: 'alert', hidden: true });
  const catalogCard = h('section', { id: 'catalog-card', class: 'card', 'aria-labelledby': 'catalog-title' },
    h('div', { class: 'card-head' },
      h('h2', { id: 'catalog-title' }, 'In the network'),
      h('div', { class: 'catalog-tools' }, catalogCount, search)),
    catalogError,
    h('div', { class: 'table-wrap' },
      h('table', { id: 'catalog', class: 'data catalog' },
        h('thead', {},
          h('tr', {},
            h('th', { scope: 'col' }, 'Name'),
            h('th', { scope: 'col', class: 'num' }, 'Size'),
            h('th', { scope: 'col' }, 'Kind'),
            h('th', { scope: 'col' }, 'Held by'),
            h('th', { scope: 'col', class: 'actions-col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
        catalogBody)));

  root.append(h('div', { class: 'library' }, publishCard, itemsCard, catalogCard));

  // Publishing.
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const path = pathInput.value.trim();
    if (!path) {
      error.textContent = 'Give the path of a file or folder on the node\u2019s disk.';
      error.hidden = false;
      pathInput.setAttribute('aria-invalid', 'true');
      pathInput.focus();
      return;
    }
    if (publishing.get()?.state === 'hashing') return;
    pathInput.removeAttribute('aria-invalid');
    dropNote.hidden = true;
    publish(api, path, nameInput.value.trim(), videoInput.checked);
  });
  pathInput.addEventListener('input', () => {
    pathInput.removeAttribute('aria-invalid');
    if (offered) offerVideo('');
  });

  let shownResult = null;
  publishing.watch((p) => {
    error.hidden = true;
    result.hidden = true;
    progress.hidden = true;
    submit.disabled = p?.state === 'hashing';
    if (!p) return;
    if (p.state === 'hashing') {
      if (p.stage === 'packaging') showProgress(`Packaging ${p.path}`, p.done, p.total, true);
      else showProgress(`Hashing ${p.path}`, p.done, p.total);
    } else if (p.state === 'error') {
      error.textContent = `Not published: ${p.error}`;
      error.hidden = false;
    } else if (p.state === 'done') {
      const it = p.item;
      result.dataset.infohash = it.infohash;
      result.replaceChildren(
        h('span', {}, 'Published ', h('strong', { class: 'wrap' }, it.name), ` (${bytes(it.size)}). It is listed in the network\u2019s catalog.`),
        copyButton('magnet link', () => it.magnet, result));
      result.hidden = false;
      if (shownResult !== it.infohash) {
        shownResult = it.infohash;
        // Published: clear the form, unless it was edited meanwhile.
        if (pathInput.value.trim() === p.path) {
          pathInput.value = '';
          nameInput.value = '';
        }
        refreshItems();
        refreshCatalog();
      }
    }
  }, signal);

  // showProgress shows bytes hashed, or with media, milliseconds of video
  // packaged.
  function showProgress(label, done, total, media = false) {
    progressLabel.textContent = label;
    progressBar.max = total > 0 ? total : 1;
    if (total > 0) progressBar.value = done;
    else progressBar.removeAttribute('value'); // indeterminate until the size is known
    const amount = media ? (ms) => `${(ms / 1000).toFixed(1)} s` : bytes;
    progressText.textContent = total > 0 ? `${percent(done, total)} \u00b7 ${amount(done)} of ${amount(total)}` : '';
    progress.hidden = false;
  }

  // A publish started elsewhere (the CLI, the desktop window) shows its
  // progress too, from cdn.publish.progress events.
  let elsewhereDone = null;
  function onPublishEvent(d) {
    if (publishing.get()?.state === 'hashing' || !d) return;
    clearTimeout(elsewhereDone);
    const media = d.stage === 'packaging';
    if (media && d.done < d.total) {
      showProgress(`Packaging ${d.path} (started elsewhere)`, d.done, d.total, true);
    } else if (media) {
      showProgress(`Packaged ${d.path}`, d.done, d.total, true);
    } else if (d.done >= d.total) {
      showProgress(`Hashed ${d.path}`, d.done, d.total);
      elsewhereDone = setTimeout(() => {
        if (publishing.get()?.state !== 'hashing') progress.hidden = true;
        refreshItems();
      }, 1500);
    } else {
      showProgress(`Hashing ${d.path} (started elsewhere)`, d.done, d.total);
    }
  }

  // Getting.
  async function startGet(body, what) {
    getStatus.classList.remove('error-text');
    getStatus.textContent = `Starting ${what}\u2026`;
    try {
      const st = await api.post('/api/v1/items', body);
      if (signal.aborted) return;
      getStatus.textContent = `Getting ${st.name || st.infohash}.`;
      upsert(st);
      return true;
    } catch (err) {
      if (err.status === 401 || signal.aborted) return;
      getStatus.textContent = `Could not get ${what}: ${err.message}`;
      getStatus.classList.add('error-text');
    }
  }
  getForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const spec = getInput.value.trim();
    if (!spec) {
      getStatus.textContent = 'Paste a magnet link, an infohash or an item\u2019s name, or open a .torrent file.';
      return;
    }
    if (await startGet({ spec }, spec.length > 48 ? `${spec.slice(0, 45)}\u2026` : spec)) getInput.value = '';
  });
  torrentButton.addEventListener('click', () => torrentInput.click());
  torrentInput.addEventListener('change', () => {
    const f = torrentInput.files?.[0];
    torrentInput.value = '';
    if (f) getTorrent(f);
  });
  async function getTorrent(file) {
    const buf = new Uint8Array(await file.arrayBuffer());
    let bin = '';
    for (let i = 0; i < buf.length; i += 0x8000) bin += String.fromCharCode(...buf.subarray(i, i + 0x8000));
    await startGet({ torrent: btoa(bin) }, file.name);
  }

  // Drag and drop. A web page learns a dropped file's name and bytes, never
  // where it lies; the node shares files in place and takes no uploads. A
  // drop that carries a path (a file:// URI or a path as text, as some file
  // managers and terminals send) fills the path in; otherwise the name is
  // filled in and the page says how to publish the file.
  const dragTypes = ['Files', 'text/uri-list', 'text/plain'];
  const dragging = (e) => [...(e.dataTransfer?.types ?? [])].some((t) => dragTypes.includes(t));
  document.addEventListener('dragover', (e) => {
    if (!dragging(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    publishCard.classList.add('drop-target');
  }, { signal });
  document.addEventListener('dragleave', (e) => {
    if (!e.relatedTarget) publishCard.classList.remove('drop-target');
  }, { signal });
  document.addEventListener('drop', (e) => {
    if (!dragging(e)) return;
    e.preventDefault();
    publishCard.classList.remove('drop-target');
    onDrop(e.dataTransfer);
  }, { signal });

  function onDrop(dt) {
    error.hidden = true;
    const path = pathFromDrop(dt.getData('text/uri-list'), dt.getData('text/plain'));
    const file = dt.files?.[0];
    if (file && /\.torrent$/i.test(file.name)) {
      // A .torrent describes what to get: its bytes go to the node.
      getTorrent(file);
      return;
    }
    if (path) {
      pathInput.value = path;
      nameInput.value = '';
      dropNote.textContent = offerVideo(path)
        ? 'The path was filled in from what you dropped. It looks like a video: it will be packaged for streaming (untick the box to share the file as it is). Press Publish.'
        : 'The path was filled in from what you dropped. Check it, then press Publish.';
      dropNote.hidden = false;
      submit.focus();
      return;
    }
    if (file) {
      nameInput.value = file.name;
      dropNote.replaceChildren(
        h('strong', {}, `Cannot publish \u201c${file.name}\u201d from the browser. `),
        'A browser does not tell a web page where a dropped file lies, and the node shares files from its own disk without uploads. ',
        'Type the file\u2019s path above and press Publish, drop the file on Shoal\u2019s desktop window, or run ',
        h('code', {}, 'shoal publish PATH'), '.');
      dropNote.hidden = false;
      pathInput.focus();
      return;
    }
    dropNote.textContent = 'Drop a file or folder, or type its path above.';
    dropNote.hidden = false;
  }

  // Items.
  async function refreshItems() {
    try {
      const list = await api.get('/api/v1/items');
      if (signal.aborted) return;
      itemsError.hidden = true;
      reconcile(list ?? []);
    } catch (err) {
      if (signal.aborted || err.status === 401) return;
      itemsError.textContent = `Cannot list the items: ${err.message}`;
      itemsError.hidden = false;
    }
  }

  function reconcile(statuses) {
    const seen = new Set();
    for (const st of statuses) {
      seen.add(st.infohash);
      upsert(st);
    }
    for (const [ih, row] of rows) {
      if (!seen.has(ih)) {
        row.el.remove();
        rows.delete(ih);
      }
    }
    order();
  }

  function upsert(st) {
    let row = rows.get(st.infohash);
    if (!row) {
      row = itemRow(st, { api, signal, removed, changed: upsert });
      rows.set(st.infohash, row);
      list.append(row.el);
      order();
      markCatalog();
    } else {
      row.update(st);
    }
    return row;
  }

  function removed(ih) {
    rows.get(ih)?.el.remove();
    rows.delete(ih);
    order();
    refreshCatalog();
  }

  // order puts the newest items first and updates the count.
  function order() {
    const sorted = [...rows.values()].sort((a, b) => (b.st.added ?? '').localeCompare(a.st.added ?? ''));
    sorted.forEach((row, i) => {
      if (list.children[i] !== row.el) list.insertBefore(row.el, list.children[i] ?? null);
    });
    const n = rows.size;
    itemsCount.textContent = n === 1 ? '1 item' : `${n} items`;
    list.dataset.empty = String(n === 0);
    markCatalog();
  }

  // Catalog.
  async function refreshCatalog() {
    const seq = ++catalogSeq;
    const q = catalogQuery;
    try {
      const entries = await api.get(`/api/v1/catalog?q=${encodeURIComponent(q)}`);
      if (signal.aborted || seq !== catalogSeq) return;
      catalogError.hidden = true;
      lastCatalog = entries ?? [];
      showCatalog(lastCatalog, q);
    } catch (err) {
      if (signal.aborted || err.status === 401 || seq !== catalogSeq) return;
      catalogError.textContent = `Cannot read the catalog: ${err.message}`;
      catalogError.hidden = false;
    }
  }

  // showCatalog shows entries, keeping the rows that did not change, so
  // a poll never swaps a button out from under the pointer.
  function showCatalog(entries, q) {
    shownQuery = q;
    const next = new Map();
    const want = [];
    for (const e of entries) {
      const ih = e.item.infohash;
      const key = `${JSON.stringify(e)}|${rows.has(ih)}`;
      let r = catalogRows.get(ih);
      if (!r || (r.key !== key && r.tr.dataset.busy !== 'true')) r = { key, tr: catalogRow(e) };
      next.set(ih, r);
      want.push(r.tr);
    }
    catalogRows = next;
    if (!entries.length) {
      want.push(h('tr', { class: 'empty' }, h('td', { colspan: 5, class: 'muted' },
        q ? `Nothing in the network matches \u201c${q}\u201d.` : 'No items in the network yet. Publish one above.')));
    }
    const kids = catalogBody.children;
    if (want.length !== kids.length || want.some((tr, i) => kids[i] !== tr)) catalogBody.replaceChildren(...want);
    catalogCount.textContent = entries.length === 1 ? '1 item' : `${entries.length} items`;
  }

  // markCatalog keeps the catalog's Get buttons in step with the library.
  function markCatalog() {
    showCatalog(lastCatalog, shownQuery);
  }

  function catalogRow(e) {
    const it = e.item;
    const have = rows.has(it.infohash);
    const status = h('span', { class: 'catalog-status muted', role: 'status' });
    let action;
    if (have) {
      action = h('span', { class: 'in-library' }, 'In library');
    } else {
      action = h('button', { type: 'button', class: 'button small primary', dataset: { action: 'get' }, 'aria-label': `Get ${it.name}` }, 'Get');
      action.addEventListener('click', async () => {
        action.disabled = true;
        action.textContent = 'Getting\u2026';
        status.textContent = '';
        tr.dataset.busy = 'true';
        let st;
        try {
          st = await api.post('/api/v1/items', { spec: it.infohash });
        } catch (err) {
          delete tr.dataset.busy;
          if (err.status === 401) return;
          action.disabled = false;
          action.textContent = 'Get';
          status.textContent = `Not started: ${err.message}`;
          status.classList.add('error-text');
          return;
        }
        delete tr.dataset.busy;
        if (!signal.aborted) upsert(st);
      });
    }
    const tr = h('tr', { dataset: { infohash: it.infohash, have: String(have) } },
      h('td', { class: 'name-cell' },
        h('div', { class: 'cat-name wrap' }, it.name),
        h('div', { class: 'sub muted' },
          it.publisher_name ? `published by ${it.publisher_name}` : 'publisher unknown',
          it.files?.length > 1 ? ` \u00b7 ${it.files.length} files` : '',
          ' \u00b7 ', h('code', { class: 'mono', title: it.infohash }, it.infohash.slice(0, 12))),
        status),
      h('td', { class: 'num tabular' }, bytes(it.size)),
      h('td', {}, it.kind ? h('span', { class: 'kind', dataset: { kind: it.kind } }, it.kind) : h('span', { class: 'muted' }, '—')),
      h('td', {}, h('ul', { class: 'holders' }, (e.holders ?? []).map((ho) =>
        h('li', { class: 'holder', dataset: { state: ho.state }, title: `${ho.name} (${ho.id}) is ${ho.state}` },
          h('span', { class: 'dot', 'aria-hidden': 'true' }),
          ho.self ? `${ho.name} (this node)` : ho.name)))),
      h('td', { class: 'actions-col' }, action));
    return tr;
  }

  let searchTimer;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      catalogQuery = search.value.trim();
      refreshCatalog();
    }, 200);
  });

  // Live updates from the event stream.
  let catalogTimer;
  const soonCatalog = () => {
    clearTimeout(catalogTimer);
    catalogTimer = setTimeout(refreshCatalog, 250);
  };
  let itemsTimer;
  const soonItems = () => {
    clearTimeout(itemsTimer);
    itemsTimer = setTimeout(refreshItems, 250);
  };
  events.subscribe((ev) => {
    const d = ev.data;
    switch (ev.type) {
      case 'cdn.progress':
        for (const st of Array.isArray(d) ? d : []) {
          if (rows.has(st.infohash)) rows.get(st.infohash).update(st);
          else soonItems();
        }
        break;
      case 'cdn.complete':
      case 'cdn.missing':
        if (d?.infohash && rows.has(d.infohash)) rows.get(d.infohash).update(d);
        else soonItems();
        soonCatalog();
        break;
      case 'cdn.evicted':
        soonItems();
        soonCatalog();
        break;
      case 'cdn.catalog':
      case 'cdn.member':
        soonCatalog();
        break;
      case 'cdn.publish.progress':
        onPublishEvent(d);
        break;
      default:
    }
  }, signal);

  const poll = setInterval(() => {
    if (document.visibilityState !== 'visible') return;
    refreshItems();
    refreshCatalog();
  }, pollMs);
  signal.addEventListener('abort', () => {
    clearInterval(poll);
    clearTimeout(searchTimer);
    clearTimeout(catalogTimer);
    clearTimeout(itemsTimer);
    clearTimeout(elsewhereDone);
  }, { once: true });

  refreshItems();
  refreshCatalog();
}

// pathFromDrop finds a local path in dropped data: the first file:// URI
// of a text/uri-list, or text that is one absolute path.
export function pathFromDrop(uriList, text) {
  for (const line of (uriList ?? '').split(/\r?\n/)) {
    const s = line.trim();
    if (!s || s.startsWith('#')) continue;
    try {
      const u = new URL(s);
      if (u.protocol === 'file:' && (u.hostname === '' || u.hostname === 'localhost')) {
        const p = decodeURIComponent(u.pathname);
        return /^\/[A-Za-z]:\//.test(p) ? p.slice(1) : p; // file:///C:/x on Windows
      }
    } catch {
      // not a URL
    }
  }
  const t = (text ?? '').trim();
  if (t && !t.includes('\n')) {
    if (t.startsWith('file://')) return pathFromDrop(t, '');
    if (t.startsWith('/') || /^[A-Za-z]:[\\/]/.test(t)) return t;
  }
  return '';
}

// itemRow is one item of the library, updated in place so that what the
// user opened (the piece grid, a confirmation) stays open.
function itemRow(st, { api, signal, removed, changed }) {
  let cur = st;
  let expanded = false;
  let done = [];

  const name = h('h3', { class: 'item-name wrap' });
  const state = h('span', { class: 'state' });
  const origin = h('span', { class: 'chip origin' });
  const pinned = h('span', { class: 'chip pinned', title: 'Never evicted from the cache' }, 'Pinned');
  const bar = h('progress', { class: 'bar item-bar', max: 1, value: 0 });
  const amount = h('span', { class: 'item-amount tabular' });
  const stats = h('span', { class: 'item-stats tabular muted' });
  const canvas = h('canvas', { class: 'piece-map', width: 0, height: 0, role: 'img' });
  const mapButton = h('button', { type: 'button', class: 'piece-map-button', 'aria-expanded': 'false', title: 'Show every piece' }, canvas);
  const mapCaption = h('span', { class: 'piece-caption muted' });
  const details = h('dl', { class: 'item-details', hidden: true });
  const problem = h('p', { class: 'item-error', role: 'alert', hidden: true });

  const pauseBtn = h('button', { type: 'button', class: 'button small', dataset: { action: 'pause' } });
  const pinBtn = h('button', { type: 'button', class: 'button small quiet', dataset: { action: 'pin' } });
  const copyBtn = h('button', { type: 'button', class: 'button small quiet', dataset: { action: 'copy' } }, 'Copy magnet');
  const removeBtn = h('button', { type: 'button', class: 'button small quiet danger', dataset: { action: 'remove' } }, 'Remove');
  // A video (a DASH presentation) plays in the Watch area.
  const isVideo = st.kind === 'folder' && (st.files ?? []).some((f) => f.path === 'manifest.mpd');
  const playLink = isVideo
    ? h('a', { class: 'button small primary', href: '#/watch', dataset: { action: 'play' },
      onclick: () => sessionStorage.setItem('shoal.watch', st.infohash) }, 'Play')
    : null;
  const magnetBox = h('input', { class: 'magnet-box mono', type: 'text', readonly: true, 'aria-label': 'Magnet link', hidden: true });
  const note = h('span', { class: 'item-note muted', role: 'status' });

  const withData = h('input', { type: 'checkbox', class: 'remove-data' });
  const withDataLabel = h('label', { class: 'check' }, withData, h('span', {}, 'Also delete the downloaded files'));
  const confirmText = h('p', { class: 'confirm-text' });
  const confirmRemove = h('button', { type: 'button', class: 'button small danger-solid', dataset: { action: 'confirm-remove' } }, 'Remove');
  const cancelRemove = h('button', { type: 'button', class: 'button small quiet', dataset: { action: 'cancel-remove' } }, 'Cancel');
  const confirm = h('div', { class: 'confirm', role: 'group', hidden: true },
    confirmText, withDataLabel, h('div', { class: 'confirm-actions' }, confirmRemove, cancelRemove));

  const el = h('li', { class: 'item', dataset: { infohash: st.infohash } },
    h('div', { class: 'item-head' }, name, h('div', { class: 'badges' }, state, origin, pinned)),
    h('div', { class: 'item-progress' }, bar,
      h('div', { class: 'item-line' }, amount, stats)),
    h('div', { class: 'piece-block' }, mapButton, mapCaption),
    details, problem,
    h('div', { class: 'item-actions' }, playLink, pauseBtn, pinBtn, copyBtn, removeBtn, note),
    magnetBox, confirm);

  async function act(action, button) {
    button.disabled = true;
    note.textContent = '';
    try {
      const res = await api.post(`/api/v1/items/${cur.infohash}/${action}`);
      if (!signal.aborted && res) changed(res);
    } catch (err) {
      if (err.status !== 401) note.textContent = `${action} failed: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  }
  pauseBtn.addEventListener('click', () => act(pauseBtn.dataset.action, pauseBtn));
  pinBtn.addEventListener('click', () => act(pinBtn.dataset.action, pinBtn));

  copyBtn.addEventListener('click', async () => {
    const magnet = cur.magnet ?? '';
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(magnet);
      magnetBox.hidden = true;
      flash('Magnet link copied');
    } catch {
      // No clipboard access (an insecure context, a denied permission):
      // show the link selected, for Ctrl+C.
      magnetBox.value = magnet;
      magnetBox.hidden = false;
      magnetBox.focus();
      magnetBox.select();
      flash('Press Ctrl+C (\u2318C) to copy the selected link');
    }
  });
  magnetBox.addEventListener('blur', () => { magnetBox.hidden = true; });

  let flashTimer;
  function flash(text) {
    note.textContent = text;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { note.textContent = ''; }, 4000);
  }

  removeBtn.addEventListener('click', () => {
    const published = cur.origin === 'published';
    confirmText.replaceChildren('Remove ', h('strong', {}, cur.name || cur.infohash), ' from this node? ',
      published ? 'The node stops sharing it; your published files stay where they are.' : 'The node stops sharing it.');
    withData.checked = false;
    withData.disabled = published;
    withDataLabel.hidden = published;
    confirm.hidden = false;
    confirmRemove.focus();
  });
  cancelRemove.addEventListener('click', () => {
    confirm.hidden = true;
    removeBtn.focus();
  });
  confirmRemove.addEventListener('click', async () => {
    confirmRemove.disabled = true;
    try {
      await api.del(`/api/v1/items/${cur.infohash}${withData.checked ? '?data=1' : ''}`);
      if (!signal.aborted) removed(cur.infohash);
    } catch (err) {
      if (err.status !== 401) {
        confirm.hidden = true;
        note.textContent = `Not removed: ${err.message}`;
      }
    } finally {
      confirmRemove.disabled = false;
    }
  });

  mapButton.addEventListener('click', () => {
    expanded = !expanded;
    mapButton.setAttribute('aria-expanded', String(expanded));
    mapButton.title = expanded ? 'Show as a strip' : 'Show every piece';
    el.classList.toggle('expanded', expanded);
    details.hidden = !expanded;
    draw();
  });
  onResize(mapButton, draw, signal);

  function draw() {
    const n = drawPieces(canvas, done, expanded);
    canvas.setAttribute('aria-label', `Piece map: ${n} of ${done.length} pieces verified`);
  }

  function update(next) {
    const before = cur;
    cur = next;
    const s = next.state;
    el.dataset.state = s;
    name.textContent = next.name || next.infohash;
    state.textContent = stateLabels[s] ?? s;
    state.dataset.state = s;
    state.title = stateHints[s] ?? '';
    origin.textContent = originLabels[next.origin] ?? next.origin;
    origin.title = originHints[next.origin] ?? '';
    origin.dataset.origin = next.origin;
    pinned.hidden = !next.pinned;

    const size = next.size || 0;
    bar.max = size > 0 ? size : 1;
    if (size > 0) bar.value = Math.min(next.completed, size);
    else bar.removeAttribute('value');
    bar.dataset.state = s;
    amount.textContent = size > 0
      ? `${percent(next.completed, size)} \u00b7 ${bytes(next.completed)} of ${bytes(size)}`
      : 'Waiting for the item\u2019s metadata from peers';
    const parts = [];
    if (s === 'downloading' || next.down_rate > 0) parts.push(`\u2193 ${rate(next.down_rate)}`);
    if (s === 'downloading' || s === 'seeding' || next.up_rate > 0) parts.push(`\u2191 ${rate(next.up_rate)}`);
    if (s !== 'paused' && s !== 'missing') parts.push(next.peers === 1 ? '1 peer' : `${next.peers} peers`);
    if (s === 'downloading') parts.push(next.eta > 0 ? `ETA ${duration(next.eta / 1e9)}` : 'ETA \u2014');
    stats.textContent = parts.join(' \u00b7 ');

    const paused = s === 'paused';
    pauseBtn.dataset.action = paused ? 'resume' : 'pause';
    pauseBtn.textContent = paused ? 'Resume' : 'Pause';
    pinBtn.dataset.action = next.pinned ? 'unpin' : 'pin';
    pinBtn.textContent = next.pinned ? 'Unpin' : 'Pin';
    pinBtn.title = next.pinned ? 'Let the cache evict it again' : 'Never evict it from the cache';
    copyBtn.disabled = !next.magnet;

    problem.textContent = next.error ?? '';
    problem.hidden = !next.error;

    if (before !== next || !done.length) {
      done = decodePieces(next.pieces, next.num_pieces);
      mapCaption.textContent = next.num_pieces > 0
        ? `${done.filter(Boolean).length} of ${next.num_pieces} pieces`
        : 'no pieces known yet';
      draw();
    }
    details.replaceChildren(
      detail('Infohash', h('code', { class: 'mono wrap' }, next.infohash)),
      detail('Location', h('code', { class: 'mono wrap' }, next.path || next.dir || '\u2014')),
      detail('Files', next.files?.length ? filesList(next.files) : '\u2014'),
      detail('Pieces', next.num_pieces > 0 ? `${done.filter(Boolean).length} of ${next.num_pieces} verified` : '\u2014'),
      detail('Added', next.added ? dateTime(next.added) : '\u2014'),
      detail('Type', [next.kind, next.type].filter(Boolean).join(', ') || '\u2014'));
  }

  update(st);
  return {
    el,
    get st() { return cur; },
    update,
  };
}

function detail(label, value) {
  return h('div', { class: 'fact' }, h('dt', {}, label), h('dd', {}, value));
}

function filesList(files) {
  const max = 8;
  return h('ul', { class: 'files' },
    files.slice(0, max).map((f) => h('li', {}, h('span', { class: 'wrap' }, f.path), ' ', h('span', { class: 'muted' }, bytes(f.size)))),
    files.length > max ? h('li', { class: 'muted' }, `and ${files.length - max} more`) : null);
}

function copyButton(what, text, where) {
  const button = h('button', { type: 'button', class: 'button tiny quiet', 'aria-label': `Copy ${what}` }, 'Copy magnet');
  let reset;
  button.addEventListener('click', async () => {
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(text());
      button.textContent = 'Copied';
    } catch {
      const box = h('input', { class: 'magnet-box mono', type: 'text', readonly: true, 'aria-label': 'Magnet link', value: text() });
      where.querySelector('.magnet-box')?.remove();
      where.append(box);
      box.focus();
      box.select();
      button.textContent = 'Press Ctrl+C';
    }
    clearTimeout(reset);
    reset = setTimeout(() => { button.textContent = 'Copy magnet'; }, 2500);
  });
  return button;
}
