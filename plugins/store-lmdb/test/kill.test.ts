import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLmdbStore } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');
/** Runs the writer until it has begun batch `killAt` (after at least one commit), then SIGKILLs it. */
async function runAndKill(
  dir: string,
  killAt: number,
  keys: number,
): Promise<{ committed: number; begun: number }> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=@tributary/source',
      '--import',
      'tsx',
      path.join(here, 'fixtures/batch-writer.ts'),
      dir,
      String(keys),
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let committed = 0;
  let begun = 0;
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const [what, n] = buf.slice(0, nl).split(' ');
      buf = buf.slice(nl + 1);
      if (what === 'commit') committed = Number(n);
      if (what === 'begin') {
        begun = Number(n);
        // kill while this batch is in flight
        if (begun >= killAt && committed >= 1) child.kill('SIGKILL');
      }
      nl = buf.indexOf('\n');
    }
  });
  const signal = await exited;
  if (signal !== 'SIGKILL') throw new Error(`writer exited without being killed: ${stderr}`);
  return { committed, begun };
}

describe('store-lmdb crash safety', () => {
  // (lmdb's write thread applies a batch: one of the size the channel index's group commits
  // reach, up to 200,000 operations, must be as all-or-nothing as a small one)
  it.each([
    { keys: 2000, kills: [2, 4, 7] },
    { keys: 100_000, kills: [2, 3] },
  ])(
    'a batch of $keys puts killed mid-way with SIGKILL is all-or-nothing on reopen',
    { timeout: 120_000 },
    async ({ keys, kills }) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trib-lmdb-kill-'));
      try {
        for (const killAt of kills) {
          const { committed, begun } = await runAndKill(dir, killAt, keys);
          const store = createLmdbStore({ path: dir });
          try {
            const gen = Number(Buffer.from((await store.get(Buffer.from('gen')))!).toString());
            // every acknowledged batch is there; nothing newer than what was begun
            expect(gen).toBeGreaterThanOrEqual(committed);
            expect(gen).toBeLessThanOrEqual(begun);
            let rows = 0;
            for await (const { value } of store.scan({ prefix: Buffer.from('row/') })) {
              expect(Number(Buffer.from(value.subarray(0, 8)).toString())).toBe(gen);
              rows++;
            }
            expect(rows).toBe(keys);
          } finally {
            await store.close();
          }
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
