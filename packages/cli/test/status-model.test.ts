import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorLog } from '../src/status/error-log.js';
import { PipelineLag } from '../src/status/pipeline-lag.js';
import { lineChart, niceCeil } from '../src/status/svg-chart.js';

describe('ErrorLog', () => {
  it('groups by code and message with a count and the last time, newest first, bounded', () => {
    const log = new ErrorLog(3);
    const refused = Object.assign(new Error('connection to 127.0.0.1:1 refused'), {
      code: 'TRIB_CONNECT_REFUSED',
    });
    for (let t = 0; t < 5; t++) log.note(refused, 1000 + t);
    log.note(new Error('other'), 2000);
    log.note('a string', 3000);
    expect(log.total).toBe(7);
    expect(log.groups()).toEqual([
      { code: '', message: 'a string', count: 1, first: 3000, last: 3000 },
      { code: '', message: 'other', count: 1, first: 2000, last: 2000 },
      { code: 'TRIB_CONNECT_REFUSED', message: refused.message, count: 5, first: 1000, last: 1004 },
    ]);
    // a fourth kind pushes out the one seen longest ago
    log.note(new Error('fourth'), 4000);
    expect(log.groups().map((g) => g.message)).toEqual(['fourth', 'a string', 'other']);
    expect(log.recent(2500)).toBe(2);
  });
});

describe('PipelineLag', () => {
  it('seqnos behind the producer, and seconds since the oldest of them was first seen', () => {
    const lag = new PipelineLag();
    expect(lag.update(0, 10, 10, 0)).toBe(0);
    expect(lag.seconds(0, 0)).toBe(0);
    expect(lag.update(0, 15, 10, 1000)).toBe(5); // 11..15 known since t=1 s
    expect(lag.update(0, 20, 12, 2000)).toBe(8);
    expect(lag.seconds(0, 2500)).toBe(1.5); // 13..15 still from t=1 s
    expect(lag.update(0, 20, 16, 3000)).toBe(4);
    expect(lag.seconds(0, 3000)).toBe(1); // past 15: the t=2 s sample is the oldest
    expect(lag.update(0, 20, 20, 4000)).toBe(0);
    expect(lag.seconds(0, 4000)).toBe(0);
  });

  it('never negative, zero once caught up, bounded samples (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(50), fc.nat(50)), { maxLength: 300 }), (steps) => {
        const lag = new PipelineLag();
        let high = 0;
        let seen = 0;
        let t = 0;
        for (const [up, catchUp] of steps) {
          high += up;
          seen = Math.min(high, seen + catchUp);
          t += 100;
          expect(lag.update(3, high, seen, t)).toBe(high - seen);
          const s = lag.seconds(3, t);
          expect(s).toBeGreaterThanOrEqual(0);
          if (seen === high) expect(s).toBe(0);
          expect(s).toBeLessThanOrEqual(t / 1000);
        }
      }),
    );
  });
});

describe('svg charts', () => {
  it('axes with round ticks and units, a gap for missing values', () => {
    expect([niceCeil(0), niceCeil(1), niceCeil(3), niceCeil(480), niceCeil(0.07)]).toEqual([
      1, 1, 5, 500, 0.1,
    ]);
    const svg = lineChart({
      title: 'Rates',
      unit: 'mutations/s',
      times: [0, 1000, 2000, 3000, 4000],
      series: [{ name: 'in', colour: '#fff', values: [Number.NaN, 1900, 2000, Number.NaN, 1800] }],
    });
    expect(svg).toContain('(mutations/s)');
    for (const tick of ['>0<', '>500<', '>1k<', '>1.5k<', '>2k<', '>now<']) expect(svg).toContain(tick);
    // one line for the run of two values; the lone last value draws nothing
    expect(svg.match(/<polyline/g)).toHaveLength(1);
    expect(lineChart({ title: 'x', unit: 'ms', times: [], series: [] })).toContain('collecting…');
  });
});
