import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChannelIndex } from '@tributary/channel-index';
import { createLmdbStore } from '@tributary/store-lmdb';
import { expect, it } from 'vitest';
import { checkReaders, compareWithRebuilt } from '../support/check.js';
import { freePort } from '../support/faults.js';
import { expireAll, runLoad } from '../support/load.js';
import { caughtUp, startTestCluster, waitFor } from '../support/pipeline.js';
import { startReader } from '../support/readers.js';
import { recordFigures } from '../support/results.js';

const child = join(import.meta.dirname, '../support/consumer-child.ts');

function spawnConsumer(args: string[]): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['--conditions=@tributary/source', '--import', 'tsx', child, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    p.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('ready')) resolve(p);
    });
    p.once('exit', (code) => reject(new Error(`consumer exited early (${code})`)));
  });
}

it('consumer process SIGKILLed mid-stream and restarted: resumes from checkpoints, nothing missed', {
  timeout: 180_000,
}, async () => {
  const t0 = Date.now();
  const cluster = await startTestCluster(2);
  const dir = mkdtempSync(join(tmpdir(), 'trib-sigkill-'));
  const path = join(dir, 'index.lmdb');
  const [mport, hport] = [await freePort(), await freePort()];
  const args = [path, String(mport), String(hport), cluster.managementUrl];
  const url = `http://127.0.0.1:${hport}`;
  let proc = await spawnConsumer(args);
  const readers = [
    startReader('longpoll', () => url, 'a'),
    startReader('continuous', () => url, 'b'),
    startReader('websocket', () => url, 'c'),
  ];
  const ops = Number(process.env.E2E_OPS ?? 20_000);
  const keys = Math.floor(ops / 10);
  let recoverMs = 0;
  try {
    let killed = false;
    const load = await runLoad(cluster, {
      ops,
      keys,
      onSlice: async (done) => {
        if (killed || done < ops / 2) return;
        killed = true;
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await exited;
        const t = Date.now();
        proc = await spawnConsumer(args);
        recoverMs = Date.now() - t;
      },
    });
    await expireAll(cluster, load);
    const diffs = await checkReaders(cluster, keys, readers, 60_000);
    expect(diffs.flatMap((d) => d.diff)).toEqual([]);
    // Stop the consumer cleanly and inspect its index on disk.
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
    const store = createLmdbStore({ path });
    const index = createChannelIndex({ store });
    await waitFor(
      'the on-disk index to hold everything',
      () => caughtUp(cluster, (vb) => index.getMetaData(vb)),
      { timeoutMs: 5_000 },
    );
    expect(await compareWithRebuilt(cluster, index)).toEqual([]);
    const st = index.stats();
    recordFigures({
      scenario: 'consumer-sigkill',
      mutationsSent: -1,
      mutationsDelivered: -1,
      duplicatesDropped: -1,
      faultsRecovered: 1,
      recoverMs: [recoverMs],
      peakRssMb: Math.round(process.memoryUsage().rss / 1e6),
      seconds: (Date.now() - t0) / 1000,
      load,
      readerReconnects: readers.map((r) => r.reconnects),
      indexCounter: st.counter,
    });
    expect(readers.some((r) => r.reconnects > 0)).toBe(true);
    await index.close();
    await store.close();
  } finally {
    for (const r of readers) await r.close();
    if (proc.exitCode === null) proc.kill('SIGKILL');
    await cluster.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
