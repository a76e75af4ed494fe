// The Names area: the group's DNS zone as this node serves it, the user's
// own records under this node's name (add, remove), and a look-up tool that
// resolves a name through the node's own chain and shows the path it took.
// The zone follows cdn.member events (membership and members' records
// change it) and the user's own changes; see the DNS routes in docs/API.md.

import { copyButton, h } from '../dom.js';
import { millis } from '../format.js';

export default { id: 'names', title: 'Names', render };

const pollMs = 15000;

// The types users may add, with a sample value and a hint for each.
const recordTypes = {
  A: { sample: '192.0.2.10', hint: 'An IPv4 address.' },
  AAAA: { sample: '2001:db8::10', hint: 'An IPv6 address.' },
  CNAME: { sample: 'web or example.org.', hint: 'Another name. Relative names are under your node\u2019s name; end a name with a dot to give it in full. Not allowed at @.' },
  MX: { sample: '10 mail', hint: 'Preference and mail host: 10 mail, or 10 mail.example.org.' },
  TXT: { sample: 'v=spf1 -all', hint: 'Free text. It is sent as one string unless you quote the parts yourself ("a" "b").' },
  SRV: { sample: '0 5 8080 www', hint: 'Priority, weight, port and target host: 0 5 8080 www.' },
};
const lookupTypes = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SRV', 'NS', 'SOA', 'PTR', 'CAA'];

const stepLabels = {
  zone: 'Zone',
  cache: 'Cache',
  forward: 'Forwarded',
  iterate: 'Iterative',
  refused: 'Refused',
  server: 'Asked',
};

const sourceLabels = {
  zone: 'answered from the group\u2019s zone, authoritatively',
  cache: 'answered from the node\u2019s cache',
  forward: 'forwarded to an upstream resolver',
  iterate: 'resolved iteratively from the root',
  refused: 'recursion refused',
  server: 'asked a server directly',
};

