// One log line per kind of repeated event, with a count: a listener under a flood of bad input (a
// fuzzer, a broken client in a retry loop) must not flood the log as well. The first occurrence of
// a key is logged at once; repeats within the window are counted and logged as one line when it
// closes ("repeated": n), and the window restarts while they keep coming.
import type { Logger } from 'pino';

export type RepeatLevel = 'debug' | 'info' | 'warn' | 'error';

export interface RepeatLogOptions {
  /** Repeats of a key within this long are summarised in one line. Default 10,000 ms. */
  windowMs?: number;
  /** Distinct keys tracked at once; further keys share one overflow key. Default 256. */
  maxKeys?: number;
}

interface Entry {
  level: RepeatLevel;
  msg: string;
  fields: Record<string, unknown>;
  repeats: number;
  timer: NodeJS.Timeout;
}

const OVERFLOW = '(other keys)';

export class RepeatLog {
  readonly #log: Logger;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #entries = new Map<string, Entry>();

  constructor(log: Logger, options: RepeatLogOptions = {}) {
    this.#log = log;
    this.#windowMs = options.windowMs ?? 10_000;
    this.#maxKeys = options.maxKeys ?? 256;
  }

  /**
   * Logs `msg` with `fields` at `level` unless `key` was logged within the window, in which case
   * it is counted for the window's summary line. Keys name a kind of event (an error code, a
   * reason), not an instance: never a remote address or a user's input.
   */
  note(level: RepeatLevel, key: string, fields: Record<string, unknown>, msg: string): void {
    let k = key;
    if (!this.#entries.has(k) && this.#entries.size >= this.#maxKeys) k = OVERFLOW;
    const e = this.#entries.get(k);
    if (e) {
      e.repeats++;
      return;
    }
    if (!this.#log.isLevelEnabled(level)) return;
    this.#log[level](fields, msg);
    const entry: Entry = {
      level,
      msg: k === OVERFLOW ? 'other repeated events' : msg,
      fields: k === OVERFLOW ? {} : fields,
      repeats: 0,
      timer: this.#arm(k),
    };
    this.#entries.set(k, entry);
  }

  /** Repeats counted and not yet logged, by key (for tests and stats). */
  pending(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, e] of this.#entries) if (e.repeats) out[k] = e.repeats;
    return out;
  }

  /** Logs every pending summary now and forgets all keys (call on close). */
  flush(): void {
    for (const [k, e] of this.#entries) {
      clearTimeout(e.timer);
      this.#summarise(e);
      this.#entries.delete(k);
    }
  }

  #arm(key: string): NodeJS.Timeout {
    const t = setTimeout(() => this.#windowClosed(key), this.#windowMs);
    t.unref();
    return t;
  }

  #windowClosed(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    if (e.repeats === 0) {
      this.#entries.delete(key);
      return;
    }
    this.#summarise(e);
    // Still coming: keep suppressing for another window.
    e.repeats = 0;
    e.timer = this.#arm(key);
  }

  #summarise(e: Entry): void {
    if (e.repeats === 0) return;
    this.#log[e.level]({ ...e.fields, repeated: e.repeats, windowMs: this.#windowMs }, `${e.msg} (repeated)`);
  }
}
