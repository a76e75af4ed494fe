// How each event type reads in the event log. A view turns an event's data
// into {badge, level, text, attrs}. Types without a view here show their
// type and data as JSON, so events that the node gains later are visible
// before they get a view: a new type is one more entry in `views`.

import { compactJSON } from './format.js';

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
