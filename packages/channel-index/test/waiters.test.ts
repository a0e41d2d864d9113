import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Waiter, Waiters } from '../src/internal/waiters.js';

/** A full collection: the flag exposes gc() to contexts made after it is set. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function registry() {
  const calls = { first: 0, empty: 0, done: [] as string[] };
  const reg = new Waiters({
    counted() {},
    first: () => calls.first++,
    empty: () => calls.empty++,
    channelDone: (ch) => calls.done.push(ch),
  });
  return { reg, calls };
}

describe('Waiters', () => {
  it('a waiter settles once: later wakes, failures and aborts change no count and no promise', async () => {
    const { reg, calls } = registry();
    const ac = new AbortController();
    const w = new Waiter(reg, ['a', 'b'], ac.signal, 60_000);
    const other = new Waiter(reg, ['b'], undefined, undefined);
    expect(reg.count).toBe(2);
    w.wake(true);
    w.wake(false);
    w.fail(new Error('late'));
    ac.abort();
    expect(await w.promise).toBe(true);
    expect(reg.count).toBe(1);
    expect(calls.empty).toBe(0);
    expect(calls.done).toEqual(['a']);
    expect([...reg.byChannel.keys()]).toEqual(['b']);
    other.wake(false);
    other.wake(true);
    expect(await other.promise).toBe(false);
    expect(reg.count).toBe(0);
    expect(calls).toEqual({ first: 1, empty: 1, done: ['a', 'b'] });
  });

  it('a waiter that joins a timeout lane later expires its own timeout after it came, not with the first', async () => {
    const { reg } = registry();
    const t0 = performance.now();
    const at = (w: Waiter) => w.promise.then(() => performance.now() - t0);
    const first = at(new Waiter(reg, ['a'], undefined, 60));
    await new Promise((resolve) => setTimeout(resolve, 30));
    const joined = performance.now() - t0;
    const later = at(new Waiter(reg, ['a'], undefined, 60));
    expect(await first).toBeGreaterThanOrEqual(59);
    expect(await later).toBeGreaterThanOrEqual(joined + 59);
    expect(reg.count).toBe(0);
  });

  it('a lane compacted after a long run of expiries keeps each later waiter to its own timeout', async () => {
    const { reg } = registry();
    const t0 = performance.now();
    const at = (w: Waiter) => w.promise.then(() => performance.now() - t0);
    // over 1,024 expire together, which moves the rest of the lane to the front of new arrays
    const early = Array.from({ length: 1100 }, () => at(new Waiter(reg, ['a'], undefined, 60)));
    const later = async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const joined = performance.now() - t0;
      return { joined, done: Array.from({ length: 100 }, () => at(new Waiter(reg, ['a'], undefined, 60))) };
    };
    const late = [await later(), await later()];
    for (const ms of await Promise.all(early)) expect(ms).toBeGreaterThanOrEqual(59);
    for (const { joined, done } of late) {
      for (const ms of await Promise.all(done)) expect(ms).toBeGreaterThanOrEqual(joined + 59);
    }
    expect(reg.count).toBe(0);
  });

  it('holds nothing for waiters that settled: no lane for a length nobody waits with, no settled waiter in a lane', async () => {
    const { reg } = registry();
    for (let ms = 1000; ms < 1100; ms++) new Waiter(reg, ['a'], undefined, ms).wake(true);
    expect(reg.lanes).toBe(0);
    const keep = new Waiter(reg, ['a'], undefined, 600_000);
    let woken: Waiter | undefined = new Waiter(reg, ['a'], undefined, 600_000);
    const ref = new WeakRef(woken);
    woken.wake(true);
    expect(await woken.promise).toBe(true);
    woken = undefined;
    // (a WeakRef keeps its target until the current job ends)
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    expect(ref.deref()).toBeUndefined();
    expect(reg.lanes).toBe(1);
    keep.wake(false);
    expect(reg.lanes).toBe(0);
  });
});
