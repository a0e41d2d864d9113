import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { type ChaosProxy, startChaosProxy } from '@tributary/chaos-proxy';
import { type Cluster, startCluster } from '@tributary/cluster';
import { createPostgresStore } from '@tributary/store-postgres';
import { createRedisStore } from '@tributary/store-redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignVbuckets } from '../src/index.js';

// Issue 12: members in separate processes share one bucket through Redis or PostgreSQL. Three
// start, a fourth joins, one is SIGKILLed, the store is black-holed for longer than a lease; across
// all of it the union of what the members delivered reaches the bucket's final state and no vbucket
// is ever streamed by two members at once (checked from their ownership intervals).
const VBUCKETS = 1024;
// Generous for a shared 2-core box running many suites at once.
const LEASE_MS = 6000;
const HEARTBEAT_MS = 500;
const fixture = new URL('./fixtures/group-member.ts', import.meta.url).pathname;

interface Member {
  id: string;
  proc: ChildProcess;
  owned: Set<number>;
  ready: boolean;
  exited: boolean;
  stderr: string[];
  killedAt?: number;
}

interface Interval {
  member: string;
  vb: number;
  from: number;
  to: number;
}

class Run {
  readonly members = new Map<string, Member>();
  /** key → { seq, value | null } latest delivered across all members (by seqno within the key's vbucket). */
  readonly latest = new Map<string, { seq: number; value: string | null }>();
  readonly intervals: Interval[] = [];
  readonly open = new Map<string, number>(); // `${member}/${vb}` → from
  delivered = 0;

  constructor(
    readonly env: Record<string, string>,
    readonly name: string,
  ) {}

