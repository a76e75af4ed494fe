// The Settings area: the node's shoal.toml as a form. Saving PUTs the whole
// config; the node checks it and either changes nothing (400, its error is
// shown) or writes it, applies the name at once and says which other
// settings wait for a restart.

import { h } from '../dom.js';

// restartLabels names the node's restart_required keys for people.
const restartLabels = {
  network: 'network',
  bind: 'bind address',
  'ui.address': 'UI address',
  ports: 'ports',
  join: 'join',
  'cdn.dht_bootstrap': 'DHT bootstrap',
  'cdn.public_dht': 'public DHT',
  'log.level': 'log level',
};

// fields are the form's controls. key is the setting's name in shoal.toml,
// which is also how the node's errors name it; restart is the key the node
// reports in restart_required when the setting waits for a restart.
const groups = [
  {
    title: 'Identity',
    fields: [
      { key: 'name', label: 'Name', hint: 'This node\u2019s name in the group, a DNS label (NAME.shoal.). Applies at once.' },
      { key: 'network', label: 'Network', restart: 'network', hint: 'The group of nodes this node belongs to.' },
    ],
  },
  {
    title: 'Addresses',
    fields: [
      { key: 'bind', label: 'Bind address', restart: 'bind', hint: 'IP address every peer-facing service listens on. 127.0.0.1 keeps the node reachable from this machine only; a LAN address shares with the LAN; 0.0.0.0 listens on all and tells the group this machine’s addresses.' },
      { key: 'ui.address', label: 'UI address', restart: 'ui.address', hint: 'HOST:PORT of this web client and the control API.' },
      { key: 'ports.peer', label: 'Peer port', type: 'port', restart: 'ports', hint: 'Peer API and content gateway. 0 picks a free port.' },
      { key: 'ports.bittorrent', label: 'BitTorrent port', type: 'port', restart: 'ports', hint: 'BitTorrent and DHT, TCP and UDP. 0 picks a free port.' },
    ],
  },
  {
    title: 'Group',
    fields: [
      { key: 'join', label: 'Join', type: 'lines', restart: 'join', hint: 'Members to join through: HOST:PORT of their peer API, one per line.' },
      { key: 'cdn.dht_bootstrap', label: 'DHT bootstrap', type: 'lines', placeholder: 'e.g. 192.0.2.10:7482', restart: 'cdn.dht_bootstrap', hint: 'DHT nodes to start from besides the known members: HOST:PORT, such as any member\u2019s BitTorrent port, one per line. Through them a node with no join list finds the members.' },
      { key: 'cdn.public_dht', label: 'Public DHT', type: 'check', text: 'Also start from the public BitTorrent routers', restart: 'cdn.public_dht', hint: 'Off keeps the DHT within the group.' },
    ],
  },
  {
    title: 'Logs',
    fields: [
      { key: 'log.level', label: 'Log level', type: 'select', options: ['debug', 'info', 'warn', 'error'], restart: 'log.level', hint: 'How much the node logs. The event log shows info and above.' },
    ],
  },
];
const fields = groups.flatMap((g) => g.fields);

export default { id: 'settings', title: 'Settings', render };

