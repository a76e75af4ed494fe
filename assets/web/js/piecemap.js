// The piece map of an item: which of its pieces this node holds verified.
// The node sends it as Status.pieces, a BitTorrent bitfield in base64 (bit
// i, most significant bit of byte 0 first, is piece i), with num_pieces.
// Collapsed, the map is a strip where every pixel column shows the share of
// its pieces that are done; expanded, it is a grid with one cell per piece.

import { colors, prepare } from './canvas.js';

// decodePieces turns base64 bitfield into an array of booleans, num long.
export function decodePieces(b64, num) {
  const done = new Array(Math.max(0, num | 0)).fill(false);
  if (!b64 || !num) return done;
  let raw;
  try {
    raw = atob(b64);
  } catch {
    return done;
  }
  for (let i = 0; i < done.length; i++) {
    const byte = raw.charCodeAt(i >> 3);
    done[i] = !Number.isNaN(byte) && (byte & (0x80 >> (i & 7))) !== 0;
  }
  return done;
}

const stripHeight = 14;
const maxGridHeight = 220;

// drawPieces draws done (from decodePieces) on canvas, as a strip or, when
// expanded, as a grid. It returns how many pieces are done.
export function drawPieces(canvas, done, expanded) {
  const n = done.length;
  const count = done.reduce((c, ok) => c + (ok ? 1 : 0), 0);
  canvas.dataset.pieces = String(n);
  canvas.dataset.done = String(count);
  const c = colors('piece-done', 'piece-missing');
  const width = Math.floor(canvas.clientWidth);
  if (width <= 0) return count;
  if (!expanded) {
    const p = prepare(canvas, stripHeight);
    if (!p) return count;
    const { ctx, height } = p;
    ctx.fillStyle = c['piece-missing'];
    ctx.fillRect(0, 0, width, height);
    if (n === 0) return count;
    ctx.fillStyle = c['piece-done'];
    if (n <= width) {
      // Each piece gets a span of columns.
      for (let i = 0; i < n; i++) {
        if (!done[i]) continue;
        const x0 = Math.floor((i * width) / n);
        const x1 = Math.floor(((i + 1) * width) / n);
        ctx.fillRect(x0, 0, Math.max(1, x1 - x0), height);
      }
    } else {
      // Each column stands for several pieces, shaded by the share done.
      for (let x = 0; x < width; x++) {
        const a = Math.floor((x * n) / width);
        const b = Math.max(a + 1, Math.floor(((x + 1) * n) / width));
        let k = 0;
        for (let i = a; i < b; i++) if (done[i]) k++;
        if (k === 0) continue;
        ctx.globalAlpha = k / (b - a);
        ctx.fillRect(x, 0, 1, height);
      }
      ctx.globalAlpha = 1;
    }
    return count;
  }
  // Grid: the biggest cells (3 to 14 px) that keep it within maxGridHeight.
  const pitch = Math.max(3, Math.min(14, Math.floor(Math.sqrt((width * maxGridHeight) / Math.max(1, n)))));
  const perRow = Math.max(1, Math.floor(width / pitch));
  const rows = Math.max(1, Math.ceil(n / perRow));
  const p = prepare(canvas, rows * pitch);
  if (!p) return count;
  const { ctx } = p;
  const gap = pitch >= 6 ? 2 : 1;
  const cell = pitch - gap;
  for (let i = 0; i < n; i++) {
    ctx.fillStyle = done[i] ? c['piece-done'] : c['piece-missing'];
    const x = (i % perRow) * pitch;
    const y = Math.floor(i / perRow) * pitch;
    ctx.fillRect(x, y, cell, cell);
  }
  return count;
}