function render(root, { api, node, events, signal }) {
  let zone = null; // GET /api/v1/dns/zone
  let zoneKey = '';
  let own = []; // GET /api/v1/dns/records
  let ownKey = null;
  let filterMember = '';
  let filterType = '';
  let filterText = '';

  // Tiles: the zone at a glance.
  const tile = (id, label) => {
    const value = h('span', { id, class: 'tile-value tabular' }, '\u2014');
    const sub = h('span', { class: 'tile-sub muted' });
    return { value, sub, el: h('div', { class: 'tile' }, h('span', { class: 'tile-label' }, label), value, sub) };
  };
  const tZone = tile('dns-zone', 'Zone');
  const tSerial = tile('dns-serial', 'Serial');
  const tRecords = tile('dns-count', 'Records');
  const tServer = tile('dns-server', 'DNS server');

  // The dig line: what to point a DNS client at.
  const digCode = h('code', { id: 'dig-example', class: 'mono' });
  const digCopy = copyButton('dig command', () => digCode.textContent);
  const digNote = h('span', { id: 'dig-note', class: 'muted' });

  // Your records.
  const ownSuffix = h('span', { id: 'record-suffix', class: 'suffix mono muted' });
  const nameInput = h('input', { id: 'record-name', name: 'name', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'www or @', 'aria-describedby': 'record-suffix' });
  const typeSelect = h('select', { id: 'record-type', name: 'type' },
    Object.keys(recordTypes).map((t) => h('option', { value: t }, t)));
  const valueInput = h('input', { id: 'record-value', name: 'value', type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'record-value-hint', required: true });
  const ttlInput = h('input', { id: 'record-ttl', name: 'ttl', type: 'number', min: 0, max: 86400, step: 1, inputmode: 'numeric', placeholder: 'default' });
  const valueHint = h('p', { id: 'record-value-hint', class: 'hint' });
  const addButton = h('button', { id: 'record-add', type: 'submit', class: 'button primary' }, 'Add');
  const recordError = h('div', { id: 'record-error', class: 'alert error', role: 'alert', hidden: true });
  const recordResult = h('div', { id: 'record-result', class: 'alert ok', role: 'status', hidden: true });
  const recordForm = h('form', { id: 'record-form', class: 'record-form', novalidate: true },
    h('div', { class: 'rfields' },
      h('div', { class: 'pfield rname' },
        h('label', { for: 'record-name' }, 'Name'),
        h('div', { class: 'with-suffix' }, nameInput, ownSuffix)),
      h('div', { class: 'pfield rtype' },
        h('label', { for: 'record-type' }, 'Type'),
        typeSelect),
      h('div', { class: 'pfield rvalue' },
        h('label', { for: 'record-value' }, 'Value'),
        valueInput),
      h('div', { class: 'pfield rttl' },
        h('label', { for: 'record-ttl' }, 'TTL ', h('span', { class: 'muted' }, '(s)')),
        ttlInput),
      h('div', { class: 'pfield action' }, addButton)),
    valueHint);
  const ownBody = h('tbody');
  const ownCount = h('span', { id: 'own-count', class: 'muted' });
  const ownError = h('div', { id: 'own-error', class: 'alert error', role: 'alert', hidden: true });

  // Look-up.
  const qName = h('input', { id: 'lookup-name', name: 'name', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'www.alice.shoal or example.org', required: true });
  const qType = h('select', { id: 'lookup-type', name: 'type' }, lookupTypes.map((t) => h('option', { value: t }, t)));
  const qButton = h('button', { id: 'lookup-submit', type: 'submit', class: 'button primary' }, 'Look up');
  const lookupForm = h('form', { id: 'lookup-form', class: 'lookup-form', novalidate: true },
    h('div', { class: 'rfields' },
      h('div', { class: 'pfield grow' }, h('label', { for: 'lookup-name' }, 'Name'), qName),
      h('div', { class: 'pfield rtype' }, h('label', { for: 'lookup-type' }, 'Type'), qType),
      h('div', { class: 'pfield action' }, qButton)));
  const lookupError = h('div', { id: 'lookup-error', class: 'alert error', role: 'alert', hidden: true });
  const lookupResult = h('div', { id: 'lookup-result', class: 'lookup-result', hidden: true, 'aria-live': 'polite' });

  // The zone's records.
  const memberSelect = h('select', { id: 'zone-member', 'aria-label': 'Show the records of' });
  const typeFilter = h('select', { id: 'zone-type', 'aria-label': 'Show records of type' });
  const search = h('input', { id: 'zone-search', type: 'search', placeholder: 'Filter by name or value', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Filter the zone\u2019s records' });
  const zoneBody = h('tbody');
  const zoneCount = h('span', { id: 'zone-count', class: 'muted' });
  const zoneError = h('div', { id: 'zone-error', class: 'alert error', role: 'alert', hidden: true });
  const zoneTitle = h('h2', { id: 'zone-title' }, 'The zone');

  root.append(h('div', { class: 'names' },
    h('div', { class: 'tiles names-tiles', id: 'dns-tiles' }, tZone.el, tSerial.el, tRecords.el, tServer.el),
    h('section', { id: 'own-card', class: 'card own-card', 'aria-labelledby': 'own-title' },
      h('div', { class: 'card-head' }, h('h2', { id: 'own-title' }, 'Your records'), ownCount),
      h('p', { class: 'hint' }, 'Records under this node\u2019s name. They are signed by this node and spread to every member with its node record.'),
      recordForm, recordError, recordResult, ownError,
      h('div', { class: 'table-wrap' },
        h('table', { id: 'own-records', class: 'data own-records' },
          h('thead', {},
            h('tr', {},
              h('th', { scope: 'col' }, 'Name'),
              h('th', { scope: 'col' }, 'Type'),
              h('th', { scope: 'col' }, 'Value'),
              h('th', { scope: 'col', class: 'num' }, 'TTL'),
              h('th', { scope: 'col', class: 'actions-col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
          ownBody))),
    h('section', { id: 'lookup-card', class: 'card lookup-card', 'aria-labelledby': 'lookup-title' },
      h('div', { class: 'card-head' }, h('h2', { id: 'lookup-title' }, 'Look up')),
      h('p', { class: 'hint' }, 'Resolves a name through this node, as its DNS server would, and shows the path: the zone, the cache, or the servers asked.'),
      lookupForm, lookupError, lookupResult),
    h('section', { id: 'zone-card', class: 'card zone-card', 'aria-labelledby': 'zone-title' },
      h('div', { class: 'card-head' },
        zoneTitle,
        h('div', { class: 'zone-tools' }, zoneCount, memberSelect, typeFilter, search)),
      h('div', { class: 'dig-line' },
        h('span', { class: 'dig-label' }, 'Ask this node with dig'),
        digCode, digCopy, digNote),
      zoneError,
      h('div', { class: 'table-wrap' },
        h('table', { id: 'zone-records', class: 'data zone-records' },
          h('thead', {},
            h('tr', {},
              h('th', { scope: 'col' }, 'Name'),
              h('th', { scope: 'col' }, 'Type'),
              h('th', { scope: 'col', class: 'num' }, 'TTL'),
              h('th', { scope: 'col' }, 'Value'))),
          zoneBody)))));

  // Names.
  const origin = () => zone?.zone ?? 'shoal.';
  const selfName = () => (node.get()?.name ?? '').toLowerCase();
  const ownName = () => `${selfName()}.${origin()}`;

  // absolute makes a record name given relative to this node absolute,
  // the way the node reads it.
  function absolute(name) {
    const n = (name ?? '').trim().toLowerCase();
    const z = origin().replace(/\.$/, '');
    if (n === '' || n === '@') return ownName();
    if (n.endsWith('.')) return n;
    if (n === z || n.endsWith(`.${z}`)) return `${n}.`;
    return `${n}.${ownName()}`;
  }

  // memberOf is the member a name of the zone belongs to: the label left
  // of the zone's name ("" for the zone's apex).
  function memberOf(name) {
    const o = origin();
    if (name === o || !name.endsWith(`.${o}`)) return '';
    const rest = name.slice(0, -(o.length + 1)).split('.');
    return rest[rest.length - 1];
  }

  // Zone.
  async function refreshZone() {
    try {
      const res = await api.get('/api/v1/dns/zone');
      if (signal.aborted) return;
      zoneError.hidden = true;
      const key = JSON.stringify(res);
      if (key === zoneKey) return;
      zoneKey = key;
      zone = res;
      showZone();
      showOwn();
    } catch (err) {
      if (signal.aborted || err.status === 401) return;
      zoneError.textContent = `Cannot read the zone: ${err.message}`;
      zoneError.hidden = false;
    }
  }

  function showZone() {
    if (!zone) return;
    const records = zone.records ?? [];
    const members = [...new Set(records.map((r) => memberOf(r.name)).filter(Boolean))].sort();
    tZone.value.textContent = zone.zone;
    tZone.sub.textContent = members.length === 1 ? '1 member' : `${members.length} members`;
    tSerial.value.textContent = String(zone.serial);
    tSerial.sub.textContent = 'grows with every change';
    tRecords.value.textContent = String(records.length);
    tRecords.sub.textContent = `${records.filter((r) => memberOf(r.name) === selfName()).length} under ${selfName() || 'this node'}`;
    zoneTitle.textContent = `The zone ${zone.zone}`;

    const srv = dnsServer(zone.server);
    tServer.value.textContent = zone.server;
    tServer.value.title = zone.server;
    tServer.sub.textContent = 'UDP and TCP';
    showDig(srv);

    fillSelect(memberSelect, [['', 'All members'], ['@', `${zone.zone} (the apex)`], ...members.map((m) => [m, m === selfName() ? `${m} (this node)` : m])], filterMember);
    const types = [...new Set(records.map((r) => r.type))].sort();
    fillSelect(typeFilter, [['', 'All types'], ...types.map((t) => [t, t])], filterType);
    filterMember = memberSelect.value;
    filterType = typeFilter.value;
    showZoneRows();
  }

  function showDig(srv, name = `${selfName() || 'node'}.${origin()}`, type = '') {
    digCode.textContent = `dig @${srv.host}${srv.port === 53 ? '' : ` -p ${srv.port}`} ${name}${type && type !== 'A' ? ` ${type}` : ''}`;
    digNote.textContent = srv.note;
  }

  function showZoneRows() {
    const records = zone?.records ?? [];
    const text = filterText.toLowerCase();
    const shown = records.filter((r) => {
      const m = memberOf(r.name);
      if (filterMember === '@' ? m !== '' : filterMember && m !== filterMember) return false;
      if (filterType && r.type !== filterType) return false;
      return !text || r.name.toLowerCase().includes(text) || r.value.toLowerCase().includes(text);
    });
    // Grouped by member: the apex first, then the members by name.
    const groups = new Map();
    for (const r of shown) {
      const m = memberOf(r.name);
      if (!groups.has(m)) groups.set(m, []);
      groups.get(m).push(r);
    }
    const order = [...groups.keys()].sort((a, b) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)));
    const rows = [];
    for (const m of order) {
      const list = groups.get(m);
      rows.push(h('tr', { class: 'group-row', dataset: { member: m || '@' } },
        h('th', { colspan: 4, scope: 'colgroup' },
          m ? h('span', { class: 'group-name' }, `${m}.${origin()}`) : h('span', { class: 'group-name' }, `${origin()} `, h('span', { class: 'muted' }, 'the zone\u2019s apex: SOA and one NS per member')),
          m && m === selfName() ? h('span', { class: 'chip self' }, 'this node') : null,
          h('span', { class: 'group-count muted' }, list.length === 1 ? '1 record' : `${list.length} records`))));
      for (const r of list) rows.push(zoneRow(r, m));
    }
    if (!shown.length) {
      rows.push(h('tr', { class: 'empty' }, h('td', { colspan: 4, class: 'muted' },
        records.length ? 'No records match the filter.' : 'The zone is empty.')));
    }
    zoneBody.replaceChildren(...rows);
    zoneCount.textContent = shown.length === records.length
      ? `${records.length} records`
      : `${shown.length} of ${records.length} records`;
  }

  function zoneRow(r, member) {
    const o = origin();
    const rel = r.name === o ? '' : r.name.slice(0, -(o.length + 1));
    return h('tr', { dataset: { name: r.name, type: r.type, member: member || '@', own: String(member !== '' && member === selfName()) } },
      h('td', { class: 'rr-name mono' }, rel ? [rel, h('span', { class: 'muted' }, `.${o}`)] : o),
      h('td', {}, typeBadge(r.type)),
      h('td', { class: 'num tabular' }, String(r.ttl)),
      h('td', { class: 'rr-value mono wrap' }, r.value));
  }

  memberSelect.addEventListener('change', () => { filterMember = memberSelect.value; showZoneRows(); });
  typeFilter.addEventListener('change', () => { filterType = typeFilter.value; showZoneRows(); });
  let searchTimer;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { filterText = search.value.trim(); showZoneRows(); }, 150);
  });

  // Your records.
  async function refreshOwn() {
    try {
      const res = await api.get('/api/v1/dns/records');
      if (signal.aborted) return;
      ownError.hidden = true;
      setOwn(res);
    } catch (err) {
      if (signal.aborted || err.status === 401) return;
      ownError.textContent = `Cannot list your records: ${err.message}`;
      ownError.hidden = false;
    }
  }

  function setOwn(list) {
    const key = JSON.stringify(list ?? []);
    if (key === ownKey) return;
    ownKey = key;
    own = list ?? [];
    showOwn();
  }

  function showOwn() {
    ownSuffix.textContent = `.${ownName()}`;
    qName.placeholder = `www.${ownName().replace(/\.$/, '')} or example.org`;
    const inZone = new Set((zone?.records ?? []).map((r) => `${r.name}|${r.type}`));
    const rows = own.map((r) => ownRow(r, !zone || inZone.has(`${absolute(r.name)}|${r.type}`)));
    if (!own.length) {
      rows.push(h('tr', { class: 'empty' }, h('td', { colspan: 5, class: 'muted' },
        'No records of your own yet. Add one above: ', h('code', {}, `www A 192.0.2.10`), ' makes ', h('code', {}, `www.${ownName()}`), ' resolve.')));
    }
    ownBody.replaceChildren(...rows);
    ownCount.textContent = own.length === 1 ? '1 record' : `${own.length} records`;
  }

  function ownRow(r, served) {
    const status = h('span', { class: 'row-status error-text', role: 'status' });
    const remove = h('button', { type: 'button', class: 'button small quiet danger', dataset: { action: 'remove' }, 'aria-label': `Remove ${r.name || '@'} ${r.type}` }, 'Remove');
    const tr = h('tr', { dataset: { name: r.name, type: r.type } },
      h('td', { class: 'rr-name' },
        h('div', { class: 'mono' }, r.name || '@'),
        h('div', { class: 'sub muted mono' }, absolute(r.name)),
        served ? null : h('div', { class: 'sub warn-text', title: 'The zone has no record of this name and type: another record conflicts with it, or the name is no longer this node\u2019s.' }, 'not in the zone')),
      h('td', {}, typeBadge(r.type)),
      h('td', { class: 'rr-value mono wrap' }, r.value),
      h('td', { class: 'num tabular' }, r.ttl ? String(r.ttl) : h('span', { class: 'muted', title: 'The zone\u2019s default TTL' }, 'default')),
      h('td', { class: 'actions-col' }, remove, status));
    remove.addEventListener('click', async () => {
      remove.disabled = true;
      status.textContent = '';
      try {
        const res = await api.del(`/api/v1/dns/records?name=${encodeURIComponent(r.name)}&type=${encodeURIComponent(r.type)}`);
        if (signal.aborted) return;
        setOwn(res);
        refreshZone();
      } catch (err) {
        if (err.status === 401) return;
        remove.disabled = false;
        status.textContent = `Not removed: ${plain(err.message)}`;
        if (err.status === 404) refreshOwn();
      }
    });
    return tr;
  }

  function showValueHint() {
    const t = recordTypes[typeSelect.value];
    valueInput.placeholder = t.sample;
    valueHint.textContent = t.hint;
  }
  typeSelect.addEventListener('change', showValueHint);
  showValueHint();
  for (const el of [nameInput, valueInput, ttlInput]) el.addEventListener('input', () => el.removeAttribute('aria-invalid'));

  let resultTimer;
  recordForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    recordError.hidden = true;
    recordResult.hidden = true;
    const type = typeSelect.value;
    let value = valueInput.value.trim();
    const name = nameInput.value.trim();
    const ttlText = ttlInput.value.trim();
    if (!value) return fail('Give the record\u2019s value.', valueInput);
    let ttl = 0;
    if (ttlText) {
      ttl = Number(ttlText);
      if (!Number.isInteger(ttl) || ttl < 0 || ttl > 86400) return fail('The TTL is a whole number of seconds, at most 86400 (a day).', ttlInput);
    }
    // A TXT value is zone-file text, where spaces split strings: send what
    // was typed as one string unless it is quoted already.
    if (type === 'TXT' && !value.startsWith('"')) value = `"${value.replace(/[\\"]/g, '\\$&')}"`;
    const body = { name: name || '@', type, value };
    if (ttl) body.ttl = ttl;
    addButton.disabled = true;
    try {
      const res = await api.post('/api/v1/dns/records', body);
      if (signal.aborted) return;
      setOwn(res);
      recordResult.replaceChildren('Added ', h('code', {}, `${absolute(body.name)} ${type} ${value}`),
        '. It reaches the other members with this node\u2019s record.');
      recordResult.hidden = false;
      clearTimeout(resultTimer);
      resultTimer = setTimeout(() => { recordResult.hidden = true; }, 6000);
      nameInput.value = '';
      valueInput.value = '';
      ttlInput.value = '';
      nameInput.focus();
      refreshZone();
    } catch (err) {
      if (err.status === 401) return;
      fail(`Not added: ${plain(err.message)}`, err.status === 400 ? fieldNamedIn(err.message) : null, err.message);
    } finally {
      addButton.disabled = false;
    }
  });

  function fail(text, field, full) {
    recordError.textContent = text;
    recordError.title = full ?? '';
    recordError.hidden = false;
    if (field) {
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    }
  }

  // fieldNamedIn guesses which field the node's error is about.
  function fieldNamedIn(message) {
    if (/record name|subdomain|CNAME at/.test(message)) return nameInput;
    if (/record type/.test(message)) return typeSelect;
    return valueInput;
  }

  // Look-up.
  let lookupSeq = 0;
  lookupForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = qName.value.trim();
    lookupError.hidden = true;
    if (!name) {
      lookupError.textContent = 'Give a name to look up.';
      lookupError.hidden = false;
      qName.focus();
      return;
    }
    const type = qType.value;
    const seq = ++lookupSeq;
    qButton.disabled = true;
    qButton.textContent = 'Looking up\u2026';
    lookupResult.setAttribute('aria-busy', 'true');
    const started = performance.now();
    try {
      const res = await api.get(`/api/v1/dns/query?name=${encodeURIComponent(name)}&type=${encodeURIComponent(type)}`);
      if (signal.aborted || seq !== lookupSeq) return;
      showLookup(res, name, type, performance.now() - started);
    } catch (err) {
      if (signal.aborted || err.status === 401 || seq !== lookupSeq) return;
      lookupResult.hidden = true;
      lookupError.textContent = `Not looked up: ${plain(err.message)}`;
      lookupError.hidden = false;
    } finally {
      if (seq === lookupSeq) {
        qButton.disabled = false;
        qButton.textContent = 'Look up';
        lookupResult.removeAttribute('aria-busy');
      }
    }
  });

  function showLookup(res, name, type, tookMs) {
    const answer = res.answer ?? [];
    const authority = res.authority ?? [];
    const steps = res.steps ?? [];
    const rcode = res.rcode ?? 'no answer';
    const fqdn = name.endsWith('.') ? name : `${name}.`;
    lookupResult.dataset.rcode = rcode;
    lookupResult.dataset.source = res.source ?? '';
    const summary = h('div', { class: 'lookup-summary' },
      h('span', { id: 'lookup-rcode', class: 'rcode', dataset: { rcode } }, rcode),
      h('span', { class: 'lookup-q mono' }, `${fqdn} ${type}`),
      h('span', { class: 'muted' }, res.source ? sourceLabels[res.source] ?? res.source : 'no path recorded'),
      h('span', { class: 'muted tabular lookup-took' }, `${Math.round(tookMs)} ms`));
    const parts = [summary];
    if (res.error) parts.push(h('p', { id: 'lookup-problem', class: 'lookup-problem' }, res.error));

    parts.push(h('h3', { class: 'sub-title' }, answer.length ? `Answer (${answer.length})` : 'Answer'));
    parts.push(answer.length
      ? rrTable('lookup-answer', answer)
      : h('p', { id: 'lookup-answer', class: 'muted no-answer' }, rcode === 'NXDOMAIN'
        ? 'No such name.'
        : rcode === 'NOERROR' ? `The name exists but has no ${type} records.` : 'No records came back.'));
    if (!answer.length && authority.length) {
      parts.push(h('h3', { class: 'sub-title' }, 'Authority'));
      parts.push(rrTable('lookup-authority', authority));
    }

    parts.push(h('h3', { class: 'sub-title' }, 'Path'));
    const list = h('ol', { id: 'lookup-steps', class: 'steps' }, steps.map(stepItem));
    if (!steps.length) list.append(h('li', { class: 'muted' }, 'The node recorded no steps.'));
    parts.push(list);

    const pre = h('pre', { id: 'lookup-text', class: 'dig-text' }, res.text ?? '');
    parts.push(h('details', { class: 'dig-details' }, h('summary', {}, 'dig-style output'), pre));
    if (zone) {
      showDig(dnsServer(zone.server), fqdn, type);
    }
    lookupResult.replaceChildren(...parts);
    lookupResult.hidden = false;
  }

  function stepItem(s, i) {
    const kind = s.Kind ?? '';
    let what;
    switch (kind) {
      case 'zone':
        what = ['Answered from the zone ', h('code', {}, s.Zone || origin()), ', authoritatively'];
        break;
      case 'cache':
        what = ['Cache hit'];
        break;
      case 'forward':
        what = ['Forwarded to ', h('code', {}, s.Server)];
        break;
      case 'iterate':
        what = ['Asked ', h('code', {}, s.Server), s.Zone ? [' for the zone ', h('code', {}, s.Zone)] : null];
        break;
      case 'refused':
        what = ['Recursion refused to this client'];
        break;
      case 'server':
        what = ['Asked ', h('code', {}, s.Server), ' directly'];
        break;
      default:
        what = [kind, s.Server ? [' ', h('code', {}, s.Server)] : null];
    }
    const bad = s.Rcode !== 0;
    return h('li', { class: 'step', dataset: { kind, rcode: String(s.Rcode) } },
      h('span', { class: 'step-no tabular' }, String(i + 1)),
      h('span', { class: 'step-kind', dataset: { kind } }, stepLabels[kind] ?? kind),
      h('div', { class: 'step-body' },
        h('div', { class: 'step-what' }, what),
        h('div', { class: 'step-result' },
          s.Question ? h('span', { class: 'mono muted' }, s.Question) : null,
          h('span', { class: bad ? 'step-outcome bad' : 'step-outcome' }, s.Result || '\u2014'))),
      h('span', { class: 'step-rtt tabular muted' }, s.RTT > 0 ? millis(s.RTT) : ''));
  }

  // Live: members joining, leaving and changing their records change the
  // zone; so may a change to this node's own records made elsewhere.
  let soonTimer;
  const soon = () => {
    clearTimeout(soonTimer);
    soonTimer = setTimeout(() => {
      refreshZone();
      refreshOwn();
    }, 200);
  };
  events.subscribe((ev) => {
    if (ev.type === 'cdn.member' || ev.type === 'settings.saved') soon();
  }, signal);
  // Back from a lost connection, events may have been missed.
  let lastState = events.state.get();
  events.state.watch((state) => {
    if (state === 'live' && lastState === 'reconnecting') soon();
    lastState = state;
  }, signal);
  node.watch(() => {
    if (zone) {
      showZone();
      showOwn();
    }
  }, signal);

  const poll = setInterval(() => {
    if (document.visibilityState === 'visible') soon();
  }, pollMs);
  signal.addEventListener('abort', () => {
    clearInterval(poll);
    clearTimeout(soonTimer);
    clearTimeout(searchTimer);
    clearTimeout(resultTimer);
  }, { once: true });

  refreshZone();
  refreshOwn();
}

