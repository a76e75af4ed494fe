// The Mail area: the node as its user's mail client. Folders with unread
// counts, the folder's messages (unread in bold, a clip for attachments, the
// delivery state of sent mail), search, the message being read with its
// attachments, and a compose form (To completed from the group's users, Cc,
// Bcc, attachments picked or dropped on the page) for new mail, replies,
// forwards and drafts. New mail (mail.arrived) is announced on the page.
// See the Mail routes in docs/API.md.
//
// Mail HTML is never put into this page: it goes, sanitised by the node,
// into a sandboxed iframe (no scripts, no same origin) through srcdoc, with
// its own CSP that allows no remote content unless the user asks for it.

import { h } from '../dom.js';
import { bytes, dateTime } from '../format.js';

export default { id: 'mail', title: 'Mail', render };

const pollMs = 20000;

const stateWords = {
  queued: 'queued',
  delivered: 'delivered',
  deferred: 'deferred',
  bounced: 'bounced',
  dropped: 'dropped',
};

// summaryState is a message's delivery state in a word, for its row.
function summaryState(d) {
  if (!d) return '';
  const states = d.recipients.map((r) => r.state);
  for (const s of ['bounced', 'deferred', 'queued']) if (states.includes(s)) return s;
  if (states.length && states.every((s) => s === 'delivered')) return 'delivered';
  return '';
}

// deliveryText says what became of one recipient.
function deliveryText(r) {
  switch (r.state) {
    case 'delivered': return `delivered at ${dateTime(r.time)} to ${r.host}`;
    case 'deferred': return `deferred: ${r.reason}${r.next_attempt ? `; next try at ${dateTime(r.next_attempt)}` : ''}`;
    case 'bounced': return `bounced: ${r.reason}`;
    case 'dropped': return 'dropped from the queue';
  }
  return `queued at ${dateTime(r.time)}`;
}

// clip is the attachment mark: a paper clip drawn in SVG (fonts may lack
// the emoji).
function clip() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '14');
  svg.setAttribute('height', '14');
  svg.setAttribute('class', 'attach-mark');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'Has attachments');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5');
  path.setAttribute('fill', 'none');
  path.setAttribute('stroke', 'currentColor');
  path.setAttribute('stroke-width', '1.8');
  path.setAttribute('stroke-linecap', 'round');
  svg.append(path);
  return svg;
}

// shortDate is a message's date for its row: the time today, else the day.
function shortDate(rfc3339) {
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return '';
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toLocaleDateString([], { day: 'numeric', month: 'short', year: d.getFullYear() === today.getFullYear() ? undefined : 'numeric' });
}

// personName is an address's display name, or the address.
function personName(addr) {
  const m = /^\s*"?([^"<]*?)"?\s*<([^>]+)>\s*$/.exec(addr ?? '');
  if (m) return m[1] || m[2];
  return (addr ?? '').trim();
}

const splitAddresses = (s) => s.split(',').map((a) => a.trim()).filter(Boolean);

// srcdoc wraps sanitised HTML in a document whose CSP allows images only
// from data: (and from anywhere when remote content is asked for).
function srcdoc(html, remote) {
  const img = remote ? 'data: https: http:' : 'data:';
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
  return `<!doctype html><html><head><meta charset="utf-8">` +
    `<meta http-equiv="Content-Security-Policy" content="${esc(`default-src 'none'; img-src ${img}`)}">` +
    `<base target="_blank"></head><body>${html}</body></html>`;
}