  spawn(id: string): Member {
    const proc = spawn(process.execPath, ['--conditions=@tributary/source', '--import', 'tsx', fixture], {
      env: { ...process.env, ...this.env, GROUP_MEMBER: id, TRIBUTARY_LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const m: Member = { id, proc, owned: new Set(), ready: false, exited: false, stderr: [] };
    this.members.set(id, m);
    createInterface({ input: proc.stdout! }).on('line', (line) => line && this.#event(m, JSON.parse(line)));
    createInterface({ input: proc.stderr! }).on('line', (line) => m.stderr.push(line));
    proc.on('exit', () => {
      m.exited = true;
    });
    return m;
  }

  #event(
    m: Member,
    e: { t: string; vb?: number; seq?: number; k?: string; v?: string; vbs?: number[]; at?: number },
  ): void {
    switch (e.t) {
      case 'ready':
        m.ready = true;
        return;
      case 'a':
        for (const vb of e.vbs!) {
          m.owned.add(vb);
          this.open.set(`${m.id}/${vb}`, e.at!);
        }
        return;
      case 'r':
        for (const vb of e.vbs!) {
          m.owned.delete(vb);
          this.#close(m.id, vb, e.at!);
        }
        return;
      case 'u':
      case 'd': {
        this.delivered++;
        const prev = this.latest.get(e.k!);
        if (!prev || prev.seq < e.seq!)
          this.latest.set(e.k!, { seq: e.seq!, value: e.t === 'u' ? e.v! : null });
        return;
      }
    }
  }

  #close(member: string, vb: number, to: number): void {
    const from = this.open.get(`${member}/${vb}`);
    if (from === undefined) return;
    this.open.delete(`${member}/${vb}`);
    this.intervals.push({ member, vb, from, to });
  }

  kill(id: string): void {
    const m = this.members.get(id)!;
    m.killedAt = Date.now();
    m.proc.kill('SIGKILL');
    // A killed member streams nothing after its death: its intervals end there.
    for (const vb of m.owned) this.#close(id, vb, m.killedAt);
    m.owned.clear();
  }

  live(): Member[] {
    return [...this.members.values()].filter((m) => !m.killedAt && !m.exited);
  }

  /** True when the live members own exactly what rendezvous hashing gives them. */
  settled(): boolean {
    const live = this.live();
    const want = assignVbuckets(
      live.map((m) => m.id),
      Array.from({ length: VBUCKETS }, (_, i) => i),
    );
    return live.every((m) => {
      const w = want.get(m.id)!;
      return w.length === m.owned.size && w.every((vb) => m.owned.has(vb));
    });
  }

  covered(): number {
    const all = new Set<number>();
    for (const m of this.live()) for (const vb of m.owned) all.add(vb);
    return all.size;
  }

  async stopAll(): Promise<void> {
    const live = this.live();
    await Promise.all(
      live.map(
        (m) =>
          new Promise<void>((resolve) => {
            m.proc.once('exit', () => resolve());
            m.proc.kill('SIGTERM');
          }),
      ),
    );
    const end = Date.now();
    for (const key of [...this.open.keys()]) {
      const [member, vb] = key.split('/');
      this.#close(member!, Number(vb), end);
    }
  }

  overlaps(): string[] {
    const byVb = new Map<number, Interval[]>();
    for (const i of this.intervals) (byVb.get(i.vb) ?? byVb.set(i.vb, []).get(i.vb)!).push(i);
    const bad: string[] = [];
    for (const [vb, list] of byVb) {
      list.sort((a, b) => a.from - b.from);
      for (let i = 1; i < list.length; i++) {
        if (list[i]!.from < list[i - 1]!.to)
          bad.push(`vb ${vb}: ${JSON.stringify(list[i - 1])} overlaps ${JSON.stringify(list[i])}`);
      }
    }
    return bad;
  }
}

async function until(what: string, cond: () => boolean, ms = 60_000, run?: Run): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) {
      const diag = run
        ? [...run.members.values()]
            .map((m) => `${m.id}: owned ${m.owned.size} ${m.stderr.slice(-3).join(' | ')}`)
            .join('\n')
        : '';
      throw new Error(`timed out waiting for ${what}\n${diag}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

let cluster: Cluster;
let seq = 0;
const expected = new Map<string, string | null>();

function load(n: number): void {
  const b = cluster.bucket('default');
  for (let i = 0; i < n; i++) {
    seq++;
    const k = `doc${seq % 3000}`;
    if (seq % 10 === 0 && expected.get(k)) {
      b.remove(k);
      expected.set(k, null);
    } else {
      const v = `v${seq}`;
      b.upsert(k, v);
      expected.set(k, v);
    }
  }
}

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 2,
    vbuckets: VBUCKETS,
    buckets: ['default'],
    users: { app: 'secret' },
  });
});
afterAll(async () => {
  await cluster?.close();
});

for (const kind of ['redis', 'postgres'] as const) {
  describe(`consumer group across processes (${kind})`, () => {
    let proxy: ChaosProxy;
    const name = `g${randomUUID().slice(0, 8)}`;
    const table = `trib_group_${name}`;

    beforeAll(async () => {
      // Members reach the store through a loopback chaos proxy so the test can black-hole it.
      proxy = await startChaosProxy({ target: { host: '127.0.0.1', port: kind === 'redis' ? 6379 : 5432 } });
    });
    afterAll(async () => {
      await proxy?.close();
      // Clean up the group's keys/table through a direct connection.
      const store =
        kind === 'redis' ? createRedisStore({ prefix: `${name}:` }) : createPostgresStore({ table });
      const keys: Uint8Array[] = [];
      for await (const { key } of store.scan()) keys.push(key);
      if (keys.length) await store.batch(keys.map((key) => ({ type: 'del' as const, key })));
      await store.close();
    });

    it('splits, rebalances on join, survives SIGKILL and a store outage, never double-owns, loses nothing', {
      timeout: 240_000,
    }, async () => {
      const { port } = proxy.address();
      const run = new Run(
        {
          GROUP_STORE: kind,
          GROUP_NAME: name,
          GROUP_PREFIX: `${name}:`,
          GROUP_TABLE: table,
          GROUP_REDIS_URL: `redis://127.0.0.1:${port}`,
          GROUP_PG_URL: `postgres://root@127.0.0.1:${port}/test`,
          GROUP_SERVER_URL: cluster.managementUrl,
          GROUP_LEASE_MS: String(LEASE_MS),
          GROUP_HEARTBEAT_MS: String(HEARTBEAT_MS),
        },
        name,
      );
      try {
        load(3000);
        for (const id of ['m1', 'm2', 'm3']) run.spawn(id);
        await until('three members to split every vbucket', () => run.settled(), 60_000, run);
        expect(run.covered()).toBe(VBUCKETS);
        for (const m of run.live()) expect(m.owned.size).toBeGreaterThan(VBUCKETS / 3 - 60);

        // A fourth member joins: only the vbuckets it wins move.
        load(2000);
        const before = new Map(run.live().map((m) => [m.id, new Set(m.owned)]));
        const m4 = run.spawn('m4');
        await until(
          'the fourth member to take its share',
          () => m4.owned.size > 0 && run.settled(),
          60_000,
          run,
        );
        expect(run.covered()).toBe(VBUCKETS);
        let moved = 0;
        for (const [id, owned] of before)
          for (const vb of owned) if (!run.members.get(id)!.owned.has(vb)) moved++;
        expect(moved).toBe(m4.owned.size);

        // SIGKILL: m2's vbuckets are taken over only after its lease ends, from its checkpoints.
        load(2000);
        const m2share = new Set(run.members.get('m2')!.owned);
        run.kill('m2');
        await until('the others to take over the killed member', () => run.settled(), 60_000, run);
        expect(run.covered()).toBe(VBUCKETS);
        for (const m of run.live())
          for (const vb of m.owned) if (m2share.has(vb)) expect(m.id).not.toBe('m2');

        // The store is unreachable for longer than a lease: every member stops streaming, then all resume.
        proxy.blackhole();
        await until(
          'every member to stop streaming while the store is unreachable',
          () => run.live().every((m) => m.owned.size === 0),
          30_000,
          run,
        );
        load(1000); // written while nobody streams
        proxy.reset(); // drop the dead links so clients reconnect at once
        proxy.resume();
        await until('members to resume after the outage', () => run.settled(), 60_000, run);
        expect(run.covered()).toBe(VBUCKETS);

        load(2000);
        const want = [...expected];
        await until(
          'the union of deliveries to reach the bucket state',
          () => want.every(([k, v]) => (run.latest.get(k)?.value ?? null) === v),
          60_000,
          run,
        );
      } finally {
        await run.stopAll();
      }
      expect(run.overlaps()).toEqual([]);
      expect(run.intervals.length).toBeGreaterThan(VBUCKETS);
      expect(run.delivered).toBeGreaterThan(0);
    });
  });
}
