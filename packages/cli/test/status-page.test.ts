import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from '@tributary/cluster';
import { bucketQuantile } from '@tributary/metrics';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PromSample, parsePrometheusText, run } from '../src/index.js';
import { startEmbeddedCluster } from '../src/internal/embedded-cluster.js';

// The same path `npm test`'s set-up (tools/test-setup) finds or installs.
const CHROMIUM = process.env.TRIBUTARY_CHROMIUM || '/usr/bin/chromium';
const ROOT = join(__dirname, '..', '..', '..');
const USER = { username: 'Administrator', password: 'password' };
// Screenshots go to docs/ only when asked (UPDATE_SCREENSHOT=1): a test run leaves the checkout as it found it.
const SHOTS =
  process.env.UPDATE_SCREENSHOT === '1' ? join(ROOT, 'docs') : mkdtempSync(join(tmpdir(), 'status-'));

function start(args: string[], signal: AbortSignal) {
  let out = '';
  const done = run(['node', 'tributary', ...args], {
    stdout: (t) => {
      out += t;
    },
    stderr: () => {},
    isTTY: false,
    signal,
  });
  return { done, out: () => out };
}

/** Polls `f` until it gives a value (state changes here have no event to wait on from outside). */
async function waitFor<T>(
  f: () => T | undefined | Promise<T | undefined>,
  what: string,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const stop = new AbortController();
let cluster: Cluster;
let closeCluster: () => Promise<void>;
let index: ReturnType<typeof start>;
let status: string;
let base: string;
let browser: Browser;

const get = async (path: string) => {
  const r = await fetch(`${base}${path}`);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};
const scrape = async () => parsePrometheusText(await (await fetch(`${base}/metrics`)).text(), 'metrics');

/** What a `data-metric` element should show, computed from a scrape the way Grafana would. */
function expected(
  samples: PromSample[],
  el: { metric: string; labels?: Record<string, string>; agg?: string; quantile?: string },
): number {
  const match = (s: PromSample) => Object.entries(el.labels ?? {}).every(([k, v]) => s.labels[k] === v);
  if (el.quantile !== undefined) {
    const buckets = samples
      .filter((s) => s.name === `${el.metric}_bucket` && match(s))
      .sort(
        (a, b) =>
          Number(a.labels.le === '+Inf' ? Infinity : a.labels.le) -
          Number(b.labels.le === '+Inf' ? Infinity : b.labels.le),
      );
    const bounds = buckets.filter((b) => b.labels.le !== '+Inf').map((b) => Number(b.labels.le));
    return bucketQuantile(
      Number(el.quantile),
      bounds,
      buckets.map((b) => b.value),
    );
  }
  const found = samples.filter((s) => s.name === el.metric && match(s));
  expect(found.length, `${el.metric} ${JSON.stringify(el.labels ?? {})} in /metrics`).toBeGreaterThan(0);
  if (el.agg === 'sum') return found.reduce((a, s) => a + s.value, 0);
  expect(found, `${el.metric} names one series`).toHaveLength(1);
  return found[0]!.value;
}

/**
 * Every number the page marks with data-metric, against a scrape of the same tick: the page says
 * when its numbers are from, /metrics too (tributary_pipeline_tick_timestamp_seconds); when a
 * tick fell between the two, `reload` and read again.
 */
async function checkNumbers(page: Page, reload: () => Promise<unknown>): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const { at, els } = await page.evaluate(() => ({
      at: document.querySelector('#sub time')!.getAttribute('datetime')!,
      els: Array.from(document.querySelectorAll('[data-metric]')).map((n) => {
        const d = (n as HTMLElement).dataset;
        return {
          metric: d.metric!,
          value: Number(d.value),
          text: n.textContent ?? '',
          labels: d.labels ? (JSON.parse(d.labels) as Record<string, string>) : undefined,
          agg: d.agg,
          quantile: d.quantile,
        };
      }),
    }));
    const samples = await scrape();
    const tick = samples.find((s) => s.name === 'tributary_pipeline_tick_timestamp_seconds')!.value;
    if (Math.abs(tick * 1000 - Date.parse(at)) > 0.5) {
      expect(attempt, 'a page and a scrape of one tick').toBeLessThan(10);
      await reload();
      continue;
    }
    for (const el of els) {
      const want = expected(samples, el);
      if (Number.isNaN(want)) expect(el.value, el.metric).toBeNaN();
      else expect(el.value, `${el.metric} ${JSON.stringify(el.labels ?? {})}`).toBeCloseTo(want, 6);
      expect(el.text.trim(), `${el.metric} shows a number`).toMatch(/\d|–|connected/);
    }
    return els.length;
  }
}

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install -y chromium)`).toBe(true);
  const ec = await startEmbeddedCluster({
    nodes: 2,
    vbuckets: 64,
    bucket: 'default',
    user: USER,
    host: '127.0.0.1',
    port: 0,
    kvPort: 0,
  });
  cluster = ec.cluster;
  closeCluster = () => ec.close();
  const load = start(
    [
      'load',
      '--cluster',
      cluster.managementUrl,
      '--user',
      'Administrator:password',
      '--count',
      '600',
      '--keys',
      '600',
      '--updates',
      '0',
      '--deletes',
      '0',
      '--expiring',
      '0',
    ],
    new AbortController().signal,
  );
  expect(await load.done).toBe(0);
  index = start(
    [
      'index',
      '--cluster',
      cluster.managementUrl,
      '--user',
      'Administrator:password',
      '--memory',
      '--port',
      '0',
      '--status-port',
      '0',
    ],
    stop.signal,
  );
  status = await waitFor(() => /^status\s+(\S+)/m.exec(index.out())?.[1], 'index status url');
  base = status.replace(/\/status$/, '');
  await waitFor(
    async () =>
      (await get('/readyz')).status === 200 && (await get('/status.json')).body.lag === 0 ? true : undefined,
    'the index to catch up',
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--headless'],
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  stop.abort();
  await index?.done;
  await closeCluster?.();
});

describe('status page in headless Chromium', () => {
  it('with scripts off, the HTML itself shows the verdict and every number /metrics has', {
    timeout: 60_000,
  }, async () => {
    const ctx = await browser.newContext({
      javaScriptEnabled: false,
      viewport: { width: 1400, height: 1000 },
    });
    const page = await ctx.newPage();
    await page.goto(status);
    expect(await page.getAttribute('#verdict', 'data-state')).toBe('healthy');
    expect(await page.textContent('#verdict')).toMatch(
      /2 of 2 data nodes connected, 64 of 64 vbuckets streaming/,
    );
    const checked = await checkNumbers(page, () => page.reload());
    expect(checked).toBe(12 + 2 * 3); // the cards, and three per node
    expect(Number(await page.getAttribute('#written', 'data-value'))).toBe(600);
    expect(Number(await page.getAttribute('#indexed', 'data-value'))).toBe(600);
    expect(Number(await page.getAttribute('#lag', 'data-value'))).toBe(0);
    expect(Number(await page.getAttribute('#mutations', 'data-value'))).toBe(600);
    expect(Number(await page.getAttribute('#p99', 'data-value'))).toBeGreaterThan(0);
    // charts with axes and units, drawn in the HTML
    expect(await page.locator('svg.chart').count()).toBe(4);
    const charts = await page.locator('svg.chart').allTextContents();
    expect(charts[0]).toContain('(mutations/s)');
    expect(charts[1]).toContain('(changes)');
    expect(charts[2]).toContain('(ms)');
    expect(charts[3]).toContain('event-loop delay');
    for (const c of charts) expect(c).toMatch(/now/);
    expect(await page.locator('#nodes tbody tr').count()).toBe(2);
    expect(await page.locator('#heat > div').count()).toBe(64);
    await ctx.close();
  });

  it('then updates itself from /status/events, numbers still those of /metrics', {
    timeout: 60_000,
  }, async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(status);
    await page.waitForSelector('#live[data-updates]');
    await page.waitForFunction(() => Number(document.getElementById('live')?.dataset.updates) >= 2);
    expect(await page.textContent('#conn')).toBe('live updates: on');
    // (the page renders each tick itself: waiting a moment is the reload)
    await checkNumbers(page, () => page.waitForTimeout(200));
    await page.close();
  });

  it('shows the page under load (the docs screenshot)', { timeout: 90_000 }, async () => {
    const loadStop = new AbortController();
    const load = start(
      [
        'load',
        '--cluster',
        cluster.managementUrl,
        '--user',
        'Administrator:password',
        '--count',
        '1000000',
        '--rate',
        '1500',
        '--keys',
        '5000',
      ],
      loadStop.signal,
    );
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    try {
      await page.goto(status);
      // twelve seconds of history under load draw the charts
      await page.waitForFunction(
        () =>
          Number(document.getElementById('live')?.dataset.updates) >= 12 &&
          Number(document.getElementById('rateIndexed')?.dataset.value) > 500,
        undefined,
        { timeout: 60_000 },
      );
      expect(await page.getAttribute('#verdict', 'data-state')).toMatch(/healthy|catching up/);
      expect(Number(await page.getAttribute('#rateIn', 'data-value'))).toBeGreaterThan(500);
      expect(await page.locator('svg.chart polyline').count()).toBeGreaterThanOrEqual(5);
      const shot = await page.screenshot({ path: join(SHOTS, 'status-page.png'), fullPage: true });
      expect(shot.subarray(1, 4).toString('latin1')).toBe('PNG');
    } finally {
      loadStop.abort();
      await load.done;
      await page.close();
    }
    await waitFor(
      async () => ((await get('/status.json')).body.lag === 0 ? true : undefined),
      'the index to catch up after the load',
    );
  });

  it('with a data node stopped: degraded, not ready, still healthy; all stopped: down', {
    timeout: 90_000,
  }, async () => {
    const node1 = cluster.nodes[1]!;
    await cluster.stopNode(1);
    const ready = await waitFor(async () => {
      const r = await get('/readyz');
      return r.status === 503 ? r : undefined;
    }, '/readyz to fail');
    const checks = ready.body.checks as { nodes: { ok: boolean; disconnected: string[] } };
    expect(ready.body.status).toBe('not ready');
    expect(checks.nodes.ok).toBe(false);
    expect(checks.nodes.disconnected).toEqual([`${cluster.host}:${node1.kvPort}`]);
    const health = await get('/healthz');
    expect(health.status).toBe(200); // the process and its store are fine: no restart wanted
    expect(health.body.status).toBe('ok');
    const ctx = await browser.newContext({
      javaScriptEnabled: false,
      viewport: { width: 1400, height: 1000 },
    });
    const page = await ctx.newPage();
    await page.goto(status);
    expect(await page.getAttribute('#verdict', 'data-state')).toBe('degraded');
    expect(await page.textContent('#verdict')).toContain(`node ${cluster.host}:${node1.kvPort} disconnected`);
    expect(await page.textContent(`#nodes tr[data-node="${cluster.host}:${node1.kvPort}"]`)).toContain(
      'disconnected',
    );
    await checkNumbers(page, () => page.reload());
    const errors = await page.locator('#errors tbody tr').allTextContents();
    expect(errors.length).toBeGreaterThan(0);
    // grouped: one row per kind of error, however often it happened
    expect(
      new Set(errors.map((e) => e.replace(/^\d+/, '').replace(/\d\d:\d\d:\d\d UTC \(\d+ s ago\)/, ''))).size,
    ).toBe(errors.length);
    await page.screenshot({ path: join(SHOTS, 'status-page-failed-node.png'), fullPage: true });
    await ctx.close();

    await cluster.stopNode(0);
    await waitFor(
      async () =>
        ((await get('/status.json')).body.verdict as { state: string }).state === 'down' || undefined,
      'the verdict down',
    );
    expect((await get('/readyz')).status).toBe(503);
    const page2 = await browser.newPage({ javaScriptEnabled: false });
    await page2.goto(status);
    expect(await page2.getAttribute('#verdict', 'data-state')).toBe('down');
    expect(await page2.textContent('#verdict')).toMatch(/no data node connected/);
    await page2.close();
    await cluster.startNode(0);
    await cluster.startNode(1);
    await waitFor(
      async () => ((await get('/readyz')).status === 200 ? true : undefined),
      '/readyz after the restart',
      60_000,
    );
  });
});