// base64 of a File's bytes.
function fileBase64(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

function render(root, { api, events, signal }) {
  let folders = [];
  let folder = 'INBOX';
  let msgs = [];
  let reading = null; // the parsed message being read
  let remote = false;
  let address = '';
  let loadSeq = 0;
  // Compose state.
  let attachments = []; // {name, type, data (base64), size}
  let draft = 0;
  let inReplyTo = '';
  let references = [];

  // Folders.
  const folderList = h('ul', { id: 'mail-folders', class: 'mail-folders' });
  const clientBox = h('dl', { id: 'mail-client', class: 'mail-client' });
  const clientDetails = h('details', { id: 'mail-client-settings', class: 'mail-client-settings' },
    h('summary', {}, 'Settings for a mail program'), clientBox);

  // The list.
  const search = h('input', { id: 'mail-search', type: 'search', placeholder: 'Search subject, sender and text', autocomplete: 'off', 'aria-label': 'Search the folder' });
  const listBody = h('tbody');
  const listEmpty = h('p', { id: 'mail-empty', class: 'muted', hidden: true }, 'No messages.');
  const listError = h('div', { id: 'mail-error', class: 'alert error', role: 'alert', hidden: true });
  const notice = h('div', { id: 'mail-notice', class: 'alert info', role: 'status', hidden: true });
  // The password the node made on its first start, shown until noted.
  const newPassword = h('div', { id: 'mail-new-password', class: 'alert info', role: 'status', hidden: true });

  // The reader.
  const btn = (id, label, onclick, cls = 'button small') => h('button', { id, type: 'button', class: cls, onclick }, label);
  const replyBtn = btn('mail-reply', 'Reply', () => startReply(false));
  const replyAllBtn = btn('mail-reply-all', 'Reply all', () => startReply(true));
  const forwardBtn = btn('mail-forward', 'Forward', () => startForward());
  const deleteBtn = btn('mail-delete', 'Delete', () => act('delete', { }));
  const unreadBtn = btn('mail-unread', 'Mark unread', () => act('seen', { seen: false }));
  const editBtn = btn('mail-edit-draft', 'Edit draft', () => editDraft());
  const moveSelect = h('select', { id: 'mail-move', 'aria-label': 'Move to folder' });
  moveSelect.addEventListener('change', () => {
    const to = moveSelect.value;
    moveSelect.value = '';
    if (to && to !== folder) act('move', { to });
  }, { signal });
  const readHead = h('dl', { id: 'mail-head', class: 'mail-head' });
  const readText = h('pre', { id: 'mail-text', class: 'mail-text' });
  const htmlFrame = h('iframe', { id: 'mail-html', class: 'mail-html', sandbox: 'allow-popups allow-popups-to-escape-sandbox', referrerpolicy: 'no-referrer', title: 'The message (HTML)', hidden: true });
  const remoteNote = h('div', { id: 'mail-remote-note', class: 'alert info', hidden: true });
  const rawNote = h('div', { id: 'mail-raw-note', class: 'alert info', hidden: true }, 'This message\u2019s MIME structure does not parse; it is shown as received.');
  const attachList = h('ul', { id: 'mail-attachments', class: 'mail-attachments' });
  const deliveryList = h('ul', { id: 'mail-delivery', class: 'mail-delivery', hidden: true });
  const readActions = h('div', { class: 'mail-actions' }, replyBtn, replyAllBtn, forwardBtn, deleteBtn, unreadBtn, moveSelect, editBtn);
  const reader = h('section', { id: 'mail-reader', class: 'card mail-reader', hidden: true, 'aria-label': 'The message' },
    readActions, readHead, deliveryList, rawNote, remoteNote, attachList, readText, htmlFrame);

  // Compose.
  const contacts = h('datalist', { id: 'mail-contacts' });
  const field = (id, label, input) => h('div', { class: 'field' }, h('label', { for: id }, label), input);
  const toInput = h('input', { id: 'mail-to', type: 'text', list: 'mail-contacts', autocomplete: 'off', placeholder: 'bob@beta.shoal, …' });
  const ccInput = h('input', { id: 'mail-cc', type: 'text', list: 'mail-contacts', autocomplete: 'off' });
  const bccInput = h('input', { id: 'mail-bcc', type: 'text', list: 'mail-contacts', autocomplete: 'off' });
  const subjectInput = h('input', { id: 'mail-subject', type: 'text', autocomplete: 'off' });
  const bodyInput = h('textarea', { id: 'mail-body', rows: 12 });
  const fileInput = h('input', { id: 'mail-files', type: 'file', multiple: true });
  const attachOut = h('ul', { id: 'mail-attach-list', class: 'mail-attachments' });
  const composeError = h('div', { id: 'mail-compose-error', class: 'alert error', role: 'alert', hidden: true });
  const composeNote = h('div', { id: 'mail-compose-note', class: 'alert ok', role: 'status', hidden: true });
  const sendBtn = h('button', { id: 'mail-send', type: 'submit', class: 'button primary' }, 'Send');
  const saveBtn = btn('mail-save-draft', 'Save draft', () => saveDraft(), 'button');
  const discardBtn = btn('mail-discard', 'Discard', () => closeCompose(), 'button quiet');
  const composeForm = h('form', { id: 'mail-compose', class: 'card mail-compose', hidden: true, novalidate: true },
    h('h2', {}, 'New message'),
    field('mail-to', 'To', toInput), field('mail-cc', 'Cc', ccInput), field('mail-bcc', 'Bcc', bccInput),
    field('mail-subject', 'Subject', subjectInput), field('mail-body', 'Message', bodyInput),
    field('mail-files', 'Attach', fileInput), h('p', { class: 'hint' }, 'Or drop files on this page.'),
    attachOut, composeError, h('div', { class: 'form-actions' }, sendBtn, saveBtn, discardBtn));
  const newBtn = btn('mail-new', 'New message', () => openCompose({}), 'button primary');

  root.append(h('div', { class: 'mail' },
    newPassword, notice, listError, composeNote,
    h('div', { class: 'mail-grid' },
      h('nav', { class: 'card mail-side', 'aria-label': 'Folders' }, newBtn, folderList, clientDetails),
      h('section', { class: 'card mail-list', 'aria-label': 'Messages' }, search,
        h('div', { class: 'table-wrap' },
          h('table', { id: 'mail-messages', class: 'data mail-messages' },
            h('thead', {}, h('tr', {},
              h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Attachment')),
              h('th', { scope: 'col' }, 'From'), h('th', { scope: 'col' }, 'Subject'),
              h('th', { scope: 'col' }, 'Date'), h('th', { scope: 'col' }, 'State'))),
            listBody)),
        listEmpty),
      h('div', { class: 'mail-right' }, reader, composeForm)),
    contacts));

  const q = (params) => new URLSearchParams(params).toString();
  const showError = (box, err) => {
    box.textContent = err.message;
    box.hidden = false;
  };

  // Loading.
  async function load() {
    const seq = ++loadSeq;
    const want = folder;
    const text = search.value.trim();
    try {
      const [fs, ms] = await Promise.all([
        api.get('/api/v1/mail/folders'),
        api.get(`/api/v1/mail/messages?${q({ folder: want, search: text })}`),
      ]);
      if (signal.aborted || seq !== loadSeq) return;
      listError.hidden = true;
      folders = fs;
      msgs = ms;
      showFolders();
      showList();
    } catch (err) {
      if (signal.aborted || err.status === 401 || seq !== loadSeq) return;
      showError(listError, err);
    }
  }

  async function loadAccount() {
    try {
      const [s, cs] = await Promise.all([api.get('/api/v1/mail/client'), api.get('/api/v1/mail/contacts')]);
      if (signal.aborted) return;
      address = s.address;
      showNewPassword(s);
      clientBox.replaceChildren(...[
        ['Address', s.address], ['User name', s.user], ['Password', `yours (shoal mail user passwd ${s.user} sets a new one)`],
        ['Server', s.host], ['Outgoing (SMTP submission)', `port ${s.submission}, STARTTLS, normal password`],
        ['Incoming (IMAP)', `port ${s.imap}, STARTTLS`], ['Incoming (POP3)', `port ${s.pop3}, STARTTLS`],
        ['TLS', `${s.tls} with the node\u2019s own certificate: accept it once in the program`],
        ['Login without TLS', s.plain_login ? 'allowed: the node listens on loopback only' : 'refused'],
      ].flatMap(([k, v]) => [h('dt', {}, k), h('dd', { dataset: { key: k } }, v)]));
      contacts.replaceChildren(...cs.map((c) => h('option', { value: c.address }, c.name || c.source)));
    } catch (err) {
      if (signal.aborted || err.status === 401) return;
      showError(listError, err);
    }
  }

  function showNewPassword(s) {
    if (!s.new_password) {
      newPassword.hidden = true;
      return;
    }
    const noted = h('button', {
      id: 'mail-new-password-noted', type: 'button', class: 'button small',
      onclick: async () => {
        try {
          await api.del('/api/v1/mail/new-password');
          newPassword.hidden = true;
        } catch (err) {
          showError(listError, err);
        }
      },
    }, 'I have noted it');
    newPassword.replaceChildren(
      h('p', {}, `Your mail password for ${s.address}, made on the first start. It is shown this once: note it for your mail programs (shoal mail user passwd ${s.user} makes a new one).`),
      h('p', {}, h('code', { id: 'mail-new-password-value' }, s.new_password), ' ', noted));
    newPassword.hidden = false;
  }

  function showFolders() {
    folderList.replaceChildren(...folders.map((f) => h('li', {},
      h('button', {
        type: 'button', class: `mail-folder${f.name === folder ? ' current' : ''}${f.unseen ? ' has-unseen' : ''}`,
        dataset: { folder: f.name }, 'aria-current': f.name === folder ? 'true' : null,
        onclick: () => {
          if (f.name === folder) return;
          folder = f.name;
          reading = null;
          showReader();
          load();
        },
      }, h('span', { class: 'folder-name' }, f.name), h('span', { class: 'unseen-count tabular' }, f.unseen ? String(f.unseen) : '')))));
    moveSelect.replaceChildren(h('option', { value: '' }, 'Move to\u2026'),
      ...folders.map((f) => h('option', { value: f.name }, f.name)));
  }

  function showList() {
    const sentLike = folder === 'Sent' || folder === 'Drafts';
    listBody.replaceChildren(...msgs.map((m) => {
      const unread = !m.flags.includes('\\Seen');
      const who = sentLike ? `To: ${splitAddresses(m.to).map(personName).join(', ')}` : personName(m.from);
      const tr = h('tr', {
        class: `mail-row${unread ? ' unread' : ''}${reading?.uid === m.uid ? ' current' : ''}`,
        dataset: { uid: m.uid, subject: m.subject }, tabindex: 0,
        onclick: () => open(m.uid),
        onkeydown: (e) => { if (e.key === 'Enter') open(m.uid); },
      },
      h('td', { class: 'clip' }, m.attachment ? clip() : ''),
      h('td', { class: 'from' }, who),
      h('td', { class: 'subject' }, m.subject || '(no subject)'),
      h('td', { class: 'date tabular' }, shortDate(m.date)),
      h('td', { class: 'mail-state', dataset: { state: summaryState(m.delivery) } }, stateWords[summaryState(m.delivery)] ?? ''));
      return tr;
    }));
    listEmpty.textContent = search.value.trim() ? 'Nothing matches the search.' : 'No messages.';
    listEmpty.hidden = msgs.length > 0;
    if (reading) showDelivery();
  }

  async function open(uid, withRemote = false) {
    try {
      const m = await api.get(`/api/v1/mail/messages/${uid}/parsed?${q({ folder, remote: withRemote ? '1' : '' })}`);
      if (signal.aborted) return;
      reading = m;
      remote = withRemote;
      showReader();
      load(); // unread counts changed
    } catch (err) {
      if (signal.aborted || err.status === 401) return;
      showError(listError, err);
    }
  }

  function showReader() {
    if (!reading) {
      reader.hidden = true;
      return;
    }
    const m = reading;
    composeForm.hidden = true;
    reader.hidden = false;
    const rows = [['From', m.from], ['To', m.to.join(', ')], ['Cc', m.cc.join(', ')], ['Date', dateTime(m.date)], ['Subject', m.subject]];
    readHead.replaceChildren(...rows.filter(([, v]) => v).flatMap(([k, v]) => [h('dt', {}, k), h('dd', { dataset: { key: k } }, v)]));
    rawNote.hidden = !m.raw;
    if (m.html) {
      htmlFrame.hidden = false;
      htmlFrame.srcdoc = srcdoc(m.html, remote);
      readText.hidden = true;
    } else {
      htmlFrame.hidden = true;
      htmlFrame.removeAttribute('srcdoc');
      readText.hidden = false;
    }
    readText.textContent = m.text;
    if (m.remote_blocked > 0) {
      remoteNote.replaceChildren(`${m.remote_blocked} remote image${m.remote_blocked === 1 ? ' was' : 's were'} blocked to keep the sender from knowing you read this. `,
        h('button', { id: 'mail-load-remote', type: 'button', class: 'button tiny', onclick: () => open(m.uid, true) }, 'Load remote content'));
      remoteNote.hidden = false;
    } else {
      remoteNote.hidden = true;
    }
    attachList.replaceChildren(...m.attachments.map((a) => h('li', { dataset: { part: a.part } },
      h('button', { type: 'button', class: 'button tiny', onclick: () => download(m.uid, a) }, `Save ${a.name}`),
      ' ', h('span', { class: 'muted' }, `${a.type}, ${bytes(a.size)}`))));
    editBtn.hidden = !m.flags.includes('\\Draft');
    for (const tr of listBody.querySelectorAll('tr')) tr.classList.toggle('current', Number(tr.dataset.uid) === m.uid);
    showDelivery();
  }

  function showDelivery() {
    const d = msgs.find((x) => x.uid === reading?.uid)?.delivery;
    if (!d) {
      deliveryList.hidden = true;
      return;
    }
    deliveryList.replaceChildren(...d.recipients.map((r) => h('li', { dataset: { address: r.address, state: r.state } },
      h('strong', {}, r.address), ': ', deliveryText(r))));
    deliveryList.hidden = false;
  }

  async function download(uid, a) {
    try {
      const res = await fetch(`/api/v1/mail/messages/${uid}/parts/${encodeURIComponent(a.part)}?${q({ folder })}`, { credentials: 'same-origin', cache: 'no-store' });
      if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error ?? `${res.status}`);
      const url = URL.createObjectURL(await res.blob());
      const link = h('a', { href: url, download: a.name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (err) {
      showError(listError, err);
    }
  }

  async function act(what, extra) {
    if (!reading) return;
    try {
      await api.post(`/api/v1/mail/messages/${what}`, { folder, uids: [reading.uid], ...extra });
      if (what !== 'seen') {
        reading = null;
        showReader();
      }
      listError.hidden = true;
      load();
    } catch (err) {
      if (err.status !== 401) showError(listError, err);
    }
  }

  // Compose.
  function openCompose(m) {
    toInput.value = (m.to ?? []).join(', ');
    ccInput.value = (m.cc ?? []).join(', ');
    bccInput.value = '';
    subjectInput.value = m.subject ?? '';
    bodyInput.value = m.body ?? '';
    attachments = m.attachments ?? [];
    draft = m.draft ?? 0;
    inReplyTo = m.in_reply_to ?? '';
    references = m.references ?? [];
    composeError.hidden = true;
    showAttachments();
    reader.hidden = true;
    composeForm.hidden = false;
    toInput.focus();
  }

  function closeCompose() {
    composeForm.hidden = true;
    showReader();
  }

  function showAttachments() {
    attachOut.replaceChildren(...attachments.map((a, i) => h('li', { dataset: { name: a.name } }, `${a.name} (${bytes(a.size)}) `,
      h('button', { type: 'button', class: 'button tiny quiet', onclick: () => { attachments.splice(i, 1); showAttachments(); } }, 'Remove'))));
  }

  async function addFiles(files) {
    for (const f of files) {
      try {
        attachments.push({ name: f.name, type: f.type, data: await fileBase64(f), size: f.size });
      } catch (err) {
        showError(composeError, err);
      }
    }
    showAttachments();
  }
  fileInput.addEventListener('change', async () => {
    await addFiles([...fileInput.files]);
    fileInput.value = '';
  }, { signal });
  // A drop anywhere on the page attaches while a message is being written.
  document.addEventListener('dragover', (e) => {
    if (composeForm.hidden || ![...(e.dataTransfer?.types ?? [])].includes('Files')) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    composeForm.classList.add('drop-target');
  }, { signal });
  document.addEventListener('drop', (e) => {
    if (composeForm.hidden || !e.dataTransfer?.files?.length) return;
    e.preventDefault();
    composeForm.classList.remove('drop-target');
    addFiles([...e.dataTransfer.files]);
  }, { signal });

  const message = () => ({
    to: splitAddresses(toInput.value), cc: splitAddresses(ccInput.value), bcc: splitAddresses(bccInput.value),
    subject: subjectInput.value, body: bodyInput.value,
    attachments: attachments.map(({ name, type, data }) => ({ name, type, data })),
    in_reply_to: inReplyTo, references, draft,
  });
  const busy = (on) => { for (const b of [sendBtn, saveBtn, discardBtn]) b.disabled = on; };

  composeForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    busy(true);
    composeError.hidden = true;
    try {
      const out = await api.post('/api/v1/mail/send', message());
      if (signal.aborted) return;
      composeNote.textContent = `Sent to ${out.recipients.join(', ')}.`;
      composeNote.hidden = false;
      composeForm.hidden = true;
      showReader();
      load();
    } catch (err) {
      if (err.status !== 401) showError(composeError, err);
    } finally {
      busy(false);
    }
  }, { signal });

  async function saveDraft() {
    busy(true);
    composeError.hidden = true;
    try {
      const out = await api.post('/api/v1/mail/drafts', message());
      draft = out.uid;
      composeNote.textContent = `Draft saved at ${new Date().toLocaleTimeString()}.`;
      composeNote.hidden = false;
      load();
    } catch (err) {
      if (err.status !== 401) showError(composeError, err);
    } finally {
      busy(false);
    }
  }

  const quote = (m) => `\n\nOn ${dateTime(m.date)}, ${m.from} wrote:\n` +
    m.text.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n').map((l) => `> ${l}`).join('\n') + '\n';
  const withPrefix = (p, s) => (s.toLowerCase().startsWith(p.toLowerCase()) ? s : `${p} ${s}`);
  const bareAddress = (a) => (/<([^>]+)>/.exec(a)?.[1] ?? a).trim().toLowerCase();

  function startReply(all) {
    const m = reading;
    if (!m) return;
    const to = m.reply_to.length ? m.reply_to : [m.from];
    const cc = all ? [...m.to, ...m.cc].filter((a) => bareAddress(a) !== address && !to.includes(a)) : [];
    openCompose({ to, cc, subject: withPrefix('Re:', m.subject), body: quote(m), in_reply_to: m.message_id,
      references: [...(m.references ?? []), m.message_id].filter(Boolean) });
  }

  async function partsOf(m) {
    const out = [];
    for (const a of m.attachments) {
      const res = await fetch(`/api/v1/mail/messages/${m.uid}/parts/${encodeURIComponent(a.part)}?${q({ folder })}`, { credentials: 'same-origin', cache: 'no-store' });
      if (!res.ok) throw new Error(`attachment ${a.name}: ${res.status}`);
      const blob = await res.blob();
      out.push({ name: a.name, type: a.type, data: await fileBase64(blob), size: blob.size });
    }
    return out;
  }

  async function startForward() {
    const m = reading;
    if (!m) return;
    try {
      const atts = await partsOf(m);
      openCompose({ subject: withPrefix('Fwd:', m.subject), attachments: atts,
        body: `\n\n---------- Forwarded message ----------\nFrom: ${m.from}\nDate: ${dateTime(m.date)}\nSubject: ${m.subject}\nTo: ${m.to.join(', ')}\n\n${m.text}` });
    } catch (err) {
      showError(listError, err);
    }
  }

  async function editDraft() {
    const m = reading;
    if (!m) return;
    try {
      openCompose({ to: m.to, cc: m.cc, subject: m.subject, body: m.text, attachments: await partsOf(m),
        in_reply_to: m.in_reply_to, references: m.references, draft: m.uid });
    } catch (err) {
      showError(listError, err);
    }
  }

  // Keeping up: new mail, delivery changes, searches, and now and then.
  let searchTimer;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(load, 200);
  }, { signal });
  events.subscribe(async (ev) => {
    if (ev.type === 'mail.arrived') {
      notice.textContent = 'New mail arrived.';
      notice.hidden = false;
      load();
    } else if (ev.type === 'mail.queue') {
      load();
    }
  }, signal);
  const timer = setInterval(load, pollMs);
  signal.addEventListener('abort', () => {
    clearInterval(timer);
    clearTimeout(searchTimer);
  }, { once: true });

  load();
  loadAccount();
}
