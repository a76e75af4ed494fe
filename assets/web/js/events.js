// How each event type reads in the event log. A view turns an event's data
// into {badge, level, text, attrs}. Types without a view here show their
// type and data as JSON, so events that the node gains later are visible
// before they get a view: a new type is one more entry in `views`.

import { bytes, compactJSON } from './format.js';

// Progress ticks: several a second while anything moves. They drive the
// progress bars of the Library; the event log leaves them out.
const progressTypes = new Set(['cdn.progress', 'cdn.publish.progress']);

// isProgress says whether an event type is a progress tick.
export function isProgress(type) {
  return progressTypes.has(type);
}

const views = {
  log: (d) => ({
    badge: logLevel(d.level),
    level: logLevel(d.level),
    text: d.message ?? '',
    attrs: d.attrs,
  }),
  'node.started': (d) => ({
    badge: 'node',
    text: `Node ${d.name ?? ''} started`,
    attrs: { id: d.id, network: d.network, version: d.version },
  }),
  'node.stopping': () => ({ badge: 'node', level: 'warn', text: 'Node stopping' }),
  'settings.saved': (d) => ({
    badge: 'settings',
    text: 'Settings saved',
    attrs: {
      name: d.settings?.name,
      restart_required: d.restart_required?.length ? d.restart_required.join(', ') : 'nothing',
    },
  }),
  'cdn.complete': (d) => ({
    badge: 'cdn',
    text: `Complete: ${d.name || d.infohash}`,
    attrs: { size: bytes(d.size), infohash: d.infohash },
  }),
  'cdn.missing': (d) => ({
    badge: 'cdn',
    level: 'warn',
    text: `Published files missing: ${d.name || d.infohash}`,
    attrs: { error: d.error, path: d.path },
  }),
  'cdn.evicted': (d) => ({
    badge: 'cdn',
    text: `Evicted from the cache: ${d.name || d.infohash}`,
    attrs: { size: bytes(d.size), infohash: d.infohash },
  }),
  'cdn.member': (d) => ({
    badge: 'member',
    level: d.state === 'down' ? 'warn' : 'info',
    text: `${d.display_name || d.record?.name} is ${d.state}${d.self ? ' (this node)' : ''}`,
    attrs: { id: d.record?.id, addresses: d.record?.addresses?.join(' ') },
  }),
  'cdn.catalog': (d) => ({
    badge: 'catalog',
    text: 'A member\u2019s catalog changed',
    attrs: { node: d.node },
  }),
  'cdn.progress': (d) => ({
    badge: 'cdn',
    level: 'debug',
    text: Array.isArray(d) && d.length ? `${d.length} item${d.length === 1 ? '' : 's'} moving` : 'Transfers idle',
  }),
  'cdn.publish.progress': (d) => ({
    badge: 'publish',
    level: 'debug',
    text: `Hashing ${d.path}`,
    attrs: { done: bytes(d.done), total: bytes(d.total) },
  }),
};

// describe returns how ev reads in the log.
export function describe(ev) {
  const view = views[ev.type];
  if (view) {
    try {
      return { level: 'info', ...view(ev.data ?? {}) };
    } catch {
      // Data not shaped as expected: fall through to the generic view.
    }
  }
  return {
    badge: ev.type,
    level: 'info',
    text: ev.data === undefined || ev.data === null ? ev.type : compactJSON(ev.data),
    generic: true,
  };
}

// logLevel maps slog's level names (DEBUG, INFO, WARN, ERROR, and in-between
// ones like INFO+2) to debug, info, warn or error.
export function logLevel(name) {
  const base = String(name ?? 'info').toLowerCase().replace(/[+-]\d+$/, '');
  return ['debug', 'info', 'warn', 'error'].includes(base) ? base : 'info';
}
