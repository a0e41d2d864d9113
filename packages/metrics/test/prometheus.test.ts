import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { Counter as PromCounter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  bucketQuantile,
  createMetrics,
  ErrMetricsName,
  ErrMetricsTypeConflict,
  SECONDS_BUCKETS,
  toPrometheus,
} from '../src/index.js';

/** `promtool check metrics` (Debian's prometheus package) on `text`: its complaints, '' when clean. */
function promtool(text: string): string {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool is missing (apt-get install prometheus): ${r.error.message}`);
  return `${r.stdout}${r.stderr}`.trim() + (r.status === 0 ? '' : ` (exit ${r.status})`);
}

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
    if (line === '') continue; // prom-client puts a blank line between families
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
    const family = name!.replace(/_(sum|count|bucket)$/, '');
    expect(types.has(name!) || types.has(family), `sample without TYPE: ${name}`).toBe(true);
    sampled.add(name!);
    sampled.add(family);
    samples.push({ name: name!, labels, value });
  }
  return { types, samples };
}

describe('toPrometheus', () => {
  it('writes valid exposition: _total on counters, HELP everywhere, histograms with le buckets', async () => {
    const m = createMetrics({ version: '9.9.9' });
    const ds = m.group('datasource', { bucket: 'beer-sample', node: 'a"b\\c\nd' });
    ds.counter('received', 'Packets received').inc(12);
    ds.gauge('vbucket_lag_seqnos', 'Seqnos behind', { vbucket: '0' }).set(-3);
    const h = ds.histogram('batch_size', 'Mutations per batch\nwith a \\ backslash', {
      buckets: [1, 10, 100],
    });
    for (let i = 1; i <= 100; i++) h.observe(i);
    m.group('pool').counter('acquired', 'Acquires').inc();
    m.group('empty');

    const text = await toPrometheus(m);
    const { types, samples } = parseExposition(text);
    expect(Object.fromEntries(types)).toEqual({
      tributary_build_info: 'gauge',
      tributary_datasource_received_total: 'counter',
      tributary_datasource_vbucket_lag_seqnos: 'gauge',
      tributary_datasource_batch_size: 'histogram',
      tributary_pool_acquired_total: 'counter',
    });
    const find = (name: string, le?: string) =>
      samples.find((s) => s.name === name && (le === undefined || s.labels.le === le));
    expect(find('tributary_build_info')).toEqual({
      name: 'tributary_build_info',
      labels: { version: '9.9.9' },
      value: 1,
    });
    expect(find('tributary_datasource_received_total')).toEqual({
      name: 'tributary_datasource_received_total',
      labels: { bucket: 'beer-sample', node: 'a"b\\c\nd' },
      value: 12,
    });
    expect(find('tributary_datasource_vbucket_lag_seqnos')!.labels.vbucket).toBe('0');
    expect(find('tributary_datasource_vbucket_lag_seqnos')!.value).toBe(-3);
    expect(find('tributary_datasource_batch_size_count')!.value).toBe(100);
    expect(find('tributary_datasource_batch_size_sum')!.value).toBe(5050);
    expect(find('tributary_datasource_batch_size_bucket', '1')!.value).toBe(1);
    expect(find('tributary_datasource_batch_size_bucket', '10')!.value).toBe(10);
    expect(find('tributary_datasource_batch_size_bucket', '100')!.value).toBe(100);
    expect(find('tributary_datasource_batch_size_bucket', '+Inf')!.value).toBe(100);
    expect(find('tributary_pool_acquired_total')).toEqual({
      name: 'tributary_pool_acquired_total',
      labels: {},
      value: 1,
    });
    expect(text).toContain(
      '# HELP tributary_datasource_batch_size Mutations per batch\\nwith a \\\\ backslash\n',
    );
    expect(promtool(text)).toBe('');
  });

  it('passes promtool check metrics with the process, GC and event-loop metrics on', async () => {
    const m = createMetrics({ processMetrics: true });
    m.group('x').histogram('wait_seconds', 'Waits').observe(0.01);
    const text = await toPrometheus(m);
    expect(text).toMatch(/^# TYPE process_cpu_seconds_total counter$/m);
    expect(text).toMatch(/^# TYPE nodejs_eventloop_lag_seconds gauge$/m);
    expect(text).toMatch(/^# TYPE nodejs_gc_duration_seconds histogram$/m);
    expect(promtool(text)).toBe('');
    // promtool does fail on what we used to write: a counter without _total, camelCase, ms.
    expect(promtool('# HELP a_b x\n# TYPE a_b counter\na_b 1\n')).toMatch(/_total/);
    expect(promtool('# HELP fooBar_total x\n# TYPE fooBar_total counter\nfooBar_total 1\n')).toMatch(
      /snake_case/,
    );
  });

  it('reads live values on every scrape, and collectors run first', async () => {
    const m = createMetrics();
    const c = m.group('x').counter('n', 'n');
    c.inc();
    expect(await toPrometheus(m)).toContain('tributary_x_n_total 1\n');
    c.inc(2);
    expect(await toPrometheus(m)).toContain('tributary_x_n_total 3\n');
    let lag = 5;
    const stop = m.onCollect(() => m.group('x').gauge('lag', 'lag').set(lag));
    expect(await toPrometheus(m)).toContain('tributary_x_lag 5\n');
    lag = 6;
    expect(await toPrometheus(m)).toContain('tributary_x_lag 6\n');
    stop();
    lag = 7;
    expect(await toPrometheus(m)).toContain('tributary_x_lag 6\n');
  });

  it('counterFrom and gaugeFrom read their function when scraped; same labels add up', async () => {
    const m = createMetrics();
    let a = 1;
    m.group('ds', { bucket: 'b' }).counterFrom('mutations', 'Mutations', () => a, { kind: 'mutation' });
    m.group('ds', { bucket: 'b' }).counterFrom('mutations', 'Mutations', () => 10, { kind: 'mutation' });
    m.group('ds', { bucket: 'b' }).gaugeFrom('queued', 'Queued', () => 4);
    a = 2;
    const text = await toPrometheus(m);
    expect(text).toContain('tributary_ds_mutations_total{bucket="b",kind="mutation"} 12\n');
    expect(text).toContain('tributary_ds_queued{bucket="b"} 4\n');
  });

  it("serves a user's prom-client registry: our families beside theirs, one build_info", async () => {
    const registry = new Registry();
    new PromCounter({ name: 'app_requests_total', help: 'Requests', registers: [registry] }).inc(3);
    const a = createMetrics({ registry });
    const b = createMetrics({ registry });
    a.group('x').counter('n', 'n').inc();
    b.group('x').counter('n', 'n').inc(2);
    const text = await registry.metrics(); // their own call, not ours
    expect(text).toContain('app_requests_total 3\n');
    expect(text).toContain('tributary_x_n_total 3\n');
    expect(text.match(/^tributary_build_info/gm)).toHaveLength(1);
    expect(a.contentType).toBe(registry.contentType);
  });

  it('refuses names that are not snake_case and one family as two types', () => {
    const g = createMetrics().group('x');
    expect(() => g.counter('framesIn')).toThrow(ErrMetricsName('metric', 'framesIn'));
    expect(() => g.gauge('a.b')).toThrow(/snake_case/);
    expect(() => g.counter('n', 'n', { 'bad-label': 'v' })).toThrow(/label "bad-label"/);
    expect(() => g.counter('n', 'n', { le: '1' })).toThrow(/label "le"/);
    g.gauge('depth');
    expect(() => g.histogram('depth')).toThrow(
      ErrMetricsTypeConflict('tributary_x_depth', 'gauge', 'histogram'),
    );
    expect(
      ErrMetricsName.is(
        (() => {
          try {
            g.counter('X');
          } catch (e) {
            return e;
          }
        })(),
      ),
    ).toBe(true);
  });

  it('removing a group or an instrument removes its series', async () => {
    const m = createMetrics();
    const g = m.group('ds', { bucket: 'b' });
    g.gauge('lag', 'lag', { vbucket: '1' }).set(1);
    g.gauge('lag', 'lag', { vbucket: '2' }).set(2);
    g.remove('lag', { vbucket: '1' });
    let text = await toPrometheus(m);
    expect(text).not.toContain('vbucket="1"');
    expect(text).toContain('tributary_ds_lag{bucket="b",vbucket="2"} 2\n');
    expect(Object.keys(m.snapshot()['ds{bucket="b"}']!.gauges)).toEqual(['lag{vbucket="2"}']);
    m.remove('ds');
    text = await toPrometheus(m);
    expect(text).not.toContain('tributary_ds_lag{');
    expect(m.snapshot()).toEqual({});
  });

  it('spells special values so Prometheus reads them', async () => {
    const m = createMetrics();
    m.group('g').gauge('not_a_number', 'a').set(Number.NaN);
    m.group('g').gauge('above', 'b').set(Number.POSITIVE_INFINITY);
    m.group('g').gauge('below', 'c').set(Number.NEGATIVE_INFINITY);
    const text = await toPrometheus(m);
    expect(text).toMatch(/^tributary_g_not_a_number nan$/im);
    expect(text).toContain('tributary_g_above +Inf\n');
    expect(text).toContain('tributary_g_below -Inf\n');
    expect(promtool(text)).toBe('');
  });
});

describe('buckets', () => {
  it('a histogram counts each value in the first bound at or above it; NaN only in +Inf', () => {
    const h = createMetrics().group('x').histogram('wait_seconds', 'w');
    expect(h.bounds).toBe(SECONDS_BUCKETS);
    for (const v of [0, 0.0001, 0.00011, 60, 61, Number.NaN]) h.observe(v);
    const b = h.buckets();
    expect(b.cumulative[0]).toBe(2); // 0 and 0.0001 (le is inclusive)
    expect(b.cumulative[1]).toBe(3);
    expect(b.cumulative[SECONDS_BUCKETS.length - 1]).toBe(4); // ≤ 60
    expect(b.cumulative[SECONDS_BUCKETS.length]).toBe(6);
    expect(b.count).toBe(6);
  });

  it('cumulative counts never decrease and end at the count (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: false }), { maxLength: 200 }), (values) => {
        const h = createMetrics().group('p').histogram('v_bytes', 'v');
        for (const v of values) h.observe(v);
        const { cumulative, count } = h.buckets();
        for (let i = 1; i < cumulative.length; i++)
          expect(cumulative[i]!).toBeGreaterThanOrEqual(cumulative[i - 1]!);
        expect(cumulative.at(-1)).toBe(count);
        const below = values.filter((v) => v <= h.bounds[3]!).length;
        expect(cumulative[3]).toBe(below);
      }),
    );
  });

  it('bucketQuantile interpolates as PromQL histogram_quantile does', () => {
    const bounds = [1, 2, 4];
    expect(bucketQuantile(0.5, bounds, [0, 0, 0, 0])).toBeNaN();
    expect(bucketQuantile(0.5, bounds, [10, 10, 10, 10])).toBe(0.5); // inside (0, 1]
    expect(bucketQuantile(0.75, bounds, [0, 10, 20, 20])).toBe(3); // halfway through (2, 4]
    expect(bucketQuantile(0.99, bounds, [0, 0, 0, 5])).toBe(4); // in +Inf: the highest finite bound
    expect(bucketQuantile(1, bounds, [1, 2, 3, 3])).toBe(4);
  });
});
