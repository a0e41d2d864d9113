import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrometheusText, run } from '../src/index.js';

// The same path `npm test`'s set-up (tools/test-setup) finds or installs.
const CHROMIUM = process.env.TRIBUTARY_CHROMIUM || '/usr/bin/chromium';
const ROOT = join(__dirname, '..', '..', '..');

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

async function waitFor<T>(
  f: () => T | undefined | Promise<T | undefined>,
  what: string,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const USER = ['--user', 'Administrator:password'];
const stop = new AbortController();
let serve: ReturnType<typeof start>;
let index: ReturnType<typeof start>;
let status: string;

beforeAll(async () => {
  serve = start(['serve', '--port', '0', '--kv-port', '0', '--vbuckets', '64', ...USER], stop.signal);
  const cluster = await waitFor(() => /^cluster (http:\/\/\S+)/m.exec(serve.out())?.[1], 'serve');
  const load = start(
    [
      'load',
      '--cluster',
      cluster,
      ...USER,
      '--count',
      '500',
      '--keys',
      '500',
      '--updates',
      '0',
      '--deletes',
      '0',
    ],
    new AbortController().signal,
  );
  expect(await load.done).toBe(0);
  index = start(
    ['index', '--cluster', cluster, ...USER, '--memory', '--port', '0', '--status-port', '0'],
    stop.signal,
  );
  status = await waitFor(() => /^status\s+(\S+)/m.exec(index.out())?.[1], 'index status url');
  await waitFor(async () => {
    const s = (await (await fetch(`${status}.json`)).json()) as { counters: { mutations: number } };
    return s.counters.mutations >= 500 ? true : undefined;
  }, 'index to catch up');
}, 60_000);

afterAll(async () => {
  stop.abort();
  await Promise.all([serve?.done, index?.done]);
});

describe('status page in headless Chromium', () => {
  it('shows the numbers /metrics reports, and a heat map of every vbucket', { timeout: 60_000 }, async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install -y chromium)`).toBe(true);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--headless'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
      await page.goto(status);
      await page.waitForSelector('body[data-ready="1"]');
      const metrics = parsePrometheusText(
        await (await fetch(status.replace(/\/status$/, '/metrics'))).text(),
        'metrics',
      );
      const metric = (name: string) => metrics.find((s) => s.name.endsWith(name))?.value;
      const shown = async (id: string) => Number((await page.textContent(`#${id}`))!.replace(/,/g, ''));
      expect(metric('channel_index_mutations_total')).toBe(500);
      expect(await shown('mutations')).toBe(metric('channel_index_mutations_total'));
      expect(await shown('deletions')).toBe(metric('channel_index_deletions_total') ?? 0);
      expect(await shown('entries')).toBe(metric('channel_index_entries_total'));
      expect(await page.locator('#heat > div').count()).toBe(64);
      expect(await page.textContent('#workers')).toContain('connected');
      await page.waitForFunction(() =>
        /\d/.test(document.getElementById('line')?.getAttribute('points') ?? ''),
      );
      expect(await page.getAttribute('#line', 'points')).toMatch(/^[\d.]+,[\d.]+/);
      // The screenshot is taken every run (it must not fail); it replaces the one in docs/ only
      // when asked (UPDATE_SCREENSHOT=1), so a test run leaves the checkout as it found it.
      const dir =
        process.env.UPDATE_SCREENSHOT === '1' ? join(ROOT, 'docs') : mkdtempSync(join(tmpdir(), 'status-'));
      mkdirSync(dir, { recursive: true });
      const shot = await page.screenshot({ path: join(dir, 'status-page.png'), fullPage: true });
      expect(shot.subarray(1, 4).toString('latin1')).toBe('PNG');
    } finally {
      await browser.close();
    }
  });
});
