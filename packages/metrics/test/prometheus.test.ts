import { describe, expect, it } from 'vitest';
import { createMetrics, toPrometheus } from '../src/index.js';

// A strict reader for the Prometheus text exposition format 0.0.4: every line is a HELP, a TYPE
// or a sample; names and labels are well formed; a family's TYPE comes once, before its samples.
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/y;

function parseExposition(text: string) {
  expect(text === '' || text.endsWith('\n')).toBe(true);
  const types = new Map<string, string>();
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  const sampled = new Set<string>();
  for (const line of text.split('\n').slice(0, -1)) {
    if (line.startsWith('# HELP ')) {
      const [, name, help] = /^# HELP (\S+) (.*)$/.exec(line) ?? [];
      expect(name).toMatch(NAME);
      expect(help!.replace(/\\[\\n]/g, '')).not.toContain('\\');
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [, name, type] = /^# TYPE (\S+) (counter|gauge|summary|histogram|untyped)$/.exec(line) ?? [];
      expect(name, line).toMatch(NAME);
      expect(types.has(name!), `TYPE twice for ${name}`).toBe(false);
      expect(sampled.has(name!), `TYPE after samples for ${name}`).toBe(false);
      types.set(name!, type!);
      continue;
    }
    expect(line.startsWith('#'), line).toBe(false);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    expect(m, `bad sample line: ${line}`).not.toBeNull();
    const [, name, rawLabels, rawValue] = m!;
    const labels: Record<string, string> = {};
    if (rawLabels) {
      const body = rawLabels.slice(1, -1);
      LABEL.lastIndex = 0;
      let pos = 0;
      while (pos < body.length) {
        LABEL.lastIndex = pos;
        const lm = LABEL.exec(body);
        expect(lm, `bad labels: ${rawLabels}`).not.toBeNull();
        labels[lm![1]!] = lm![2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        pos = LABEL.lastIndex;
        if (body[pos] === ',') pos++;
      }
    }
    const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : Number(rawValue);
    expect(rawValue === 'NaN' || !Number.isNaN(value), `bad value: ${rawValue}`).toBe(true);
    const family = name!.replace(/_(sum|count)$/, '');
    expect(types.has(name!) || types.has(family), `sample without TYPE: ${name}`).toBe(true);
    sampled.add(name!);
    sampled.add(family);
    samples.push({ name: name!, labels, value });
  }
  return { types, samples };
}

describe('toPrometheus', () => {
  it('writes valid text exposition for counters, gauges and histograms (as summaries)', () => {
    const m = createMetrics();
    const ds = m.group('datasource', { bucket: 'beer-sample', node: 'a"b\\c\nd' });
    ds.counter('TotWorkerReceive', 'Packets received').inc(12);
    ds.gauge('lag.vb-0').set(-3);
    const h = ds.histogram('batch_size', 'Mutations per batch\nwith a \\ backslash');
    for (let i = 1; i <= 100; i++) h.observe(i);
    m.group('pool').counter('acquired').inc();
    m.group('empty');

    const text = toPrometheus(m);
    const { types, samples } = parseExposition(text);
    expect(Object.fromEntries(types)).toEqual({
      tributary_datasource_TotWorkerReceive: 'counter',
      tributary_datasource_lag_vb_0: 'gauge',
      tributary_datasource_batch_size: 'summary',
      tributary_pool_acquired: 'counter',
    });
    const find = (name: string, q?: string) =>
      samples.find((s) => s.name === name && (q === undefined || s.labels.quantile === q));
    expect(find('tributary_datasource_TotWorkerReceive')).toEqual({
      name: 'tributary_datasource_TotWorkerReceive',
      labels: { bucket: 'beer-sample', node: 'a"b\\c\nd' },
      value: 12,
    });
    expect(find('tributary_datasource_lag_vb_0')!.value).toBe(-3);
    expect(find('tributary_datasource_batch_size_count')!.value).toBe(100);
    expect(find('tributary_datasource_batch_size_sum')!.value).toBe(5050);
    expect(find('tributary_datasource_batch_size', '0.5')!.value).toBeGreaterThanOrEqual(50);
    expect(find('tributary_datasource_batch_size', '0.99')!.value).toBeGreaterThanOrEqual(99);
    expect(find('tributary_pool_acquired')).toEqual({
      name: 'tributary_pool_acquired',
      labels: {},
      value: 1,
    });
    expect(text).toContain(
      '# HELP tributary_datasource_batch_size Mutations per batch\\nwith a \\\\ backslash\n',
    );
  });

  it('reads live values on every call and prints nothing for an empty registry', () => {
    const m = createMetrics();
    expect(toPrometheus(m)).toBe('');
    const c = m.group('x').counter('n');
    c.inc();
    expect(toPrometheus(m)).toContain('tributary_x_n 1\n');
    c.inc(2);
    expect(toPrometheus(m)).toContain('tributary_x_n 3\n');
  });

  it('spells special values as Prometheus does', () => {
    const m = createMetrics();
    m.group('g').gauge('a').set(Number.NaN);
    m.group('g').gauge('b').set(Number.POSITIVE_INFINITY);
    m.group('g').gauge('c').set(Number.NEGATIVE_INFINITY);
    const text = toPrometheus(m);
    parseExposition(text);
    expect(text).toContain('tributary_g_a NaN\n');
    expect(text).toContain('tributary_g_b +Inf\n');
    expect(text).toContain('tributary_g_c -Inf\n');
  });
});
