import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createPostgresStore } from '../src/index.js';
import { connectionString, dropTable, uniqueTable } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');
const KEYS = 2000;

/** Runs the writer until it has begun batch `killAt` (after at least one commit), then SIGKILLs it. */
async function runAndKill(args: string[], killAt: number): Promise<{ committed: number; begun: number }> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=@tributary/source',
      '--import',
      'tsx',
      path.join(here, 'fixtures/batch-writer.ts'),
      ...args,
      String(KEYS),
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

describe('store-postgres crash safety', () => {
  it('a writer killed with SIGKILL mid-batch leaves the batch all-or-nothing', {
    timeout: 60_000,
  }, async () => {
    const table = uniqueTable();
    try {
      for (const killAt of [2, 4, 7]) {
        const { committed, begun } = await runAndKill([connectionString, table], killAt);
        const store = createPostgresStore({ connectionString, table });
        try {
          const gen = Number(Buffer.from((await store.get(Buffer.from('gen')))!).toString());
          expect(gen).toBeGreaterThanOrEqual(committed);
          expect(gen).toBeLessThanOrEqual(begun);
          let rows = 0;
          for await (const { value } of store.scan({ prefix: Buffer.from('row/') })) {
            expect(Number(Buffer.from(value.subarray(0, 8)).toString())).toBe(gen);
            rows++;
          }
          expect(rows).toBe(KEYS);
        } finally {
          await store.close();
        }
      }
    } finally {
      await dropTable(table);
    }
  });
});