// dnsServer reads the zone's server address (HOST:PORT, [V6]:PORT) as
// what to point dig at: an unspecified address becomes loopback.
function dnsServer(addr) {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(addr ?? '');
  let host = m ? m[1] : addr ?? '';
  const port = m ? Number(m[2]) : 53;
  let note = '';
  if (host === '0.0.0.0' || host === '::' || host === '') {
    note = 'The server listens on every address; loopback is one of them.';
    host = host === '::' ? '::1' : '127.0.0.1';
  }
  return { host, port, note };
}

// plain drops the Go package tags from the front of the node's error
// text ("node: bad record: naming: record name ..." reads "record name ...").
function plain(message) {
  return String(message ?? '').replace(/^(?:(?:node|naming|dns): (?:bad record: |not found: )?)+/, '');
}

function fillSelect(select, options, current) {
  const key = JSON.stringify(options);
  if (select.dataset.options !== key) {
    select.dataset.options = key;
    select.replaceChildren(...options.map(([value, label]) => h('option', { value }, label)));
  }
  select.value = options.some(([value]) => value === current) ? current : '';
}

function typeBadge(type) {
  return h('span', { class: 'rr-type', dataset: { type } }, type);
}

function rrTable(id, rrs) {
  return h('div', { class: 'table-wrap' },
    h('table', { id, class: 'data rr-table' },
      h('tbody', {}, rrs.map((r) => h('tr', { dataset: { name: r.name, type: r.type } },
        h('td', { class: 'rr-name mono' }, r.name),
        h('td', { class: 'num tabular' }, String(r.ttl)),
        h('td', {}, typeBadge(r.type)),
        h('td', { class: 'rr-value mono wrap' }, r.value))))));
}

