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

export const api = {
  get: (path) => request('GET', path),
  put: (path, body) => request('PUT', path, body),
  post: (path, body = {}) => request('POST', path, body),
};
