// Small DOM helpers. Text always goes in as text, never as HTML, so names
// and event data from the node cannot inject markup; the page's CSP forbids
// inline styles, so nothing here sets a style attribute either.

// h makes an element: h('li', {class: 'row', dataset: {seq: 3}, onclick: fn}, 'text', child).
// Props that are null, undefined or false are left out; true sets an empty attribute.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'value') el.value = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

// $ finds one element by selector, in root or the document.
export const $ = (selector, root = document) => root.querySelector(selector);

// copyButton makes a button that copies text() to the clipboard and says whether it
// worked; null where the page has no clipboard.
export function copyButton(what, text) {
  if (!navigator.clipboard) return null; // only in secure contexts; localhost is one
  const button = h('button', { type: 'button', class: 'button tiny quiet', 'aria-label': `Copy ${what}` }, 'Copy');
  let reset;
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text());
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Not copied';
    }
    clearTimeout(reset);
    reset = setTimeout(() => { button.textContent = 'Copy'; }, 1500);
  });
  return button;
}
