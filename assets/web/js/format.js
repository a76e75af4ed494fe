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
