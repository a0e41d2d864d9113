import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { Store } from '../contracts/store.js';

/** One namespace of the store under test, fresh per case. */
export interface KillNamespace {
  /** What the writer script gets before the batch size (a path, a table, a key prefix...). */
  args: string[];
  /** Opens a store over this namespace (after the writer was killed). */
  open: () => Store | Promise<Store>;
  /** Removes the namespace. */
  cleanup: () => Promise<void>;
}

export interface StoreKillSafetyOptions {
  /**
   * The child writer: a script that opens the store named by its arguments (`...args, keys`) and
   * calls `writeBatchGenerations(store, keys)`.
   */
  writer: string;
  /** Makes a fresh namespace for each case. */
  namespace: () => KillNamespace | Promise<KillNamespace>;
  /** Batch sizes, and the batches at which the writer is killed (default 2,000 puts, at 2, 4, 7). */
  cases?: { keys: number; kills: number[] }[];
  /** Node arguments before the script (default: TypeScript through tsx, workspace sources). */
  nodeArgs?: string[];
  /** Working directory of the writer (default: this process's). */
  cwd?: string;
  /** Per-case timeout in ms (default 120,000). */
  timeoutMs?: number;
}

const pad = Buffer.alloc(200, 0x61);

/**
 * The writer's loop: batch after batch of `keys` puts of `row/<i>` holding the generation, plus
 * `gen`, printing "begin <gen>" before and "commit <gen>" after each, until the process is killed.
 */
export async function writeBatchGenerations(store: Store, keys: number): Promise<never> {
  for (let gen = 1; ; gen++) {
    const value = Buffer.concat([Buffer.from(String(gen).padStart(8, '0')), pad]);
    const ops = [];
    for (let i = 0; i < keys; i++)
      ops.push({ type: 'put' as const, key: Buffer.from(`row/${String(i).padStart(6, '0')}`), value });
    ops.push({ type: 'put' as const, key: Buffer.from('gen'), value: Buffer.from(String(gen)) });
    process.stdout.write(`begin ${gen}\n`);
    await store.batch(ops);
    process.stdout.write(`commit ${gen}\n`);
  }
}

/** Runs the writer until it has begun batch `killAt` (after at least one commit), then SIGKILLs it. */
async function runAndKill(
  o: StoreKillSafetyOptions,
  args: string[],
  killAt: number,
): Promise<{ committed: number; begun: number }> {
  const nodeArgs = o.nodeArgs ?? ['--conditions=@tributary/source', '--import', 'tsx'];
  const child = spawn(process.execPath, [...nodeArgs, o.writer, ...args], {
    cwd: o.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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

/**
 * Crash safety: a writer process killed with SIGKILL in the middle of a batch leaves that batch
 * all or nothing, and every batch it was told had committed is there, when the store reopens.
 */
export function runStoreKillSafety(name: string, o: StoreKillSafetyOptions): void {
  const cases = o.cases ?? [{ keys: 2000, kills: [2, 4, 7] }];
  describe(`${name} crash safety`, () => {
    it.each(cases)(
      'a batch of $keys puts killed mid-way with SIGKILL is all-or-nothing on reopen',
      { timeout: o.timeoutMs ?? 120_000 },
      async ({ keys, kills }) => {
        const ns = await o.namespace();
        try {
          for (const killAt of kills) {
            const { committed, begun } = await runAndKill(o, [...ns.args, String(keys)], killAt);
            const store = await ns.open();
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
          await ns.cleanup();
        }
      },
    );
  });
}
