// The data side killed for real: `tributary serve` (two nodes, 1,024 vbuckets, LMDB data dir) runs
// as its own process and gets SIGKILL while a load writes and a datasource streams. Nothing is
// flushed on the way down, so acknowledged writes of the last few milliseconds can be lost, as on
// a crashed Couchbase node. The server restarts on the same ports and data dir; the datasource must
// heal by itself (reconnect, roll back what the server lost) and end with exactly what a fresh
// datasource reads from the restarted server, with per-vbucket order kept throughout.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BucketDataSource, createBucketDataSource } from '@tributary/datasource';
import { expect, it } from 'vitest';
import { MirrorReceiver } from '../support/mirror.js';
import { waitFor } from '../support/pipeline.js';
import { recordFigures } from '../support/results.js';

const bin = join(import.meta.dirname, '../../packages/cli/src/bin.ts');
const VBUCKETS = 1024;

function tributary(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--conditions=@tributary/source', '--import', 'tsx', bin, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A base port with `n` free consecutive ports (the embedded cluster numbers nodes base+i). */
async function freeRun(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = await canListen(base + i);
    if (ok) return base;
  }
  throw new Error('no free port run found');
}

/** Starts `tributary serve` and resolves once it printed its cluster line (it is listening). */
function serve(args: string[]): Promise<ChildProcess> {
  const p = tributary(['serve', ...args]);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    p.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ctrl-C stops')) resolve(p);
    });
    p.stderr!.on('data', (d) => {
      err += d;
    });
    p.once('exit', (code) => reject(new Error(`serve exited early (${code}): ${err}`)));
  });
}

/** Runs `tributary load` to its end; resolves with its exit code (non-zero when the server died under it). */
function load(url: string, count: number, keys: number): Promise<number | null> {
  const p = tributary([
    'load',
    '--cluster',
    url,
    '-n',
    String(count),
    '--keys',
    String(keys),
    '--deletes',
    '0.1',
  ]);
  p.stdout!.resume();
  p.stderr!.resume();
  return new Promise((resolve) => p.once('exit', resolve));
}

function open(url: string, receiver: MirrorReceiver): BucketDataSource {
  return createBucketDataSource({
    serverUrls: [url],
    bucketName: 'default',
    auth: { username: 'Administrator', password: 'password' },
    receiver,
    options: {
      seqnoPollIntervalMs: 100,
      clusterManagerSleepMaxMs: 200,
      dataManagerSleepMaxMs: 200,
    },
  });
}

const killed = (p: ChildProcess, sig: NodeJS.Signals) => {
  const exited = new Promise((r) => p.once('exit', r));
  p.kill(sig);
  return exited;
};

it('data node process SIGKILLed under load and restarted: the datasource heals, nothing lost or reordered', {
  timeout: 240_000,
}, async () => {
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'trib-serve-kill-'));
  const [rest, kv] = [await freeRun(2), await freeRun(2)];
  const url = `http://127.0.0.1:${rest}`;
  const args = [
    '--nodes',
    '2',
    '--vbuckets',
    String(VBUCKETS),
    '--port',
    String(rest),
    '--kv-port',
    String(kv),
    '--data-dir',
    dir,
  ];
  let server = await serve(args);
  const resumed = new MirrorReceiver();
  const fresh = new MirrorReceiver();
  const d1 = open(url, resumed);
  let d2: BucketDataSource | undefined;
  try {
    await d1.start();
    // Kill the server mid-load, once the datasource is well into the stream.
    const firstLoad = load(url, 40_000, 5_000);
    await waitFor('the datasource to receive 10,000 changes', () => resumed.received >= 10_000, {
      timeoutMs: 120_000,
    });
    await killed(server, 'SIGKILL');
    const down = Date.now();
    const atKill = resumed.received;
    await firstLoad;
    server = await serve(args);
    const upMs = Date.now() - down;
    expect(await load(url, 10_000, 5_000)).toBe(0);

    // Ground truth: a datasource that never saw the crash, started after the last write.
    d2 = open(url, fresh);
    await d2.start();
    const settleMs = await waitFor(
      'both datasources to reach the same seqno in every vbucket',
      () => {
        const s = d2!.stats();
        if (s.TotSeqnosReqDone === 0 || s.lagMax !== 0) return false;
        for (let vb = 0; vb < VBUCKETS; vb++) if (resumed.lastSeq(vb) !== fresh.lastSeq(vb)) return false;
        return true;
      },
      { timeoutMs: 120_000 },
    );
    const want = fresh.state();
    expect(want.size).toBeGreaterThan(1_000);
    expect(resumed.state()).toEqual(want);
    expect(resumed.orderViolations).toEqual([]);
    expect(fresh.orderViolations).toEqual([]);
    // The crash was seen and healed: the connections broke and new ones were made.
    const st = d1.stats();
    expect(st.TotWorkerConnectOk).toBeGreaterThan(2);
    recordFigures({
      scenario: 'data-node-process-sigkill',
      mutationsSent: -1,
      mutationsDelivered: resumed.received,
      duplicatesDropped: -1,
      faultsRecovered: 1,
      recoverMs: [settleMs],
      peakRssMb: Math.round(process.memoryUsage().rss / 1e6),
      seconds: (Date.now() - t0) / 1000,
      receivedBeforeKill: atKill,
      serverRestartMs: upMs,
      rollbacks: resumed.rollbacks.length,
      documents: want.size,
      connectErrors: st.TotWorkerConnectErr,
    });
  } finally {
    await d1.close();
    await d2?.close();
    if (server.exitCode === null) await killed(server, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});
