import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Cluster, startCluster } from '@tributary/cluster';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appDir, ROOT, startExample } from '../src/run-example.js';

// docs/getting-started.md's program, the very file the page embeds, run as its reader would run
// it: against a cluster reached over the network, with the URL and credentials in the
// environment. Here the cluster is the embedded one on free ports.
const PROGRAM = join(ROOT, 'tools/docs-check/examples/getting-started/print-changes.ts');

let cluster: Cluster;
let cwd: string;
let env: Record<string, string>;

beforeAll(async () => {
  cluster = await startCluster({
    vbuckets: 64,
    buckets: ['travel'],
    users: { reader: 'r3ader-pw' },
    basePort: 0,
    kvBasePort: 0,
  });
  cwd = appDir();
  env = {
    COUCHBASE_URL: cluster.managementUrl,
    COUCHBASE_BUCKET: 'travel',
    COUCHBASE_USER: 'reader',
    COUCHBASE_PASSWORD: 'r3ader-pw',
  };
});

afterAll(async () => {
  await cluster?.close();
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

/** Runs the program until it printed `lines` change lines, then Ctrl-C; returns those lines. */
async function runUntil(lines: number, extraEnv: Record<string, string> = {}): Promise<string[]> {
  const p = startExample(PROGRAM, { cwd, env: { ...env, ...extraEnv } });
  try {
    await p.waitFor(/^streaming travel from http:\/\/127\.0\.0\.1:\d+ \(Ctrl-C stops\)$/m);
    const changeLine = /^(mutation|deletion|expiration) vb=\d+ seq=\d+ .*$/gm;
    // n change lines, wherever they are (the first may come before the "streaming" line).
    await p.waitFor(new RegExp(`(?:[\\s\\S]*?${changeLine.source}){${lines}}`, 'm'));
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(0);
    expect(p.stdout()).toMatch(/\nstopped\n$/);
    expect(p.stderr()).toBe('');
    return p.stdout().match(changeLine) ?? [];
  } finally {
    p.child.kill('SIGKILL');
  }
}

describe('getting started: the first program against a cluster', () => {
  it('prints every change, and after Ctrl-C and a restart only the new ones (checkpoints in LMDB)', {
    timeout: 60_000,
  }, async () => {
    const bucket = cluster.bucket('travel');
    bucket.upsert('airline_10', { name: 'Air One' });
    bucket.upsert('airline_20', { name: 'Air Two' });
    bucket.upsert('route_1', { from: 'SFO', to: 'LHR' });

    const first = await runUntil(3);
    expect(first).toHaveLength(3);
    const byKey = Object.fromEntries(first.map((l) => [l.split(' ')[3], l]));
    expect(Object.keys(byKey).sort()).toEqual(['airline_10', 'airline_20', 'route_1']);
    const vb = bucket.vbucketOf('airline_10');
    expect(byKey.airline_10).toBe(`mutation vb=${vb} seq=1 airline_10 {"name":"Air One"}`);

    // While it is down: one new document, one deleted. The restart resumes from the checkpoints.
    bucket.upsert('airline_30', { name: 'Air Three' });
    bucket.remove('route_1');
    const second = await runUntil(2);
    expect(second.map((l) => `${l.split(' ')[0]} ${l.split(' ')[3]}`).sort()).toEqual([
      'deletion route_1',
      'mutation airline_30',
    ]);
  });

  it('reports a wrong password on stderr and keeps trying until stopped', { timeout: 60_000 }, async () => {
    const p = startExample(PROGRAM, {
      cwd,
      env: { ...env, COUCHBASE_PASSWORD: 'wrong', CHECKPOINT_DIR: './other-checkpoints' },
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no warning: ${p.stderr()}`)), 30_000);
        p.child.stderr!.on('data', () => {
          if (/^warning: .+$/m.test(p.stderr())) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      expect(p.stderr()).toMatch(/^warning: .*(auth|password|401)/im);
      p.child.kill('SIGINT');
      expect(await p.exited).toBe(0);
    } finally {
      p.child.kill('SIGKILL');
    }
  });
});
