// Drawing helpers shared by the piece maps and the rate plot. Canvases are
// sized with attributes, never with a style attribute (the page's CSP
// forbids inline styles): CSS gives a canvas its width, the drawing buffer
// gets that width times the device pixel ratio, and a canvas whose CSS
// height is auto takes its height from the buffer's aspect ratio.

// colors reads CSS custom properties (--name) of the document as colours.
export function colors(...names) {
  const cs = getComputedStyle(document.documentElement);
  const out = {};
  for (const n of names) out[n] = cs.getPropertyValue(`--${n}`).trim() || '#888';
  return out;
}

// prepare sizes canvas's buffer to its CSS width (and cssHeight, or its CSS
// height when cssHeight is null) and returns a 2D context that draws in CSS
// pixels, with the size it drew for; null while the canvas is not laid out.
export function prepare(canvas, cssHeight = null) {
  const width = Math.floor(canvas.clientWidth);
  const height = cssHeight ?? Math.floor(canvas.clientHeight);
  if (width <= 0 || height <= 0) return null;
  const dpr = window.devicePixelRatio || 1;
  const bw = Math.round(width * dpr);
  const bh = Math.round(height * dpr);
  if (canvas.width !== bw) canvas.width = bw;
  if (canvas.height !== bh) canvas.height = bh;
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height };
}

// onResize calls fn whenever el's size changes, and once it is laid out,
// until signal aborts.
export function onResize(el, fn, signal) {
  let last = -1;
  const ro = new ResizeObserver(() => {
    const w = el.clientWidth;
    if (w === last) return;
    last = w;
    fn();
  });
  ro.observe(el);
  signal?.addEventListener('abort', () => ro.disconnect(), { once: true });
  return ro;
}

// hasInk says whether any pixel of canvas is drawn (not fully transparent).
export function hasInk(canvas) {
  if (!canvas.width || !canvas.height) return false;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
  return false;
}
