// Formatting of durations, times and event data for display.

// duration formats seconds as "5s", "3m 05s", "2h 03m 04s" or "4d 02h 03m 04s".
export function duration(seconds) {
  let s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hr = Math.floor(s / 3600);
  s -= hr * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const pad = (n) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d ${pad(hr)}h ${pad(m)}m ${pad(s)}s`;
  if (hr > 0) return `${hr}h ${pad(m)}m ${pad(s)}s`;
  if (m > 0) return `${m}m ${pad(s)}s`;
  return `${s}s`;
}

// clock formats an RFC 3339 time as the local time of day, 14:03:07.
export function clock(rfc3339) {
  const t = new Date(rfc3339);
  if (Number.isNaN(t.getTime())) return '';
  return t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

// dateTime formats an RFC 3339 time as local date and time.
export function dateTime(rfc3339) {
  const t = new Date(rfc3339);
  if (Number.isNaN(t.getTime())) return '';
  return t.toLocaleString([], { dateStyle: 'medium', timeStyle: 'medium' });
}

// compactJSON renders any value on one line, cut to max characters.
export function compactJSON(value, max = 400) {
  let s;
  try {
    s = typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    s = String(value);
  }
  s ??= '';
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

// bytes formats a size in binary units: "512 B", "1.5 KiB", "3.00 MiB".
export function bytes(n) {
  let v = Number(n) || 0;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${Math.round(v)} B`;
  const digits = Math.abs(v) < 10 ? 2 : Math.abs(v) < 100 ? 1 : 0;
  return `${v.toFixed(digits)} ${units[u]}`;
}

// rate formats bytes per second.
export function rate(n) {
  return `${bytes(n)}/s`;
}

// isZeroTime says whether an RFC 3339 time is Go's zero time (never).
export function isZeroTime(rfc3339) {
  const t = Date.parse(rfc3339);
  return !rfc3339 || Number.isNaN(t) || t <= Date.parse('0001-01-02T00:00:00Z');
}

// ago formats how long before now (ms since the epoch) a time was:
// "just now", "12s ago", "3m ago", "2h ago", "4d ago"; "never" for the zero time.
export function ago(rfc3339, now = Date.now()) {
  if (isZeroTime(rfc3339)) return 'never';
  const s = Math.max(0, (now - Date.parse(rfc3339)) / 1000);
  if (s < 2) return 'just now';
  if (s < 60) return `${Math.floor(s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

// millis formats a Go duration (nanoseconds) as milliseconds: "0.8 ms", "42 ms".
export function millis(ns) {
  const ms = (Number(ns) || 0) / 1e6;
  if (ms <= 0) return '—';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

// percent formats done of total: "42%", "99.5%"; never 100% before it is whole.
export function percent(done, total) {
  if (!(total > 0)) return '0%';
  if (done >= total) return '100%';
  const p = (100 * done) / total;
  return p >= 99 || p < 1 ? `${Math.min(p, 99.9).toFixed(1)}%` : `${Math.floor(p)}%`;
}
