// Shoal's web client: the shell. It checks the session, then shows the
// header, the navigation built from the registry of areas (js/areas/index.js),
// and the area named in the URL's fragment (#/node, #/settings). Everything
// comes from the node's control API, /api/v1/; see docs/API.md.

import { api, onUnauthorized } from './js/api.js';
import { areas } from './js/areas/index.js';
import { $, h } from './js/dom.js';
import { EventStream } from './js/stream.js';
import { Value } from './js/store.js';

const node = new Value(null); // GET /api/v1/status, kept up to date
let skewMs = 0; // this browser's clock minus the node's
let events = null;
let current = null; // the shown area and the controller that leaves it

// uptime is how long the node has run, in seconds, on the node's clock.
function uptime() {
  const st = node.get();
  if (!st) return 0;
  return (Date.now() - skewMs - Date.parse(st.started_at)) / 1000;
}

async function refreshStatus() {
  const sent = Date.now();
  const st = await api.get('/api/v1/status');
  const received = Date.now();
  skewMs = (sent + received) / 2 - (Date.parse(st.started_at) + st.uptime_s * 1000);
  const before = node.get();
  node.set(st);
  return before && before.started_at !== st.started_at; // a new run of the node
}

function show(screen) {
  for (const el of document.querySelectorAll('body > [data-screen]')) el.hidden = el.dataset.screen !== screen;
}

function showLogin(reason) {
  stop();
  const p = $('#login-reason');
  p.textContent = reason ?? '';
  p.hidden = !reason;
  document.title = 'Shoal: not logged in';
  show('login');
}

function showUnreachable(err) {
  stop();
  $('#unreachable-reason').textContent = `The node did not answer: ${err.message}.`;
  document.title = 'Shoal: node not reachable';
  show('unreachable');
}

function stop() {
  events?.close();
  events = null;
  current?.leave.abort();
  current = null;
  $('#main').replaceChildren();
}

async function boot() {
  show('loading');
  try {
    await refreshStatus();
  } catch (err) {
    if (err.status === 401) showLogin();
    else showUnreachable(err);
    return;
  }
  events = new EventStream('/api/v1/events', {
    onResume: () => {
      refreshStatus().then((restarted) => {
        if (restarted) events?.resync();
      }, () => {});
    },
  });
  events.state.watch(showConnection);
  events.subscribe(onEvent);
  show('app');
  route();
  events.start();
}

// newMail counts the messages that arrived while another area was shown;
// the Mail link carries the count until the Mail area is opened. The
// stream's backlog (events from before the page opened) does not count.
let newMail = 0;
const openedAt = Date.now();

function showNewMail() {
  const link = document.querySelector('#nav a[data-area="mail"]');
  if (!link) return;
  if (newMail > 0) link.dataset.newMail = String(newMail);
  else delete link.dataset.newMail;
  link.title = newMail > 0 ? `${newMail} new message${newMail === 1 ? '' : 's'}` : '';
}

function onEvent(ev) {
  if (ev.type === 'mail.arrived' && current?.area.id !== 'mail' && Date.parse(ev.time) >= openedAt) {
    newMail++;
    showNewMail();
  }
  const st = node.get();
  if (!st) return;
  if (ev.type === 'settings.saved' && ev.data?.settings?.name && ev.data.settings.name !== st.name) {
    node.set({ ...st, name: ev.data.settings.name });
  } else if (ev.type === 'node.started' && ev.data?.started_at && ev.data.started_at !== st.started_at) {
    refreshStatus().catch(() => {});
  }
}

const connectionLabels = {
  connecting: 'connecting',
  live: 'live',
  reconnecting: 'reconnecting',
  closed: 'offline',
};

function showConnection(state) {
  const el = $('#conn-state');
  el.dataset.state = state;
  $('#conn-label').textContent = connectionLabels[state] ?? state;
  el.title = state === 'live'
    ? 'Receiving live events from the node'
    : state === 'reconnecting'
      ? 'Lost the connection to the node; reconnecting'
      : 'Event stream from the node';
}

function buildNav() {
  $('#nav').replaceChildren(...areas.map((a) =>
    h('li', {}, h('a', { href: `#/${a.id}`, dataset: { area: a.id } }, a.title))));
}

function route() {
  if (!events) return;
  const wanted = location.hash.replace(/^#\/?/, '');
  const area = areas.find((a) => a.id === wanted) ?? areas[0];
  if (current?.area === area) return;
  const moved = current !== null;
  current?.leave.abort();
  const leave = new AbortController();
  current = { area, leave };
  const main = $('#main');
  main.replaceChildren();
  main.dataset.area = area.id;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.area === area.id) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (area.id === 'mail') {
    newMail = 0;
    showNewMail();
  }
  showTitle();
  area.render(main, { api, node, uptime, events, signal: leave.signal });
  if (moved) main.focus({ preventScroll: true });
}

function showTitle() {
  const st = node.get();
  const area = current?.area.title;
  document.title = [area, st?.name, 'Shoal'].filter(Boolean).join(' · ');
}

async function logout() {
  const button = $('#logout');
  button.disabled = true;
  try {
    await api.post('/api/v1/logout');
    button.textContent = 'Log out';
    button.removeAttribute('title');
    showLogin('You are logged out.');
  } catch (err) {
    if (err.status !== 401) {
      button.title = `Not logged out: ${err.message}`;
      button.textContent = 'Log out (failed, retry)';
    }
  } finally {
    button.disabled = false;
  }
}

onUnauthorized(() => showLogin('Your session has ended.'));
node.watch((st) => {
  $('#header-node-name').textContent = st?.name ?? '';
  showTitle();
});
buildNav();
window.addEventListener('hashchange', route);
$('#logout').addEventListener('click', logout);
$('#retry').addEventListener('click', boot);
boot();
