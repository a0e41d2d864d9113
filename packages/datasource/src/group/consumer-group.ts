import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { componentLogger, defineError, type Logger, type Store } from '@tributary/core';
import { type Counter, createMetrics, type MetricsRegistry } from '@tributary/metrics';
import { GroupKeys, json } from './group-keys.js';
import { assignVbuckets } from './rendezvous.js';

export const ErrGroupOptions = defineError(
  'TRIB_GROUP_OPTIONS',
  (why: string) => `invalid consumer group options: ${why}`,
);
export const ErrGroupLeaseLost = defineError(
  'TRIB_GROUP_LEASE_LOST',
  (member: string, ms: number) =>
    `member "${member}" could not renew its lease for ${ms} ms; it stopped streaming`,
  { retriable: true },
);
export const ErrGroupClosed = defineError(
  'TRIB_GROUP_CLOSED',
  (group: string) => `consumer group "${group}" is closed`,
);

/** What streams a set of vbuckets for this member: by default a bucket datasource limited to them. */
export interface GroupStreamer {
  start(): unknown | Promise<unknown>;
  close(): unknown | Promise<unknown>;
  stats?(): unknown;
}

export type StreamerFactory = (vbucketIds: number[], checkpointPrefix: string) => GroupStreamer;

export interface ConsumerGroupOptions {
  group: string;
  /** Unique per process; defaults to a random id. */
  member?: string;
  /** The shared store (Redis or PostgreSQL across machines; memory within one process). */
  store: Store;
  /** Every vbucket of the bucket: a count (0..n-1), a list, or a function resolved at start(). */
  vbuckets: number | readonly number[] | (() => Promise<number | readonly number[]>);
  /** Builds the streamer for this member's share; see createConsumerGroup in the datasource docs. */
  createStreamer: StreamerFactory;
  /** A member whose lease is older than this is gone. Must be at least 3 × heartbeatMs. */
  leaseMs?: number;
  heartbeatMs?: number;
  /** Awaited before a vbucket leaves this member, so the application can flush its own state. */
  onRevoked?: (vbuckets: number[]) => void | Promise<void>;
  onAssigned?: (vbuckets: number[]) => void | Promise<void>;
  logger?: Logger;
  metrics?: MetricsRegistry;
}

interface MemberRecord {
  member: string;
  expiresAt: number;
  startedAt: number;
}

export interface ConsumerGroupStats {
  member: string;
  owned: number;
  members: number;
  rebalances: number;
  leaseRenewals: number;
  leaseFailures: number;
  claimConflicts: number;
  streamer: unknown;
}

/**
 * Splits one bucket's vbuckets over the live members of a group. Each member renews a lease in
 * the shared store; vbuckets go to members by rendezvous hashing (few moves on join/leave); a
 * member starts a vbucket only after writing a claim and re-reading that no other live member
 * claims it (write-then-read: of two racing members at least one sees the other and backs off),
 * and it gives a vbucket up (closing its stream) before deleting its claim. A member that cannot
 * renew its lease stops streaming before the lease can expire, so it never overlaps a successor.
 */
/** This member's own count (for stats()), also added to the counter its labels share. */
class OwnCounter {
  value = 0;
  constructor(private readonly shared: Counter) {}
  inc(n = 1): void {
    this.value += n;
    this.shared.inc(n);
  }
}

export class ConsumerGroup extends EventEmitter {
  readonly member: string;
  readonly #o: Required<Pick<ConsumerGroupOptions, 'leaseMs' | 'heartbeatMs'>> & ConsumerGroupOptions;
  readonly #keys: GroupKeys;
  #all: number[] = [];
  readonly #log: Logger;
  readonly #m;
  #ownedReported = 0;
  #owned = new Set<number>();
  #members: string[] = [];
  #streamer: GroupStreamer | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #renewing: Promise<boolean> | undefined;
  #renewChain: Promise<boolean> = Promise.resolve(true);
  #lastRenewOk = 0;
  /** Set when the lease may have lapsed: nothing streams until a renew started after it succeeds. */
  #fencedAt = 0;
  #watchdog: NodeJS.Timeout | undefined;
  /** Streamer changes run one after another (ticks and the watchdog both make them). */
  #chain: Promise<void> = Promise.resolve();
  readonly #startedAt = Date.now();
  #started = false;
  #closed = false;
  #rebalances = 0;

