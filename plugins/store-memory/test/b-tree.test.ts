import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BTree } from '../src/internal/b-tree.js';

// Keys from a small alphabet (with 0x00 and 0xff) so random ops collide, replace and delete often.
const key = fc
  .uint8Array({ minLength: 0, maxLength: 4 })
  .map((a) => Buffer.from(a.map((b) => [0, 1, 0x61, 0x7f, 0x80, 0xfe, 0xff][b % 7]!)));
const value = fc.uint8Array({ maxLength: 6 }).map((a) => Buffer.from(a));

type Op =
  | { t: 'set'; k: Buffer; v: Buffer }
  | { t: 'del'; k: Buffer }
  | { t: 'get'; k: Buffer }
  | { t: 'scan'; gte?: Buffer; lt?: Buffer; reverse: boolean; page: number; maxBytes: number };

// Keys shaped like a channel index's (chunk and record keys): long shared prefixes, differing late.
const longKey = fc
  .tuple(
    fc.constantFrom('ci:b/ch1\u0000', 'ci:b/ch1\u0000\u0000', 'ci:b/ch10', 'ci:d/0001doc-'),
    fc.uint8Array({ maxLength: 12 }),
  )
  .map(([p, a]) =>
    Buffer.concat([Buffer.from(p, 'latin1'), Buffer.from(a.map((b) => [0, 0x30, 0x31, 0xff][b % 4]!))]),
  );

const opOf = (key: fc.Arbitrary<Buffer>): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ t: fc.constant('set' as const), k: key, v: value }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('del' as const), k: key }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('get' as const), k: key }) },
    {
      weight: 1,
      arbitrary: fc.record(
        {
          t: fc.constant('scan' as const),
          gte: key,
          lt: key,
          reverse: fc.boolean(),
          page: fc.integer({ min: 1, max: 40 }),
          maxBytes: fc.integer({ min: 1, max: 200 }),
        },
        { requiredKeys: ['t', 'reverse', 'page', 'maxBytes'] },
      ),
    },
  );
const op = opOf(key);

/** The reference: a Map by hex key, sorted on demand. */
class Model {
  readonly map = new Map<string, Buffer>();
  sorted(gte?: Buffer, lt?: Buffer): [Buffer, Buffer][] {
    const rows = [...this.map].map(([h, v]) => [Buffer.from(h, 'hex'), v] as [Buffer, Buffer]);
    rows.sort((a, b) => Buffer.compare(a[0], b[0]));
    return rows.filter(
      ([k]) =>
        (gte === undefined || Buffer.compare(k, gte) >= 0) && (lt === undefined || Buffer.compare(k, lt) < 0),
    );
  }
  bytes(): number {
    let n = 0;
    for (const [h, v] of this.map) n += h.length / 2 + v.length;
    return n;
  }
}

/** Every row of the range, paged as the store pages: each step resumes after the last key seen. */
function scanAll(tree: BTree, o: Extract<Op, { t: 'scan' }>): [Buffer, Buffer][] {
  const got: [Buffer, Buffer][] = [];
  let after: Buffer | undefined;
  for (;;) {
    const page = tree.page(
      o.gte,
      o.lt,
      o.reverse,
      o.page,
      after,
      o.maxBytes,
      (k, v) => [k, v] as [Buffer, Buffer],
    );
    if (page.length === 0) return got;
    expect(page.length).toBeLessThanOrEqual(o.page);
    // the byte budget stops a page once reached: every value but the last fits under it
    expect(page.slice(0, -1).reduce((n, [, v]) => n + v.length, 0)).toBeLessThan(o.maxBytes);
    got.push(...page);
    // a scan that repeats rows would page forever: more rows than entries is already wrong
    expect(got.length).toBeLessThanOrEqual(tree.size);
    after = page[page.length - 1]![0];
  }
}

const hex = (rows: [Buffer, Buffer][]) => rows.map(([k, v]) => `${k.toString('hex')}=${v.toString('hex')}`);

