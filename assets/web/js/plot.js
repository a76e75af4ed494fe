// A line plot of download and upload rate over the last two minutes, drawn
// on a canvas with a y axis in bytes/s and an x axis in seconds before now.
// Until two minutes are sampled, the x axis spans what there is (at least
// 30 s), so a fresh plot is not a flat line with a blip at its right end.

import { colors, prepare } from './canvas.js';

export const windowMs = 120_000;
const minSpanMs = 30_000;
// Samples further apart than this leave a gap in the lines.
const gapMs = 3_500;

const units = ['B/s', 'KiB/s', 'MiB/s', 'GiB/s'];

// scale picks the y axis: a round top value and its unit.
function scale(max) {
  let u = 0;
  let v = Math.max(max, 1);
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const div = 1024 ** u;
  // A top of 1, 2, 2.5, 5 times a power of ten in that unit, cut in 4 or 5.
  const pow = 10 ** Math.floor(Math.log10(v));
  const steps = [[1, 4], [2, 4], [2.5, 5], [5, 5], [10, 5]];
  for (const [m, ticks] of steps) {
    if (v <= m * pow) return { top: m * pow * div, ticks, div, unit: units[u] };
  }
  return { top: 10 * pow * div, ticks: 5, div, unit: units[u] };
}

function label(value, div, unit) {
  const v = value / div;
  const s = v === 0 ? '0' : Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 1 : 0);
  return `${s} ${unit}`;
}

// drawRates draws samples ({t, down, up}, t in ms, oldest first) ending at
// now. It returns the number of samples within the window.
export function drawRates(canvas, samples, now) {
  const p = prepare(canvas);
  if (!p) return 0;
  const { ctx, width, height } = p;
  const c = colors('plot-down', 'plot-up', 'plot-grid', 'plot-axis', 'plot-text');
  const recent = samples.filter((s) => s.t >= now - windowMs - gapMs);
  const span = Math.min(windowMs, Math.max(minSpanMs, recent.length ? now - recent[0].t : 0));
  const from = now - span;
  const shown = recent.filter((s) => s.t >= from - gapMs);
  const max = shown.reduce((m, s) => Math.max(m, s.down, s.up), 0);
  const sc = scale(max);

  ctx.font = '11px system-ui, sans-serif';
  let yLabelWidth = 0;
  for (let i = 0; i <= sc.ticks; i++) {
    yLabelWidth = Math.max(yLabelWidth, ctx.measureText(label((sc.top * i) / sc.ticks, sc.div, sc.unit)).width);
  }
  const left = Math.max(48, Math.ceil(yLabelWidth) + 14);
  const right = 12;
  const top = 10;
  const bottom = 24;
  const pw = width - left - right;
  const ph = height - top - bottom;
  if (pw <= 10 || ph <= 10) return shown.length;
  const x = (t) => left + ((t - from) / span) * pw;
  const y = (v) => top + ph - (v / sc.top) * ph;

  // Grid and y labels.
  ctx.lineWidth = 1;
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'right';
  for (let i = 0; i <= sc.ticks; i++) {
    const v = (sc.top * i) / sc.ticks;
    const yy = Math.round(y(v)) + 0.5;
    ctx.strokeStyle = i === 0 ? c['plot-axis'] : c['plot-grid'];
    ctx.beginPath();
    ctx.moveTo(left, yy);
    ctx.lineTo(left + pw, yy);
    ctx.stroke();
    ctx.fillStyle = c['plot-text'];
    ctx.fillText(label(v, sc.div, sc.unit), left - 8, yy);
  }
  // x labels, every 5, 10, 15 or 30 s.
  ctx.textBaseline = 'top';
  const step = [5, 10, 15, 30].find((st) => span / 1000 / st <= 6) ?? 30;
  for (let s = Math.floor(span / 1000 / step) * step; s >= 0; s -= step) {
    const xx = Math.round(x(now - s * 1000)) + 0.5;
    ctx.strokeStyle = c['plot-grid'];
    ctx.beginPath();
    ctx.moveTo(xx, top);
    ctx.lineTo(xx, top + ph);
    ctx.stroke();
    ctx.fillStyle = c['plot-text'];
    ctx.textAlign = s === 0 ? 'right' : xx - left < 24 ? 'left' : 'center';
    ctx.fillText(s === 0 ? 'now' : `−${s}s`, xx, top + ph + 6);
  }
  // y axis line.
  ctx.strokeStyle = c['plot-axis'];
  ctx.beginPath();
  ctx.moveTo(left + 0.5, top);
  ctx.lineTo(left + 0.5, top + ph);
  ctx.stroke();

  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top - 2, pw + 1, ph + 4);
  ctx.clip();
  for (const [key, color] of [['up', c['plot-up']], ['down', c['plot-down']]]) {
    // Runs of samples without gaps, each an area and a line.
    const runs = [];
    let run = [];
    for (const s of shown) {
      if (run.length && s.t - run[run.length - 1].t > gapMs) {
        runs.push(run);
        run = [];
      }
      run.push(s);
    }
    if (run.length) runs.push(run);
    for (const r of runs) {
      ctx.beginPath();
      r.forEach((s, i) => (i ? ctx.lineTo(x(s.t), y(s[key])) : ctx.moveTo(x(s.t), y(s[key]))));
      if (r.length === 1) ctx.lineTo(x(r[0].t) + 2, y(r[0][key]));
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.lineJoin = 'round';
      ctx.stroke();
      ctx.lineTo(x(r[r.length - 1].t), y(0));
      ctx.lineTo(x(r[0].t), y(0));
      ctx.closePath();
      ctx.globalAlpha = 0.14;
      ctx.fillStyle = color;
      ctx.fill();
      ctx.globalAlpha = 1;
    }
  }
  ctx.restore();
  return shown.length;
}