  constructor(options: ConsumerGroupOptions) {
    super();
    const leaseMs = options.leaseMs ?? 15_000;
    const heartbeatMs = options.heartbeatMs ?? Math.floor(leaseMs / 5);
    if (!(heartbeatMs > 0) || leaseMs < 3 * heartbeatMs)
      throw ErrGroupOptions('leaseMs must be at least 3 × heartbeatMs');
    if (typeof options.createStreamer !== 'function') throw ErrGroupOptions('createStreamer is required');
    this.#o = { ...options, leaseMs, heartbeatMs };
    this.member = options.member ?? `member-${randomUUID()}`;
    if (!/^[\w.:-]{1,100}$/.test(this.member))
      throw ErrGroupOptions(`member id must match [\\w.:-]{1,100}: ${this.member}`);
    this.#keys = new GroupKeys(options.group);
    this.#log = componentLogger(options.logger, 'consumer-group', {
      group: options.group,
      member: this.member,
    });
    // Labelled by group, and by member only when the application names it: a random member id
    // would start new series at every restart. The counts stats() reports are this member's own.
    const g = (options.metrics ?? createMetrics()).group('consumer_group', {
      group: options.group,
      ...(options.member ? { member: options.member } : {}),
    });
    this.#m = {
      renewals: new OwnCounter(g.counter('lease_renewals', 'Lease renewals written')),
      failures: new OwnCounter(g.counter('lease_failures', 'Lease renewals that failed')),
      rebalances: g.counter('rebalances', 'Assignment changes applied'),
      conflicts: new OwnCounter(g.counter('claim_conflicts', 'vbucket claims another member held')),
      // Moved by differences, so members sharing the labels add up.
      owned: g.gauge('owned_vbuckets', 'vbuckets streamed by the members'),
      members: g.gauge('members', 'Members alive in the group'),
    };
  }

  /** Joins the group and keeps renewing; resolves after the first assignment round. */
  async start(): Promise<void> {
    if (this.#closed) throw ErrGroupClosed(this.#o.group);
    if (this.#started) return;
    this.#started = true;
    const v = typeof this.#o.vbuckets === 'function' ? await this.#o.vbuckets() : this.#o.vbuckets;
    this.#all = typeof v === 'number' ? Array.from({ length: v }, (_, i) => i) : [...v];
    this.#lastRenewOk = Date.now();
    await this.#renew();
    await this.#tick();
    // The lease is renewed on its own loop: a rebalance that waits on a slow streamer restart
    // (closing one datasource, starting another under load) must never delay a renewal.
    this.#scheduleHeartbeat();
    this.#schedule();
    // Independent of store I/O: a store call that hangs (a black-holed network) must not keep
    // this member streaming past its lease.
    this.#watchdog = setInterval(() => this.#checkLease(), Math.max(10, Math.floor(this.#o.heartbeatMs / 2)));
    this.#watchdog.unref?.();
  }

  /** True while the lease is surely ours: renewed recently and not fenced since. */
  #leaseFresh(): boolean {
    return this.#fencedAt === 0 && Date.now() - this.#lastRenewOk < this.#o.leaseMs - 2 * this.#o.heartbeatMs;
  }

  /** Stops streaming once the lease may be seen as expired by others (one heartbeat of margin). */
  #checkLease(): void {
    if (this.#closed || this.#owned.size === 0) return;
    const age = Date.now() - this.#lastRenewOk;
    if (age < this.#o.leaseMs - 2 * this.#o.heartbeatMs) return;
    this.#fencedAt = Date.now();
    const lost = ErrGroupLeaseLost(this.member, age);
    this.#log.warn({ err: lost }, 'lease not renewed in time; stopping streams');
    this.#revoke(this.assignment(), { releaseClaims: false })
      .then(() => this.#fail(lost))
      .catch((err) => this.#fail(err));
  }

  members(): string[] {
    return [...this.#members];
  }

  /** The vbuckets this member streams now. */
  assignment(): number[] {
    return [...this.#owned].sort((a, b) => a - b);
  }

  /** The checkpoint prefix shared by the whole group (a new owner resumes from it). */
  get checkpointPrefix(): string {
    return this.#keys.checkpoints();
  }

  stats(): Readonly<ConsumerGroupStats> {
    return Object.freeze({
      member: this.member,
      owned: this.#owned.size,
      members: this.#members.length,
      rebalances: this.#rebalances,
      leaseRenewals: this.#m.renewals.value,
      leaseFailures: this.#m.failures.value,
      claimConflicts: this.#m.conflicts.value,
      streamer: this.#streamer?.stats?.(),
    });
  }

  /** Leaves the group: stops streaming, releases claims and the lease so others take over at once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#heartbeat);
    clearInterval(this.#watchdog);
    await Promise.all([this.#ticking, this.#renewing]);
    const owned = this.assignment();
    if (owned.length) await this.#revoke(owned);
    this.#m.owned.dec(this.#ownedReported);
    this.#ownedReported = 0;
    try {
      await this.#o.store.batch([{ type: 'del', key: this.#keys.member(this.member) }]);
    } catch (err) {
      // The lease then simply expires; others take over after leaseMs.
      this.#log.warn({ err }, 'could not release lease on close');
    }
  }

  #scheduleHeartbeat(): void {
    if (this.#closed) return;
    this.#heartbeat = setTimeout(() => {
      this.#renewing = this.#renew().finally(() => {
        this.#renewing = undefined;
        this.#scheduleHeartbeat();
      });
    }, this.#o.heartbeatMs);
    this.#heartbeat.unref?.();
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#ticking = this.#tick()
        .catch((err) => this.#fail(err))
        .finally(() => {
          this.#ticking = undefined;
          this.#schedule();
        });
    }, this.#o.heartbeatMs);
    this.#timer.unref?.();
  }

  /** A store call that does not answer within half a lease counts as failed. */
  #io<T>(p: Promise<T>): Promise<T> {
    const ms = Math.max(50, Math.floor(this.#o.leaseMs / 2));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`store did not answer within ${ms} ms`)), ms);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * Writes our lease; true when the store took it. Renewals run one after another (the heartbeat
   * loop and a tick about to start streams both renew): a slow older write landing after a newer
   * one would move the stored expiry back while we trusted the newer one.
   */
  #renew(): Promise<boolean> {
    const p = this.#renewChain.then(() => this.#renewOnce());
    this.#renewChain = p;
    return p;
  }

  async #renewOnce(): Promise<boolean> {
    const now = Date.now();
    const record: MemberRecord = {
      member: this.member,
      expiresAt: now + this.#o.leaseMs,
      startedAt: this.#startedAt,
    };
    try {
      await this.#io(
        this.#o.store.batch([
          { type: 'put', key: this.#keys.member(this.member), value: json.encode(record) },
        ]),
      );
    } catch (err) {
      this.#m.failures.inc();
      this.#log.debug({ err }, 'lease renewal failed');
      return false;
    }
    this.#lastRenewOk = now;
    // A renew that started before we fenced ourselves proves nothing about the time since.
    if (this.#fencedAt && now > this.#fencedAt) this.#fencedAt = 0;
    this.#m.renewals.inc();
    return true;
  }

  async #tick(): Promise<void> {
    const { store } = this.#o;
    const now = Date.now();
    // The heartbeat loop renews; a stale or fenced lease means sit this round out.
    if (!this.#leaseFresh()) return;

    let live: Map<string, MemberRecord>;
    try {
      live = await this.#io(this.#liveMembers());
    } catch (err) {
      this.#m.failures.inc();
      this.#fail(err);
      return;
    }
    this.#members = [...live.keys()].sort();
    this.#m.members.set(this.#members.length);
    const target = new Set(assignVbuckets(this.#members, this.#all).get(this.member) ?? []);

    const revoked = this.assignment().filter((vb) => !target.has(vb));
    if (revoked.length) await this.#revoke(revoked);

    // In the steady state every target vbucket is ours already: no claim scan needed.
    const wanted = [...target].filter((vb) => !this.#owned.has(vb));
    if (wanted.length === 0) return;
    let claims: Map<number, Set<string>>;
    try {
      claims = await this.#io(this.#liveClaims(live));
    } catch (err) {
      this.#m.failures.inc();
      this.#fail(err);
      return;
    }
    // Candidates: ours by the hash, not yet streamed, and claimed by no other live member.
    const candidates = [...target].filter(
      (vb) => !this.#owned.has(vb) && !hasOther(claims.get(vb), this.member),
    );
    if (candidates.length === 0) return;
    await this.#io(
      store.batch(
        candidates.map((vb) => ({
          type: 'put' as const,
          key: this.#keys.claim(vb, this.member),
          value: json.encode({ since: now }),
        })),
      ),
    );
    const after = await this.#io(this.#liveClaims(await this.#io(this.#liveMembers())));
    const won: number[] = [];
    const lostRace: number[] = [];
    for (const vb of candidates) (hasOther(after.get(vb), this.member) ? lostRace : won).push(vb);
    if (lostRace.length) {
      this.#m.conflicts.inc(lostRace.length);
      await this.#io(
        store.batch(lostRace.map((vb) => ({ type: 'del' as const, key: this.#keys.claim(vb, this.member) }))),
      );
    }
    // Start only while the lease is surely ours: the reads above may have been slow, so renew again.
    if (won.length && this.#fencedAt === 0) await this.#renew();
    if (won.length === 0 || !this.#leaseFresh()) return;
    await this.#o.onAssigned?.(won);
    for (const vb of won) this.#owned.add(vb);
    await this.#restartStreamer();
    this.#rebalance();
    this.emit('assigned', won);
  }

  async #revoke(vbuckets: number[], { releaseClaims = true } = {}): Promise<void> {
    // The watchdog and a tick may both revoke: each vbucket leaves once.
    vbuckets = vbuckets.filter((vb) => this.#owned.has(vb));
    if (vbuckets.length === 0) return;
    await this.#o.onRevoked?.(vbuckets);
    for (const vb of vbuckets) this.#owned.delete(vb);
    // The streams end before the claims go, so a successor never overlaps us.
    await this.#restartStreamer();
    this.emit('revoked', vbuckets);
    this.#rebalance();
    if (releaseClaims) {
      await this.#o.store.batch(
        vbuckets.map((vb) => ({ type: 'del' as const, key: this.#keys.claim(vb, this.member) })),
      );
    }
  }

  /** Errors go to 'error' listeners; with none, to the log (an emitter would throw and crash). */
  #fail(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.#log.error({ err }, 'consumer group error');
  }

  #rebalance(): void {
    this.#rebalances++;
    this.#m.rebalances.inc();
    this.#m.owned.inc(this.#owned.size - this.#ownedReported);
    this.#ownedReported = this.#owned.size;
  }

  #restartStreamer(): Promise<void> {
    const run = this.#chain.then(() => this.#swapStreamer());
    this.#chain = run.catch(() => {});
    return run;
  }

  async #swapStreamer(): Promise<void> {
    const old = this.#streamer;
    this.#streamer = undefined;
    if (old) await old.close();
    if (this.#owned.size === 0 || this.#closed) return;
    const s = this.#o.createStreamer(this.assignment(), this.#keys.checkpoints());
    this.#streamer = s;
    await s.start();
  }

  async #liveMembers(): Promise<Map<string, MemberRecord>> {
    const now = Date.now();
    const out = new Map<string, MemberRecord>();
    for await (const { key, value } of this.#o.store.scan({ prefix: this.#keys.members() })) {
      const rec = json.decode<MemberRecord>(value);
      if (rec.expiresAt > now) out.set(this.#keys.parseMember(key), rec);
    }
    return out;
  }

  async #liveClaims(live: Map<string, MemberRecord>): Promise<Map<number, Set<string>>> {
    const out = new Map<number, Set<string>>();
    for await (const { key } of this.#o.store.scan({ prefix: this.#keys.claims() })) {
      const { vb, member } = this.#keys.parseClaim(key);
      if (!live.has(member)) continue; // a dead member's claim lapses with its lease
      let s = out.get(vb);
      if (!s) out.set(vb, (s = new Set()));
      s.add(member);
    }
    return out;
  }
}

function hasOther(claimants: Set<string> | undefined, self: string): boolean {
  if (!claimants) return false;
  for (const m of claimants) if (m !== self) return true;
  return false;
}
