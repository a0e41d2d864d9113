import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffLoop } from '../src/index.js';

// Drives backoffLoop under fake timers: `results` is what f returns call by call; each call's
// virtual time is recorded so the sleeps between calls can be read back exactly.
function script(results: number[]) {
  const calls: number[] = [];
  const sleeps: number[] = [];
  const f = () => {
    calls.push(Date.now());
    return results.length ? results.shift()! : -1;
  };
  return { f, calls, sleeps, onSleep: (ms: number) => sleeps.push(ms) };
}

async function runToEnd(p: Promise<void>) {
  let done = false;
  p.then(() => (done = true));
  for (let i = 0; i < 1000 && !done; i++) await vi.runOnlyPendingTimersAsync();
  await p;
  expect(done).toBe(true);
}

describe('backoffLoop', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('grows the sleep by the factor while there is no progress, up to the cap', async () => {
    const s = script([0, 0, 0, 0, 0, 0, -1]);
    await runToEnd(backoffLoop('t', s.f, { startMs: 10, factor: 2, maxMs: 50, onSleep: s.onSleep }));
    expect(s.sleeps).toEqual([10, 20, 40, 50, 50, 50]);
    expect(s.calls).toEqual([0, 10, 30, 70, 120, 170, 220]);
  });

  it('retries at once after progress and resets the sleep', async () => {
    const s = script([0, 0, 0, 5, 1, 0, 0, -1]);
    await runToEnd(backoffLoop('t', s.f, { startMs: 100, factor: 3, maxMs: 10_000, onSleep: s.onSleep }));
    expect(s.sleeps).toEqual([100, 300, 900, 100, 300]);
    // Calls 4 and 5 come straight after progress, with no virtual time between them.
    expect(s.calls).toEqual([0, 100, 400, 1300, 1300, 1300, 1400, 1700]);
  });

  it('stops as soon as f returns a negative number', async () => {
    const s = script([1, 1, -1, 0, 0]);
    await runToEnd(backoffLoop('t', s.f, { startMs: 10, factor: 2, maxMs: 100, onSleep: s.onSleep }));
    expect(s.calls.length).toBe(3);
    expect(s.sleeps).toEqual([]);
  });

  it('accepts an async f', async () => {
    const results = [0, 2, -1];
    let calls = 0;
    await runToEnd(
      backoffLoop(
        't',
        async () => {
          calls++;
          return results.shift()!;
        },
        { startMs: 5, factor: 2, maxMs: 5 },
      ),
    );
    expect(calls).toBe(3);
  });

  it('resolves when aborted during a sleep, without calling f again', async () => {
    const ac = new AbortController();
    let calls = 0;
    const p = backoffLoop(
      't',
      () => {
        calls++;
        return 0;
      },
      {
        startMs: 1000,
        factor: 2,
        maxMs: 8000,
        signal: ac.signal,
      },
    );
    await vi.advanceTimersByTimeAsync(1000 + 2000); // two full sleeps: three calls
    expect(calls).toBe(3);
    await vi.advanceTimersByTimeAsync(100); // inside the 4000 ms sleep
    ac.abort();
    await p;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not call f at all when the signal is already aborted', async () => {
    let calls = 0;
    await backoffLoop(
      't',
      () => {
        calls++;
        return 0;
      },
      {
        startMs: 1,
        factor: 2,
        maxMs: 2,
        signal: AbortSignal.abort(),
      },
    );
    expect(calls).toBe(0);
  });

  it('rejects with the error f throws', async () => {
    const boom = new Error('boom');
    const p = backoffLoop(
      't',
      () => {
        throw boom;
      },
      { startMs: 1, factor: 2, maxMs: 2 },
    );
    await expect(p).rejects.toBe(boom);
  });

  it('grows from a zero start (a sleep of at least 1 ms after the first)', async () => {
    const s = script([0, 0, 0, -1]);
    await runToEnd(backoffLoop('t', s.f, { startMs: 0, factor: 2, maxMs: 4, onSleep: s.onSleep }));
    expect(s.sleeps).toEqual([0, 1, 2]);
  });

  it('refuses nonsensical options', async () => {
    await expect(backoffLoop('t', () => -1, { startMs: 10, factor: 0.5, maxMs: 100 })).rejects.toThrow(
      RangeError,
    );
    await expect(backoffLoop('t', () => -1, { startMs: 10, factor: 2, maxMs: 5 })).rejects.toThrow(/startMs/);
  });
});
