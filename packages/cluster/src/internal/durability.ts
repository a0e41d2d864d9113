// Synchronous replication (durable writes): kv_engine docs/BinaryProtocol.md "ID:1 - Durability
// Requirement" for the frame info, docs/Durability.md for the semantics.
//
// A durable write is held as a prepare: it is not visible to readers, other writers of the key
// get SYNC_WRITE_IN_PROGRESS, and it commits (becomes the document, with a seqno, in DCP and
// to readers) once the level is met:
//   majority                   a majority of the vbucket's chain (active + configured replicas)
//                              has the prepare;
//   majorityAndPersistActive   that, and the active has written it to the store;
//   persistToMajority          a majority has it on disk. The cluster has one store, so a copy
//                              is on disk once the store holds the prepare.
// A chain with fewer defined nodes than a majority answers DURABILITY_IMPOSSIBLE before trying;
// persistence levels on an ephemeral bucket answer DURABILITY_INVALID_LEVEL; a prepare that
// does not commit within its timeout is aborted and answered SYNC_WRITE_AMBIGUOUS.
// Differences from kv_engine: the prepare takes no seqno of its own (the commit is the one
// mutation DCP shows), and a replica "has" the prepare once replication to it has run since.

import type { Bucket, KvResult } from '../bucket.js';
import type { Item } from '../vbucket.js';
import { St } from './mcbp.js';

export const DurabilityLevel = { Majority: 1, MajorityAndPersistActive: 2, PersistToMajority: 3 } as const;

export const DurabilityStatus = {
  InvalidLevel: 0xa0,
  Impossible: 0xa1,
  SyncWriteInProgress: 0xa2,
  Ambiguous: 0xa3,
} as const;

/** kv_engine's durability_timeout default when the request names none. */
export const DEFAULT_DURABILITY_TIMEOUT_MS = 30_000;

export interface DurabilityRequirement {
  level: number;
  timeoutMs: number;
}

/** Frame info 1: level u8, then an optional timeout u16 in ms (0 and 0xffff are reserved). */
export function parseDurability(data: Buffer): DurabilityRequirement | { status: number } {
  if (data.length !== 1 && data.length !== 3) return { status: St.Einval };
  const level = data[0];
  if (level < 1 || level > 3) return { status: DurabilityStatus.InvalidLevel };
  if (data.length === 1) return { level, timeoutMs: DEFAULT_DURABILITY_TIMEOUT_MS };
  const t = data.readUInt16BE(1);
  if (t === 0 || t === 0xffff) return { status: St.Einval };
  return { level, timeoutMs: t };
}

/** What sync writes need from the cluster. */
export interface DurabilityTopology {
  /** The vbucket's chain: active, then the configured replicas (-1 where none is defined). */
  chain(vb: number): readonly number[];
  /** Replication to `node` should run for `vb` soon (a prepare is waiting for it). */
  kick(bucket: Bucket, vb: number): void;
  onError(err: unknown): void;
}

interface Pending {
  bucket: Bucket;
  vb: number;
  key: string;
  level: number;
  acked: Set<number>;
  persisted: boolean;
  done: boolean;
  timer: NodeJS.Timeout;
  commit: () => Item;
  resolve: (r: KvResult) => void;
}

export class SyncWrites {
  readonly #pending = new Set<Pending>();

  constructor(readonly topology: DurabilityTopology) {}

  /** DURABILITY_INVALID_LEVEL / DURABILITY_IMPOSSIBLE before anything is tried, else 0. */
  refusal(bucket: Bucket, vb: number, level: number): number {
    if (level > DurabilityLevel.Majority && bucket.type === 'ephemeral') return DurabilityStatus.InvalidLevel;
    const chain = this.topology.chain(vb);
    const defined = chain.filter((n) => n >= 0).length;
    return defined < majority(chain.length) ? DurabilityStatus.Impossible : 0;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  /**
   * Holds a prepare for `key` until `req` is met, then runs `commit` (the write itself) and
   * resolves with its item; resolves SYNC_WRITE_AMBIGUOUS if that does not happen in time.
   */
  submit(
    bucket: Bucket,
    vb: number,
    key: string,
    req: DurabilityRequirement,
    value: Buffer,
    commit: () => Item,
  ): Promise<KvResult> {
    return new Promise((resolve) => {
      let keys = bucket.syncWrites.get(vb);
      if (!keys) bucket.syncWrites.set(vb, (keys = new Set()));
      keys.add(key);
      const p: Pending = {
        bucket,
        vb,
        key,
        level: req.level,
        acked: new Set(),
        persisted: false,
        done: false,
        commit,
        resolve,
        timer: setTimeout(() => this.#finish(p, false), req.timeoutMs),
      };
      p.timer.unref();
      this.#pending.add(p);
      if (req.level > DurabilityLevel.Majority) {
        bucket.persistPrepare(vb, key, value).then(
          () => {
            p.persisted = true;
            this.#check(p);
          },
          (err) => this.topology.onError(err),
        );
      }
      this.topology.kick(bucket, vb);
      queueMicrotask(() => this.#check(p));
    });
  }

  /** Replication to `node` has run for `vb`: it holds every prepare of the vbucket submitted before. */
  replicated(bucket: Bucket, vb: number, node: number): void {
    for (const p of this.#pending) {
      if (p.bucket !== bucket || p.vb !== vb || p.done) continue;
      p.acked.add(node);
      this.#check(p);
    }
  }

  /** The vbucket's active moved or lost its data (failover, rebalance): its prepares are ambiguous. */
  abortVbucket(vb: number): void {
    for (const p of this.#pending) if (p.vb === vb) this.#finish(p, false);
  }

  close(): void {
    for (const p of this.#pending) this.#finish(p, false);
  }

  #check(p: Pending): void {
    if (p.done) return;
    const chain = this.topology.chain(p.vb);
    let have = 1; // the active holds its own prepare
    for (let i = 1; i < chain.length; i++) if (chain[i] >= 0 && p.acked.has(chain[i])) have++;
    if (have < majority(chain.length)) return;
    if (p.level > DurabilityLevel.Majority && !p.persisted) return;
    this.#finish(p, true);
  }

  #finish(p: Pending, commit: boolean): void {
    if (p.done) return;
    p.done = true;
    clearTimeout(p.timer);
    this.#pending.delete(p);
    const keys = p.bucket.syncWrites.get(p.vb);
    keys?.delete(p.key);
    if (keys?.size === 0) p.bucket.syncWrites.delete(p.vb);
    if (p.level > DurabilityLevel.Majority) p.bucket.forgetPrepare(p.vb, p.key);
    if (!commit) {
      p.resolve({ status: DurabilityStatus.Ambiguous });
      return;
    }
    try {
      p.resolve({ status: St.Success, item: p.commit() });
    } catch (err) {
      this.topology.onError(err);
      p.resolve({ status: St.Einternal });
    }
  }
}

/** A majority of a chain of `n` nodes. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}
