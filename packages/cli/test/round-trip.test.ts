import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/index.js';

function start(args: string[], signal?: AbortSignal) {
  let out = '';
  let err = '';
  const done = run(['node', 'tributary', ...args], {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    isTTY: false,
    signal,
  });
  return { done, out: () => out, err: () => err };
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
const stopServe = new AbortController();
let serve: ReturnType<typeof start>;
let clusterUrl: string;
const dir = mkdtempSync(join(tmpdir(), 'tributary-cli-'));

beforeAll(async () => {
  serve = start(['serve', '--port', '0', '--kv-port', '0', '--vbuckets', '16', ...USER], stopServe.signal);
  clusterUrl = await waitFor(() => /^cluster (http:\/\/\S+)/m.exec(serve.out())?.[1], 'serve to listen');
});

afterAll(async () => {
  stopServe.abort();
  expect(await serve.done).toBe(130);
  rmSync(dir, { recursive: true, force: true });
});

describe('serve + load + tail + index', () => {
  it('load writes through KV; tail streams them as NDJSON and resumes from its checkpoint', {
    timeout: 60_000,
  }, async () => {
    const load = start([
      'load',
      '--cluster',
      clusterUrl,
      ...USER,
      '--count',
      '300',
      '--keys',
      '300',
      '--updates',
      '0',
      '--deletes',
      '0',
      '--expiring',
      '0',
      '--size',
      '128',
    ]);
    expect(await load.done).toBe(0);
    expect(load.out()).toMatch(
      /^loaded 300 ops in [\d.]+ s: \S+ ops\/s \(300 sets, 0 deletes, 0 expiring, 0 failed\)/m,
    );

    const ckpt = join(dir, 'ckpt');
    const tail = start([
      'tail',
      '--cluster',
      clusterUrl,
      ...USER,
      '--checkpoint',
      ckpt,
      '--from',
      'beginning',
      '--limit',
      '300',
    ]);
    expect(await tail.done).toBe(0);
    const events = tail
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events).toHaveLength(300);
    expect(new Set(events.map((e) => e.key)).size).toBe(300);
    expect(events[0]).toMatchObject({ kind: 'mutation', value: { type: 'demo' } });
    expect(typeof events[0].cas).toBe('string');

    // Two more documents; a saved tail sees only those.
    const more = start([
      'load',
      '--cluster',
      clusterUrl,
      ...USER,
      '--count',
      '2',
      '--keys',
      '100000',
      '--updates',
      '0',
      '--deletes',
      '0',
    ]);
    expect(await more.done).toBe(0);
    const resumed = start([
      'tail',
      '--cluster',
      clusterUrl,
      ...USER,
      '--checkpoint',
      ckpt,
      '--from',
      'saved',
      '--limit',
      '2',
    ]);
    expect(await resumed.done).toBe(0);
    const again = resumed
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(again).toHaveLength(2);
    expect(again.every((e) => e.kind === 'mutation')).toBe(true);
  });

  it('index --status-port same serves _changes, /status, /status/events and /metrics on one port', {
    timeout: 60_000,
  }, async () => {
    const stop = new AbortController();
    const index = start(
      ['index', '--cluster', clusterUrl, ...USER, '--memory', '--port', '0', '--status-port', 'same'],
      stop.signal,
    );
    try {
      const changes = await waitFor(() => /^_changes (\S+)/m.exec(index.out())?.[1], 'index to listen');
      const status = await waitFor(() => /^status\s+(\S+)/m.exec(index.out())?.[1], 'status url');
      const auth = { authorization: `Basic ${Buffer.from('Administrator:password').toString('base64')}` };
      const body = await waitFor(async () => {
        const res = await fetch(`${changes}?since=0&limit=1000`, { headers: auth });
        const b = (await res.json()) as { results: { id: string }[] };
        return b.results.length >= 300 ? b : undefined;
      }, '_changes to show the loaded documents');
      expect(body.results.some((r) => r.id === 'doc-0')).toBe(true);
      expect(new URL(status).port).toBe(new URL(changes).port);
      const page = await fetch(status);
      expect(await page.text()).toContain('<title>Tributary status: ');
      const metrics = await (await fetch(status.replace(/\/status$/, '/metrics'))).text();
      expect(metrics).toMatch(/^tributary_channel_index_mutations_total \d+$/m);
      // health on the shared port too, with no credentials
      const health = await fetch(status.replace(/\/status$/, '/healthz'));
      expect([health.status, ((await health.json()) as { status: string }).status]).toEqual([200, 'ok']);
      const ready = await waitFor(async () => {
        const r = await fetch(status.replace(/\/status$/, '/readyz'));
        return r.status === 200 ? ((await r.json()) as { status: string }) : undefined;
      }, '/readyz');
      expect(ready.status).toBe('ready');
      const json = (await (await fetch(`${status}.json`)).json()) as { counters: { mutations: number } };
      expect(json.counters.mutations).toBeGreaterThanOrEqual(300);
      // The live feed: its first event is a snapshot, then one a second.
      const events = await fetch(`${status}/events`);
      expect(events.headers.get('content-type')).toBe('text/event-stream');
      const reader = events.body!.getReader();
      let text = '';
      while ((text.match(/\n\n/g) ?? []).length < 2)
        text += new TextDecoder().decode((await reader.read()).value);
      const snapshots = text
        .split('\n\n')
        .filter(Boolean)
        .map((e) => JSON.parse(e.replace(/^data: /, '')));
      expect(snapshots[1].at).toBeGreaterThan(snapshots[0].at);
      await reader.cancel();
      // _changes still needs credentials on the shared port.
      expect((await fetch(changes)).status).toBe(401);
    } finally {
      stop.abort();
      expect(await index.done).toBe(130);
    }
  });
});
