// Replica vbuckets. Each vbucket's chain (the vbucket map row: active, then replicas) names the
// nodes that keep a copy; replication copies the active's newest versions to every replica
// that runs, in the background (on the next turn of the event loop after a write), so a
// replica can lag: GET_REPLICA reads the copy as it is, a DCP stream from a replica node sees
// only what the replica has, and a failover promotes a replica with what it has received
// (mutations not yet replicated are lost, as on Couchbase Server). `pause(node)` holds
// replication to a node back (to make lag happen on purpose).
//
// A copy is the map of the items it received (items are immutable and shared with the active's
// history, so a copy costs a map entry per document) and the seqno up to which it is current.
// Copies live in the memory of their node: a node that stops or leaves the chain loses them
// and a new copy is rebuilt from the active's current items.

import type { Bucket } from '../bucket.js';
import type { Item, VBucket } from '../vbucket.js';

export interface ReplicationTopology {
  /** [active, replica...] for a vbucket (-1 where none). */
  chain(vb: number): readonly number[];
  nodeRunning(node: number): boolean;
  /** Replication to `node` ran for `vb` (sync writes count the acknowledgement). */
  replicated(bucket: Bucket, vb: number, node: number): void;
}

class Copy {
  seqno = 0;
  readonly items = new Map<string, Item>();
}

interface BucketState {
  readonly bucket: Bucket;
  /** vb → node → copy */
  readonly copies: Map<number, Map<number, Copy>>;
  readonly listeners: (() => void)[];
  readonly dirty: Set<number>;
  /** Whether the listeners are on the vbuckets (only while some vbucket has a replica). */
  listening: boolean;
}

export class Replication {
  readonly #buckets = new Map<Bucket, BucketState>();
  readonly #paused = new Set<number>();
  #scheduled = false;
  #closed = false;

  constructor(readonly topology: ReplicationTopology) {}

  /** Starts replicating a bucket's vbuckets. */
  attach(bucket: Bucket): void {
    const state: BucketState = {
      bucket,
      copies: new Map(),
      listeners: [],
      dirty: new Set(),
      listening: false,
    };
    this.#buckets.set(bucket, state);
    for (const vb of bucket.vbuckets) {
      state.listeners[vb.id] = () => this.schedule(bucket, vb.id);
      state.dirty.add(vb.id);
    }
    this.refresh();
  }

  /**
   * Writes wake replication only while some vbucket has a replica (a cluster without replicas
   * pays nothing per write); call after every change of the vbucket map.
   */
  refresh(): void {
    let any = false;
    for (let vb = 0; !any; vb++) {
      const chain = this.topology.chain(vb);
      if (chain.length === 0) break;
      for (let i = 1; i < chain.length; i++) if (chain[i] >= 0) any = true;
    }
    for (const [, state] of this.#buckets) {
      if (state.listening === any) continue;
      state.listening = any;
      for (const vb of state.bucket.vbuckets) {
        if (any) vb.listeners.add(state.listeners[vb.id]);
        else vb.listeners.delete(state.listeners[vb.id]);
      }
    }
    this.scheduleAll();
  }