function check(tree: BTree, model: Model, ops: Op[]): void {
  for (const o of ops) {
    switch (o.t) {
      case 'set':
        tree.set(o.k, o.v);
        model.map.set(o.k.toString('hex'), o.v);
        break;
      case 'del':
        expect(tree.delete(o.k)).toBe(model.map.delete(o.k.toString('hex')));
        break;
      case 'get':
        expect(tree.get(o.k)?.toString('hex')).toBe(model.map.get(o.k.toString('hex'))?.toString('hex'));
        break;
      case 'scan': {
        let want = model.sorted(o.gte, o.lt);
        if (o.reverse) want = want.reverse();
        expect(hex(scanAll(tree, o))).toEqual(hex(want));
        break;
      }
    }
  }
  expect(tree.verify()).toEqual([]);
  expect(tree.size).toBe(model.map.size);
  expect(tree.bytes).toBe(model.bytes());
  // a full walk both ways sees every entry, so the leaf links agree with the tree
  const all = model.sorted();
  expect(hex(scanAll(tree, { t: 'scan', reverse: false, page: 1000, maxBytes: 1e9 }))).toEqual(hex(all));
  expect(hex(scanAll(tree, { t: 'scan', reverse: true, page: 7, maxBytes: 1e9 }))).toEqual(
    hex(all.reverse()),
  );
  for (const [k, v] of all) expect(tree.get(k)?.equals(v)).toBe(true);
}

describe('BTree', () => {
  it('matches a sorted map under random sets, deletes, gets and paged scans (small nodes: deep trees)', () => {
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 1, maxLength: 600 }),
        fc.integer({ min: 4, max: 6 }),
        fc.integer({ min: 4, max: 6 }),
        (ops, leafSize, innerSize) => check(new BTree({ leafSize, innerSize }), new Model(), ops),
      ),
      { numRuns: 200 },
    );
  });

  it("matches a sorted map on long keys whose shared prefixes outrun the inner nodes' search numbers", () => {
    fc.assert(
      fc.property(
        fc.array(opOf(longKey), { minLength: 1, maxLength: 600 }),
        fc.integer({ min: 4, max: 6 }),
        (ops, size) => check(new BTree({ leafSize: size, innerSize: size }), new Model(), ops),
      ),
      { numRuns: 200 },
    );
  });

  it('grows to several levels and shrinks back to an empty root under bulk inserts and deletes', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.uint8Array({ minLength: 1, maxLength: 3 }), {
          minLength: 200,
          maxLength: 800,
          selector: (a) => Buffer.from(a).toString('hex'),
        }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (raw, seed) => {
          const keys = raw.map((a) => Buffer.from(a));
          const tree = new BTree({ leafSize: 4, innerSize: 4 });
          const model = new Model();
          const sets: Op[] = keys.map((k, i) => ({ t: 'set', k, v: Buffer.from([i & 0xff]) }));
          check(tree, model, sets);
          // deletes in a shuffled order exercise borrows and merges from both sides at every level
          const order = keys.map((k, i) => [((i + 1) * (seed | 1)) % 1_000_003, k] as const);
          order.sort((a, b) => a[0] - b[0]);
          const half = order.length >>> 1;
          check(
            tree,
            model,
            order.slice(0, half).map(([, k]) => ({ t: 'del', k }) as Op),
          );
          check(
            tree,
            model,
            order.slice(half).map(([, k]) => ({ t: 'del', k }) as Op),
          );
          expect(tree.size).toBe(0);
          expect(tree.page(undefined, undefined, true, 10, undefined, 100, (k) => k)).toEqual([]);
          // and it is still usable after emptying
          check(tree, model, sets.slice(0, 50));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('clear() empties it', () => {
    const tree = new BTree({ leafSize: 4, innerSize: 4 });
    for (let i = 0; i < 100; i++) tree.set(Buffer.from([i]), Buffer.from([1, 2]));
    tree.clear();
    expect([tree.size, tree.bytes]).toEqual([0, 0]);
    expect(tree.page(undefined, undefined, false, 10, undefined, 100, (k) => k)).toEqual([]);
    tree.set(Buffer.from([5]), Buffer.from([1]));
    expect(tree.get(Buffer.from([5]))).toEqual(Buffer.from([1]));
  });
});
