import type { Store } from '@tributary/core';
import { createMemoryStore } from '@tributary/store-memory';
import { afterEach, describe, expect, it } from 'vitest';
import { assignVbuckets, ConsumerGroup, type GroupStreamer } from '../src/index.js';

// A streamer that records the interval during which each vbucket was streamed by which member,
// so the tests can check that no vbucket was ever streamed by two members at once.
interface Interval {
  member: string;
  vb: number;
  from: number;
  to: number;
}

function recorder() {
  const intervals: Interval[] = [];
  const open = new Map<string, Map<number, number>>();
  let clock = 0; // a logical clock shared by every member in this process: strictly ordered events
  const factory =
    (member: string) =>
    (vbs: number[]): GroupStreamer => ({
      start() {
        const m = open.get(member) ?? new Map<number, number>();
        open.set(member, m);
        for (const vb of vbs) m.set(vb, ++clock);
      },
      close() {
        const m = open.get(member);
        if (!m) return;
        const t = ++clock;
        for (const vb of vbs) {
          const from = m.get(vb);
          if (from !== undefined) intervals.push({ member, vb, from, to: t });
          m.delete(vb);
        }
      },
    });
  const closeAll = () => {
    for (const [member, m] of open)
      for (const [vb, from] of m) intervals.push({ member, vb, from, to: ++clock });
    open.clear();
  };
  const overlaps = () => {
    const byVb = new Map<number, Interval[]>();
    for (const i of intervals) (byVb.get(i.vb) ?? byVb.set(i.vb, []).get(i.vb)!).push(i);
    const bad: [Interval, Interval][] = [];
    for (const list of byVb.values()) {
      list.sort((a, b) => a.from - b.from);
      for (let i = 1; i < list.length; i++)
        if (list[i]!.from < list[i - 1]!.to) bad.push([list[i - 1]!, list[i]!]);
    }
    return bad;
  };
  return { factory, intervals, overlaps, closeAll };
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const groups: ConsumerGroup[] = [];
afterEach(async () => {
  await Promise.all(groups.splice(0).map((g) => g.close()));
});

function member(store: Store, id: string, rec: ReturnType<typeof recorder>, vbuckets = 64) {
  const g = new ConsumerGroup({
    group: 'g1',
    member: id,
    store,
    vbuckets,
    leaseMs: 600,
    heartbeatMs: 100,
    createStreamer: rec.factory(id),
  });
  groups.push(g);
  return g;
}

describe('rendezvous assignment', () => {
  it('covers every vbucket exactly once and moves few on a join', () => {
    const vbs = Array.from({ length: 1024 }, (_, i) => i);
    const three = assignVbuckets(['a', 'b', 'c'], vbs);
    const four = assignVbuckets(['a', 'b', 'c', 'd'], vbs);
    const all = [...three.values()].flat().sort((x, y) => x - y);
    expect(all).toEqual(vbs);
    for (const share of three.values()) expect(share.length).toBeGreaterThan(1024 / 3 - 80);
    // Only vbuckets won by the newcomer move.
    let moved = 0;
    for (const m of ['a', 'b', 'c']) {
      const before = new Set(three.get(m));
      for (const vb of four.get(m)!) expect(before.has(vb)).toBe(true);
      moved += before.size - four.get(m)!.length;
    }
    expect(moved).toBe(four.get('d')!.length);
    expect(moved).toBeLessThan(1024 / 4 + 80);
  });
});

describe('consumer group coordination (memory store)', () => {
  it('splits vbuckets between members, rebalances on join and leave, never overlapping', async () => {
    const store = createMemoryStore();
    const rec = recorder();
    const a = member(store, 'a', rec);
    const b = member(store, 'b', rec);
    await a.start();
    await b.start();
    await until(() => a.assignment().length + b.assignment().length === 64 && a.assignment().length < 64);
    const c = member(store, 'c', rec);
    await c.start();
    await until(
      () =>
        c.assignment().length > 0 &&
        a.assignment().length + b.assignment().length + c.assignment().length === 64,
    );
    const union = [...a.assignment(), ...b.assignment(), ...c.assignment()].sort((x, y) => x - y);
    expect(union).toEqual(Array.from({ length: 64 }, (_, i) => i));
    await b.close();
    await until(() => a.assignment().length + c.assignment().length === 64);
    expect(a.members()).toEqual(['a', 'c']);
    rec.closeAll();
    expect(rec.overlaps()).toEqual([]);
    expect(a.stats().leaseRenewals).toBeGreaterThan(0);
    expect(a.stats().rebalances).toBeGreaterThan(0);
  });

  it('a member cut off from the store stops streaming before its lease expires, then rejoins', async () => {
    const store = createMemoryStore();
    const rec = recorder();
    const cut = severable(store);
    const a = member(store, 'a', rec);
    const b = member(cut.store, 'b', rec);
    const errors: unknown[] = [];
    b.on('error', (e) => errors.push(e));
    await a.start();
    await b.start();
    await until(
      () =>
        a.assignment().length > 0 &&
        b.assignment().length > 0 &&
        a.assignment().length + b.assignment().length === 64,
    );
    cut.sever();
    await until(() => b.assignment().length === 0);
    await until(() => a.assignment().length === 64);
    expect(errors.some((e) => (e as { code?: string }).code === 'TRIB_GROUP_LEASE_LOST')).toBe(true);
    cut.restore();
    await until(() => b.assignment().length > 0 && a.assignment().length + b.assignment().length === 64);
    rec.closeAll();
    expect(rec.overlaps()).toEqual([]);
    expect(b.stats().leaseFailures).toBeGreaterThan(0);
  });
});

/** A view of a real store whose calls can be made to fail, as when the network to it is down. */
function severable(inner: Store) {
  let down = false;
  const fail = () =>
    Promise.reject(Object.assign(new Error('store unreachable'), { code: 'TRIB_STORE_UNAVAILABLE' }));
  const store: Store = {
    name: `severable(${inner.name})`,
    get: (k) => (down ? fail() : inner.get(k)),
    getMany: (k) => (down ? fail() : inner.getMany(k)),
    batch: (ops) => (down ? fail() : inner.batch(ops)),
    scan: (o) =>
      down
        ? {
            [Symbol.asyncIterator]: () => ({ next: fail }),
          }
        : inner.scan(o),
    close: async () => {},
  };
  return { store, sever: () => (down = true), restore: () => (down = false) };
}
