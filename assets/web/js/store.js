// Value is one piece of state that views watch, such as the node's status.
export class Value {
  #value;
  #watchers = new Set();

  constructor(value) {
    this.#value = value;
  }

  get() {
    return this.#value;
  }

  set(value) {
    this.#value = value;
    for (const fn of [...this.#watchers]) fn(value);
  }

  // watch calls fn now and on every change, until signal aborts.
  watch(fn, signal) {
    this.#watchers.add(fn);
    signal?.addEventListener('abort', () => this.#watchers.delete(fn), { once: true });
    fn(this.#value);
  }
}
