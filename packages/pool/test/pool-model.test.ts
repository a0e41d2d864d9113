import { createMemoryFactory, MemoryNamespace } from '@tributary/connection-memory';
import { type Connection, isTributaryError } from '@tributary/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPool, type PoolGuard } from '../src/index.js';
import { until } from './helpers.js';

type Op =
  | { kind: 'acquire'; abortAfter: number | null }
  | { kind: 'release'; pick: number }
  | { kind: 'destroy'; pick: number }
  | { kind: 'releaseTwice'; pick: number }
  | { kind: 'serverKill'; pick: number }
  | { kind: 'tick' };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('acquire' as const), abortAfter: fc.option(fc.integer({ min: 0, max: 2 })) }),
  fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('destroy' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('releaseTwice' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('serverKill' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('tick' as const) }),
);

describe('pool model (random operations on the memory factory)', () => {
  it('never exceeds max, never lends one connection twice, settles every caller', {
    timeout: 60_000,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 2 }),
        fc.option(fc.integer({ min: 2, max: 4 })),
        fc.array(op, { maxLength: 60 }),
        async (max, minRaw, failEvery, ops) => {
          const min = Math.min(minRaw, max);
          const factory = createMemoryFactory({ namespace: new MemoryNamespace() });
          const serverSide: Connection[] = [];
          const listener = await factory.listen({ host: 'model', port: 0 }, (c) => {
            c.on('error', () => {});
            c.resume();
            serverSide.push(c);
          });
          let checks = 0;
          // Every failEvery-th health check fails (deterministic, so fast-check can shrink).
          const healthCheck = failEvery === null ? undefined : () => ++checks % failEvery !== 0;
          const pool = createPool({
            factory,
            endpoint: listener.address(),
            max,
            min,
            healthCheck,
            maxWaiting: 20,
            acquireTimeoutMs: 0,
            idleTimeoutMs: 0,
            backoff: { startMs: 1, factor: 2, maxMs: 5 },
          });
          const held: PoolGuard[] = [];
          const lent = new Set<Connection>();
          const outstanding: Promise<void>[] = [];
          const check = () => {
            const s = pool.stats();
            expect(s.size + s.pending).toBeLessThanOrEqual(max);
            expect(s.inUse).toBeLessThanOrEqual(max);
            // Loans the pool made whose promise has not resumed its caller yet count in inUse too.
            expect(s.inUse).toBeGreaterThanOrEqual(held.length);
            expect(lent.size).toBe(held.length);
          };
          for (const o of ops) {
            switch (o.kind) {
              case 'acquire': {
                const ac = new AbortController();
                const p = pool.acquire({ signal: ac.signal }).then(
                  (g) => {
                    expect(lent.has(g.connection)).toBe(false); // never lent twice at once
                    lent.add(g.connection);
                    held.push(g);
                  },
                  (err) => {
                    expect(
                      isTributaryError(err, 'TRIB_ABORTED') || isTributaryError(err, 'TRIB_POOL_QUEUE_FULL'),
                      String(err),
                    ).toBe(true);
                  },
                );
                outstanding.push(p);
                if (o.abortAfter !== null) {
                  for (let i = 0; i < o.abortAfter; i++) await Promise.resolve();
                  ac.abort();
                }
                break;
              }
              case 'release':
              case 'destroy':
              case 'releaseTwice': {
                if (held.length === 0) break;
                const g = held.splice(o.pick % held.length, 1)[0]!;
                lent.delete(g.connection);
                if (o.kind === 'destroy') g.destroy();
                else g.release();
                if (o.kind === 'releaseTwice') g.release();
                break;
              }
              case 'serverKill': {
                const live = serverSide.filter((c) => !c.destroyed);
                if (live.length) live[o.pick % live.length]!.destroy();
                break;
              }
              case 'tick':
                await new Promise((r) => setImmediate(r));
                break;
            }
            check();
          }
          // Give everything back; every caller must then be settled.
          const deadline = Date.now() + 5_000;
          while (Date.now() < deadline) {
            for (const g of held.splice(0)) {
              lent.delete(g.connection);
              g.release();
            }
            const settled = await Promise.race([
              Promise.all(outstanding).then(() => true),
              new Promise((r) => setTimeout(() => r(false), 5)),
            ]);
            if (settled && held.length === 0) break;
          }
          expect(held.length).toBe(0);
          await Promise.all(outstanding);
          expect(pool.stats()).toMatchObject({ waiting: 0, inUse: 0 });
          await until(() => pool.stats().size >= min || pool.stats().pending > 0, 'min restored', 2_000);
          await pool.close({ drain: true });
          expect(pool.stats().size).toBe(0);
          await listener.close();
        },
      ),
      { numRuns: Number(process.env.POOL_MODEL_RUNS ?? 150) },
    );
  });
});
