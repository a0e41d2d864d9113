// Document locks (GET_LOCKED 0x94 / UNLOCK_KEY 0x95), as ep-engine keeps them on the stored
// value: locking gives the document a new CAS (no new seqno: a lock is not a mutation), and
// until the lock is released by UNLOCK with that CAS, by a mutation carrying it, or by the
// timeout, other writers get LOCKED and readers see the CAS as 0xffffffffffffffff.
// ep-engine's getl_default_timeout is 15 s and getl_max_timeout 30 s: a timeout of 0 or above
// the maximum means the default.

import type { Item } from '../vbucket.js';

export const LOCKED_CAS = 0xffffffffffffffffn;
export const LOCK_DEFAULT_SECONDS = 15;
export const LOCK_MAX_SECONDS = 30;

interface Entry {
  /** The version the CAS belongs to: a newer version drops the entry. */
  item: Item;
  cas: bigint;
  /** Epoch ms the lock ends; 0 = not locked (the CAS stays as the lock left it). */
  until: number;
}

/** CAS overrides and locks of one bucket, per vbucket and key. */
export class LockTable {
  readonly #byVb = new Map<number, Map<string, Entry>>();

  #entry(vb: number, keyStr: string, it: Item): Entry | undefined {
    const m = this.#byVb.get(vb);
    const e = m?.get(keyStr);
    if (!e) return undefined;
    if (e.item !== it) {
      m!.delete(keyStr);
      if (m!.size === 0) this.#byVb.delete(vb);
      return undefined;
    }
    return e;
  }

  /** The document's CAS (the lock's when one was taken on this version). */
  casOf(vb: number, it: Item): bigint {
    return this.#entry(vb, it.keyStr, it)?.cas ?? it.cas;
  }

  /** Whether this version is locked now. */
  isLocked(vb: number, it: Item, now = Date.now()): boolean {
    const e = this.#entry(vb, it.keyStr, it);
    return e !== undefined && e.until > now;
  }

  /** Locks `it` with a fresh CAS for `seconds` (0 or over the maximum: the default). */
  lock(vb: number, it: Item, cas: bigint, seconds: number, now = Date.now()): void {
    const s = seconds < 1 || seconds > LOCK_MAX_SECONDS ? LOCK_DEFAULT_SECONDS : seconds;
    let m = this.#byVb.get(vb);
    if (!m) this.#byVb.set(vb, (m = new Map()));
    m.set(it.keyStr, { item: it, cas, until: now + s * 1000 });
  }

  /** Ends the lock of `it` (its CAS stays). */
  unlock(vb: number, it: Item): void {
    const e = this.#entry(vb, it.keyStr, it);
    if (e) e.until = 0;
  }

  /** Forgets everything about a vbucket (it was rolled back or reloaded). */
  clearVbucket(vb: number): void {
    this.#byVb.delete(vb);
  }
}