  close(): void {
    this.#closed = true;
    for (const [bucket, state] of this.#buckets)
      for (const vb of bucket.vbuckets) vb.listeners.delete(state.listeners[vb.id]);
    this.#buckets.clear();
  }

  /** Replication of `vb` should run (a write happened, a replica came up, a prepare waits). */
  schedule(bucket: Bucket, vb: number): void {
    const state = this.#buckets.get(bucket);
    if (!state) return;
    state.dirty.add(vb);
    this.#arm();
  }

  /** Every vbucket of every bucket (topology changed, a node came back). */
  scheduleAll(): void {
    for (const [, state] of this.#buckets)
      for (let vb = 0; vb < state.listeners.length; vb++) state.dirty.add(vb);
    this.#arm();
  }

  /** Holds replication to these nodes back until resume(). */
  pause(nodes: Iterable<number>): void {
    for (const n of nodes) this.#paused.add(n);
  }

  /** Lets replication to these nodes (default: all) catch up. */
  resume(nodes?: Iterable<number>): void {
    if (nodes === undefined) this.#paused.clear();
    else for (const n of nodes) this.#paused.delete(n);
    this.scheduleAll();
  }

  isPaused(node: number): boolean {
    return this.#paused.has(node);
  }

  /** Runs replication now for everything pending (a failover first lets in-flight copies land). */
  drain(): void {
    this.#tick();
  }

  /** The seqno up to which `node`'s copy of `vb` is current (undefined: it holds none). */
  received(bucket: Bucket, vb: number, node: number): number | undefined {
    return this.#buckets.get(bucket)?.copies.get(vb)?.get(node)?.seqno;
  }

  /** `node`'s copy of a document (tombstones included), or undefined. */
  item(bucket: Bucket, vb: number, node: number, keyStr: string): Item | undefined {
    return this.#buckets.get(bucket)?.copies.get(vb)?.get(node)?.items.get(keyStr);
  }

  /**
   * The items of `node`'s copy with after < seqno ≤ upTo, in seqno order (a replica vbucket's
   * DCP snapshot: the versions the replica holds, which the active may since have superseded).
   */
  collect(bucket: Bucket, vb: number, node: number, after: number, upTo: number): Item[] {
    const copy = this.#buckets.get(bucket)?.copies.get(vb)?.get(node);
    if (!copy) return [];
    const out: Item[] = [];
    for (const it of copy.items.values()) if (it.seqno > after && it.seqno <= upTo) out.push(it);
    return out.sort((x, y) => x.seqno - y.seqno);
  }

  /** Drops the items `gone` names from every copy of `vb` (a dropped collection's documents). */
  forget(bucket: Bucket, vb: number, gone: (it: Item) => boolean): void {
    const byNode = this.#buckets.get(bucket)?.copies.get(vb);
    if (!byNode) return;
    for (const copy of byNode.values()) for (const [k, it] of copy.items) if (gone(it)) copy.items.delete(k);
  }

  /** Every copy of `vb` is dropped and rebuilt (the active rolled back). */
  reset(bucket: Bucket, vb: number): void {
    this.#buckets.get(bucket)?.copies.delete(vb);
    this.schedule(bucket, vb);
  }

  /** A node stopped or left the cluster: its copies are gone. */
  dropNode(node: number): void {
    for (const [, state] of this.#buckets) for (const [, byNode] of state.copies) byNode.delete(node);
  }

  /** Drops copies on nodes that are no longer replicas of their vbucket. */
  prune(): void {
    for (const [, state] of this.#buckets) {
      for (const [vb, byNode] of state.copies) {
        const chain = this.topology.chain(vb);
        for (const n of byNode.keys()) if (!chain.slice(1).includes(n)) byNode.delete(n);
      }
    }
    this.refresh();
  }

  #arm(): void {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#tick();
    });
  }

  #tick(): void {
    if (this.#closed) return;
    for (const [bucket, state] of this.#buckets) {
      if (!state.dirty.size) continue;
      const vbs = [...state.dirty];
      state.dirty.clear();
      for (const id of vbs) this.#replicate(bucket, state, bucket.vbuckets[id]);
    }
  }

  #replicate(bucket: Bucket, state: BucketState, vb: VBucket): void {
    const chain = this.topology.chain(vb.id);
    let advanced = false;
    for (let i = 1; i < chain.length; i++) {
      const node = chain[i];
      if (node < 0 || !this.topology.nodeRunning(node)) continue;
      if (this.#paused.has(node)) continue;
      let byNode = state.copies.get(vb.id);
      if (!byNode) state.copies.set(vb.id, (byNode = new Map()));
      let copy = byNode.get(node);
      if (!copy) byNode.set(node, (copy = new Copy()));
      if (copy.seqno < vb.highSeqno) {
        for (const it of vb.collect(copy.seqno, vb.highSeqno)) copy.items.set(it.keyStr, it);
        copy.seqno = vb.highSeqno;
        advanced = true;
      } else if (copy.seqno > vb.highSeqno) {
        // The active went back (a rollback we were not told of): start over.
        byNode.delete(node);
        state.dirty.add(vb.id);
        this.#arm();
        continue;
      }
      this.topology.replicated(bucket, vb.id, node);
    }
    // Streams from replica nodes serve up to what the copy holds: wake them.
    if (advanced) {
      const own = state.listeners[vb.id];
      for (const l of vb.listeners) if (l !== own) l();
    }
  }
}
