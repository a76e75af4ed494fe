// The node's control API, /api/v1/, as the logged-in web client uses it: the
// session cookie goes along by itself (same origin), and requests that change
// state are JSON, which the API insists on for cookie sessions.

export class ApiError extends Error {
  // status is the HTTP status, or 0 when the node could not be reached.
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

let unauthorized = () => {};

// onUnauthorized sets what happens when the node answers 401: the session
// is gone (logged out, expired) and the user needs a new login link.
export function onUnauthorized(fn) {
  unauthorized = fn;
}

export function notifyUnauthorized(err) {
  unauthorized(err);
}

async function request(method, path, body) {
  const init = {
    method,
    credentials: 'same-origin',
    cache: 'no-store',
    headers: { Accept: 'application/json' },
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'cannot reach the node');
  }
  const text = await res.text().catch(() => '');
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data?.error ?? `${res.status} ${res.statusText}`.trim());
    if (res.status === 401) unauthorized(err);
    throw err;
  }
  return data;
}

// errorFrom makes the ApiError of a failed response, calling the
// unauthorized hook on 401.
async function errorFrom(res) {
  let data = null;
  try {
    data = JSON.parse(await res.text());
  } catch {
    data = null;
  }
  const err = new ApiError(res.status, data?.error ?? `${res.status} ${res.statusText}`.trim());
  if (res.status === 401) unauthorized(err);
  return err;
}

// ndjson POSTs body to path and calls onLine with each JSON line of the
// answer as it arrives (application/x-ndjson, as POST /api/v1/publish
// streams its progress). It resolves with the last line.
async function ndjson(path, body, onLine) {
  let res;
  try {
    res = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { Accept: 'application/x-ndjson, application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'cannot reach the node');
  }
  if (!res.ok) throw await errorFrom(res);
  if (!res.body) throw new ApiError(0, 'the node sent no answer');
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let last = null;
  const take = (line) => {
    if (!line.trim()) return;
    let v;
    try {
      v = JSON.parse(line);
    } catch {
      return;
    }
    last = v;
    onLine(v);
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        take(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
  } catch {
    throw new ApiError(0, 'the connection to the node broke off');
  }
  take(buf);
  return last;
}

export const api = {
  get: (path) => request('GET', path),
  put: (path, body) => request('PUT', path, body),
  post: (path, body = {}) => request('POST', path, body),
  // del sends DELETE; the body is empty JSON, which cookie sessions need
  // for every state-changing request.
  del: (path) => request('DELETE', path, {}),
  ndjson,
};