function render(root, { api, node, events, signal }) {
  let baseline = null; // the settings as saved, which the form started from
  let pending = []; // restart_required of the last save

  const error = h('div', { id: 'settings-error', class: 'alert error', role: 'alert', hidden: true });
  const result = h('div', { id: 'settings-result', class: 'alert ok', role: 'status', hidden: true });
  const elsewhere = h('div', { id: 'settings-elsewhere', class: 'alert info', hidden: true },
    h('span', {}, 'These settings were just saved elsewhere (the desktop window or the command line). '),
    h('button', { type: 'button', class: 'button small', onclick: () => { hide(error, result); load(events.latest('settings.saved')?.data); } }, 'Show them'));
  const save = h('button', { type: 'submit', id: 'settings-save', class: 'button primary' }, 'Save');
  const discard = h('button', { type: 'button', id: 'settings-discard', class: 'button quiet', disabled: true }, 'Discard changes');
  const controls = new Map(fields.map((f) => [f.key, control(f)]));

  const form = h('form', { id: 'settings-form', class: 'card settings', novalidate: true, 'aria-labelledby': 'settings-title', 'aria-busy': 'true' },
    h('div', { class: 'settings-head' },
      h('h1', { id: 'settings-title' }, 'Settings'),
      h('p', { class: 'muted' }, 'The name applies at once. Everything else is saved to shoal.toml and takes effect when the node restarts.')),
    error, result, elsewhere,
    groups.map((g) =>
      h('fieldset', { class: 'group' },
        h('legend', {}, g.title),
        g.fields.map((f) => fieldRow(f, controls.get(f.key))))),
    h('div', { class: 'form-actions' }, save, discard));
  root.append(form);

  form.addEventListener('input', changed);
  form.addEventListener('change', changed);
  discard.addEventListener('click', () => {
    fill(baseline);
    hide(error, result, elsewhere);
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!baseline) return;
    hide(error, result, elsewhere);
    let body;
    try {
      body = read();
    } catch (err) {
      fail(err.message, err.key);
      return;
    }
    save.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      const res = await api.put('/api/v1/settings', body);
      load(res);
      const st = node.get();
      if (st) node.set({ ...st, name: res.settings.name });
      result.textContent = pending.length
        ? `Saved. The name is in effect; ${list(pending.map((k) => restartLabels[k] ?? k))} take${pending.length === 1 ? 's' : ''} effect after a restart.`
        : 'Saved. All settings are in effect.';
      result.hidden = false;
    } catch (err) {
      if (err.status !== 401) fail(`Not saved: ${err.message}`, fieldNamedIn(err.message));
    } finally {
      save.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });

  // A save from the desktop window or the CLI arrives as an event: show it,
  // unless the user is editing, who then gets a note instead.
  events.subscribe((ev) => {
    if (ev.type !== 'settings.saved' || !ev.data?.settings || !baseline) return;
    if (same(ev.data.settings, baseline)) {
      pending = ev.data.restart_required ?? [];
      showPending();
    } else if (dirty()) {
      elsewhere.hidden = false;
    } else {
      hide(result);
      load(ev.data);
    }
  }, signal);

  api.get('/api/v1/settings').then((res) => {
    if (signal.aborted) return;
    // shoal.toml's settings, and those that wait for a restart.
    load(res);
    form.removeAttribute('aria-busy');
  }, (err) => {
    if (err.status !== 401) fail(`Cannot load settings: ${err.message}`);
  });

  function load(res) {
    if (!res?.settings) return;
    baseline = structuredClone(res.settings);
    pending = res.restart_required ?? [];
    fill(baseline);
    elsewhere.hidden = true;
    showPending();
  }

  function fill(cfg) {
    for (const f of fields) {
      const el = controls.get(f.key);
      setValue(el, toText(f, getPath(cfg, f.key)));
      el.removeAttribute('aria-invalid');
    }
    changed();
  }

  // read makes the PUT body: the saved settings with the form's values on
  // top, so settings this form does not know yet are kept as they are.
  function read() {
    const cfg = structuredClone(baseline);
    for (const f of fields) setPath(cfg, f.key, fromText(f, valueOf(controls.get(f.key))));
    return cfg;
  }

  function dirty() {
    return baseline != null && fields.some((f) => valueOf(controls.get(f.key)) !== toText(f, getPath(baseline, f.key)));
  }

  function changed() {
    if (!baseline) return;
    for (const f of fields) {
      const el = controls.get(f.key);
      el.closest('.field').dataset.dirty = String(valueOf(el) !== toText(f, getPath(baseline, f.key)));
    }
    discard.disabled = !dirty();
  }

  function showPending() {
    for (const f of fields) {
      const hint = form.querySelector(`[data-restart-hint="${f.key}"]`);
      if (hint) hint.hidden = !pending.includes(f.restart);
    }
  }

  function fail(message, key) {
    error.textContent = message;
    error.hidden = false;
    const el = key && controls.get(key);
    if (el) {
      el.setAttribute('aria-invalid', 'true');
      el.focus();
    }
  }

  function hide(...els) {
    for (const el of els) el.hidden = true;
    for (const el of controls.values()) el.removeAttribute('aria-invalid');
  }
}

function control(f) {
  const common = { id: inputID(f.key), name: f.key, dataset: { setting: f.key }, 'aria-describedby': `${inputID(f.key)}-hint` };
  switch (f.type) {
    case 'lines':
      return h('textarea', { ...common, rows: 3, spellcheck: 'false', placeholder: f.placeholder ?? 'e.g. 192.0.2.10:7481' });
    case 'check':
      return h('input', { ...common, type: 'checkbox' });
    case 'select':
      return h('select', common, f.options.map((o) => h('option', { value: o }, o)));
    case 'port':
      return h('input', { ...common, type: 'number', min: 0, max: 65535, step: 1, inputmode: 'numeric' });
    default:
      return h('input', { ...common, type: 'text', autocomplete: 'off', spellcheck: 'false' });
  }
}

function fieldRow(f, el) {
  return h('div', { class: 'field', dataset: { field: f.key } },
    h('label', { for: el.id }, f.label),
    h('div', { class: 'control' },
      f.type === 'check' ? h('label', { class: 'check' }, el, f.text) : el,
      h('p', { id: `${el.id}-hint`, class: 'hint' },
        f.hint,
        f.restart ? h('span', { class: 'restart-hint', dataset: { restartHint: f.key }, hidden: true }, 'Takes effect after restart') : null)));
}

function inputID(key) {
  return `settings-${key.replace('.', '-')}`;
}

function toText(f, value) {
  if (f.type === 'lines') return (value ?? []).join('\n');
  if (f.type === 'check') return String(value === true);
  return value == null ? '' : String(value);
}

// valueOf is a control's value as text; a checkbox's is 'true' or 'false'.
function valueOf(el) {
  return el.type === 'checkbox' ? String(el.checked) : el.value;
}

function setValue(el, text) {
  if (el.type === 'checkbox') el.checked = text === 'true';
  else el.value = text;
}

class FieldError extends Error {
  constructor(key, message) {
    super(message);
    this.key = key;
  }
}

function fromText(f, text) {
  switch (f.type) {
    case 'lines':
      return text.split('\n').map((s) => s.trim()).filter((s) => s !== '');
    case 'check':
      return text === 'true';
    case 'port':
      if (!/^\s*\d+\s*$/.test(text)) throw new FieldError(f.key, `${f.key} must be a whole number from 0 to 65535 (0 picks a free port)`);
      return Number(text);
    default:
      return text.trim();
  }
}

// fieldNamedIn finds the setting that a node error names: they read
// "node: settings: bind \"x\" is not an IP address".
function fieldNamedIn(message) {
  const m = /settings: ([a-z_.]+)/.exec(message);
  return m && fields.some((f) => f.key === m[1]) ? m[1] : null;
}

function getPath(obj, key) {
  return key.split('.').reduce((o, k) => o?.[k], obj);
}

function setPath(obj, key, value) {
  const keys = key.split('.');
  const last = keys.pop();
  let o = obj;
  for (const k of keys) o = o[k] ??= {};
  o[last] = value;
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function list(items) {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}
