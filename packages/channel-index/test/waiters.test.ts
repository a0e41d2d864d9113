import { describe, expect, it } from 'vitest';
import { Waiter, Waiters } from '../src/internal/waiters.js';

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
});
