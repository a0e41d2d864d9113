import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, RepeatLog } from '../src/index.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      cb();
    },
  });
  // pino writes synchronously to a plain Writable: lines are there when the call returns.
  return { lines, log: createLogger({ level: 'info', destination: stream }) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('RepeatLog: a repeated event is one line with a count', () => {
  it('logs the first at once, counts repeats in the window and logs them as one line', () => {
    vi.useFakeTimers();
    const { lines, log } = capture();
    const r = new RepeatLog(log, { windowMs: 1000 });
    for (let i = 0; i < 500; i++) r.note('error', 'TRIB_X', { code: 'TRIB_X' }, 'bad frame');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'bad frame', code: 'TRIB_X', level: 50 });
    expect(r.pending()).toEqual({ TRIB_X: 499 });
    vi.advanceTimersByTime(1000);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({
      msg: 'bad frame (repeated)',
      repeated: 499,
      windowMs: 1000,
      code: 'TRIB_X',
    });
    // Still suppressed in the next window while it keeps coming...
    r.note('error', 'TRIB_X', {}, 'bad frame');
    expect(lines).toHaveLength(2);
    vi.advanceTimersByTime(1000);
    expect(lines[2]).toMatchObject({ repeated: 1 });
    // ...and a quiet window forgets the key: the next one is logged at once again.
    vi.advanceTimersByTime(1000);
    r.note('error', 'TRIB_X', {}, 'bad frame');
    expect(lines).toHaveLength(4);
    expect(lines[3].repeated).toBeUndefined();
  });

  it('keys are independent, and flush logs what is pending', () => {
    vi.useFakeTimers();
    const { lines, log } = capture();
    const r = new RepeatLog(log, { windowMs: 10_000 });
    r.note('warn', 'a', {}, 'A');
    r.note('warn', 'b', {}, 'B');
    r.note('warn', 'a', {}, 'A');
    r.note('warn', 'a', {}, 'A');
    expect(lines.map((l) => l.msg)).toEqual(['A', 'B']);
    r.flush();
    expect(lines.map((l) => [l.msg, l.repeated])).toEqual([
      ['A', undefined],
      ['B', undefined],
      ['A (repeated)', 2],
    ]);
    expect(r.pending()).toEqual({});
  });

  it('past maxKeys distinct keys share one overflow key, so varied input cannot flood the log', () => {
    vi.useFakeTimers();
    const { lines, log } = capture();
    const r = new RepeatLog(log, { windowMs: 1000, maxKeys: 4 });
    for (let i = 0; i < 1000; i++) r.note('info', `k${i}`, {}, `event ${i}`);
    expect(lines).toHaveLength(5);
    vi.advanceTimersByTime(1000);
    expect(lines).toHaveLength(6);
    expect(lines[5]).toMatchObject({ msg: 'other repeated events (repeated)', repeated: 995 });
  });

  it('a level the logger does not write is neither logged nor tracked', () => {
    const { lines, log } = capture();
    const r = new RepeatLog(log);
    r.note('debug', 'd', {}, 'D');
    expect(lines).toHaveLength(0);
    expect(r.pending()).toEqual({});
  });
});
