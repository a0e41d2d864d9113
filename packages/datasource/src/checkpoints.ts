import type { BatchOp, Store } from '@tributary/core';
import { ErrMetadata } from './errors.js';
import type { CollectionEvent, DcpRequest, MaybePromise, MetaDataResult, Receiver } from './receiver.js';

/** The part of a receiver an application writes when a StoreCheckpoints keeps the metadata. */
export interface DataReceiver {
  onError?(err: Error): void;
  dataUpdate(vbucketId: number, key: Buffer, seq: number, req: DcpRequest): MaybePromise;
  dataDelete(vbucketId: number, key: Buffer, seq: number, req: DcpRequest): MaybePromise;
  snapshotStart?(vbucketId: number, snapStart: number, snapEnd: number, snapType: number): MaybePromise;
  /** Collections streams: a collection or scope was created, flushed or dropped (see Receiver). */
  collectionEvent?(vbucketId: number, seq: number, event: CollectionEvent): MaybePromise;
  /** Collections streams: the vbucket reached `seq` with nothing for this stream in between. */
  seqnoAdvanced?(vbucketId: number, seq: number): MaybePromise;
  /**
   * Roll the application's data of this vbucket back to `rollbackSeq` or below. Return the seqno
   * the data now reflects (≤ rollbackSeq) when it is not exactly `rollbackSeq`; streaming resumes
   * from there. Without it, the checkpoint goes back to the newest snapshot end ≤ rollbackSeq the
   * helper saw complete (0 when none), and the replay overwrites the data from there.
   */
  rollback?(vbucketId: number, rollbackSeq: number): MaybePromise<number | undefined | void>;
  rollbackEx?(
    vbucketId: number,
    vbucketUuid: bigint,
    rollbackSeq: number,
  ): MaybePromise<number | undefined | void>;
}

export interface StoreCheckpointsOptions {
  /** Key prefix under which checkpoints live (default "tributary/checkpoint/"). Keys are prefix + u16 vbucket. */
  prefix?: string | Uint8Array;
}

/** The metadata side of a receiver, kept in a store: one record per vbucket, `{ lastSeq, value }`. */
export interface StoreCheckpoints {
  readonly prefix: Uint8Array;
  getMetaData(vbucketId: number): Promise<MetaDataResult>;
  setMetaData(vbucketId: number, value: Uint8Array): Promise<void>;
  /** Records that the receiver finished `seq` of this vbucket (memory only; persisted at the next checkpoint). */
  noteSeq(vbucketId: number, seq: number): void;
  /** Persists the noted seqno of every vbucket whose seqno changed since its last write. */
  flush(): Promise<void>;
  /** Persists this vbucket's noted seqno if it changed (called at each snapshot boundary). */
  checkpoint(vbucketId: number): Promise<void> | undefined;
  /**
   * Rolls the checkpoint back (never forward) and persists it: to `dataSeq` when the application
   * says where its data is, else to the newest complete snapshot end ≤ `seq` seen (0 when none).
   * Resolves with the seqno streaming resumes from.
   */
  rollback(vbucketId: number, seq: number, dataSeq?: number): Promise<number>;
  /** Records a snapshot marker: the previous snapshot of this vbucket is complete at the noted seqno. */
  noteSnapshot(vbucketId: number, snapEnd: number): void;
  /**
   * The batch ops that write this vbucket's checkpoint, for callers (the channel index) that write
   * checkpoints in the same atomic batch as their data. `value` defaults to the last metadata,
   * `lastSeq` to the last noted seqno. The checkpoint counts as persisted once you commit the ops.
   */
  checkpointOps(vbucketId: number, value?: Uint8Array, lastSeq?: number): BatchOp[];
  /** The whole receiver: the application's data methods plus these metadata methods. */
  receiver(app: DataReceiver): Receiver;
  /** The record key of a vbucket. */
  keyFor(vbucketId: number): Uint8Array;
}

const VERSION = 1;

/** Record: u8 version (1), u64 lastSeq, then the metadata bytes. */
export function encodeCheckpoint(lastSeq: number, value: Uint8Array | undefined): Uint8Array {
  const v = value ?? new Uint8Array(0);
  const out = Buffer.allocUnsafe(9 + v.length);
  out[0] = VERSION;
  out.writeBigUInt64BE(BigInt(lastSeq), 1);
  out.set(v, 9);
  return out;
}

export function decodeCheckpoint(vbucketId: number, bytes: Uint8Array): MetaDataResult {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 9 || b[0] !== VERSION) throw ErrMetadata(vbucketId, 'not a tributary checkpoint record');
  const lastSeq = Number(b.readBigUInt64BE(1));
  const value = b.length > 9 ? new Uint8Array(b.subarray(9)) : undefined;
  return { value, lastSeq };
}

interface Entry {
  value: Uint8Array | undefined;
  lastSeq: number;
  persistedSeq: number;
  loaded: boolean;
  /** Recent seqnos at which a snapshot was complete (consistent rollback points), ascending. */
  ends: number[];
  curEnd: number;
}

const MAX_ENDS = 32;

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Turns any store into the metadata side of a datasource receiver (getMetaData/setMetaData/
 * rollback per vbucket), so an application writes only dataUpdate/dataDelete. The last finished
 * seqno is persisted at every snapshot boundary, so a restart replays at most one snapshot per
 * vbucket; `flush()` (or close of the datasource followed by flush) persists everything.
 */
export function createStoreCheckpoints(
  store: Pick<Store, 'get' | 'batch'>,
  options: StoreCheckpointsOptions = {},
): StoreCheckpoints {
  const prefix =
    options.prefix === undefined
      ? Buffer.from('tributary/checkpoint/')
      : typeof options.prefix === 'string'
        ? Buffer.from(options.prefix)
        : Buffer.from(options.prefix);
  const entries = new Map<number, Entry>();

  const keyFor = (vb: number): Uint8Array => {
    const k = Buffer.allocUnsafe(prefix.length + 2);
    prefix.copy(k, 0);
    k.writeUInt16BE(vb, prefix.length);
    return k;
  };
  const entry = (vb: number): Entry => {
    let e = entries.get(vb);
    if (!e)
      entries.set(
        vb,
        (e = { value: undefined, lastSeq: 0, persistedSeq: 0, loaded: false, ends: [], curEnd: 0 }),
      );
    return e;
  };
  const write = async (vb: number, e: Entry): Promise<void> => {
    const seq = e.lastSeq;
    await store.batch([{ type: 'put', key: keyFor(vb), value: encodeCheckpoint(seq, e.value) }]);
    e.persistedSeq = seq;
  };

  const self: StoreCheckpoints = {
    prefix,
    keyFor,
    async getMetaData(vb) {
      const e = entry(vb);
      if (!e.loaded) {
        const raw = await store.get(keyFor(vb));
        e.loaded = true;
        if (raw) {
          const r = decodeCheckpoint(vb, raw);
          e.value = r.value;
          e.lastSeq = r.lastSeq;
          e.persistedSeq = r.lastSeq;
        }
      }
      return { value: e.value, lastSeq: e.lastSeq };
    },
    async setMetaData(vb, value) {
      const e = entry(vb);
      e.loaded = true;
      e.value = new Uint8Array(value);
      await write(vb, e);
    },
    noteSeq(vb, seq) {
      const e = entry(vb);
      e.loaded = true;
      e.lastSeq = seq;
    },
    checkpoint(vb) {
      const e = entries.get(vb);
      if (!e || e.lastSeq === e.persistedSeq) return undefined;
      return write(vb, e);
    },
    async flush() {
      const ops: BatchOp[] = [];
      const done: [Entry, number][] = [];
      for (const [vb, e] of entries) {
        if (e.lastSeq === e.persistedSeq) continue;
        ops.push({ type: 'put', key: keyFor(vb), value: encodeCheckpoint(e.lastSeq, e.value) });
        done.push([e, e.lastSeq]);
      }
      if (ops.length === 0) return;
      await store.batch(ops);
      for (const [e, seq] of done) e.persistedSeq = seq;
    },
    noteSnapshot(vb, snapEnd) {
      const e = entry(vb);
      if (e.ends.length === 0 || e.ends[e.ends.length - 1] !== e.lastSeq) e.ends.push(e.lastSeq);
      if (e.ends.length > MAX_ENDS) e.ends.shift();
      e.curEnd = snapEnd;
    },
    async rollback(vb, seq, dataSeq) {
      const e = entry(vb);
      e.loaded = true;
      let to = 0;
      if (dataSeq !== undefined && Number.isSafeInteger(dataSeq) && dataSeq >= 0) to = Math.min(dataSeq, seq);
      else {
        if (e.lastSeq <= seq && e.lastSeq >= e.curEnd) to = e.lastSeq;
        for (const x of e.ends) if (x <= seq && x > to) to = x;
      }
      if (e.lastSeq > to) e.lastSeq = to;
      e.ends = e.ends.filter((x) => x <= to);
      e.curEnd = to;
      await write(vb, e);
      return e.lastSeq;
    },
    checkpointOps(vb, value, lastSeq) {
      const e = entry(vb);
      e.loaded = true;
      if (value !== undefined) e.value = new Uint8Array(value);
      if (lastSeq !== undefined) e.lastSeq = lastSeq;
      e.persistedSeq = e.lastSeq;
      return [{ type: 'put', key: keyFor(vb), value: encodeCheckpoint(e.lastSeq, e.value) }];
    },
    receiver(app) {
      const note = (vb: number, seq: number, r: unknown): MaybePromise => {
        if (isThenable(r)) return Promise.resolve(r).then(() => self.noteSeq(vb, seq));
        self.noteSeq(vb, seq);
        return undefined;
      };
      return {
        onError: (err) => app.onError?.(err),
        dataUpdate: (vb, key, seq, req) => note(vb, seq, app.dataUpdate(vb, key, seq, req)),
        dataDelete: (vb, key, seq, req) => note(vb, seq, app.dataDelete(vb, key, seq, req)),
        // System events and SEQNO_ADVANCED move the checkpoint like data does.
        collectionEvent: (vb, seq, ev) => note(vb, seq, app.collectionEvent?.(vb, seq, ev)),
        seqnoAdvanced: (vb, seq) => note(vb, seq, app.seqnoAdvanced?.(vb, seq)),
        snapshotStart: (vb, start, end, type) => {
          self.noteSnapshot(vb, end);
          const c = self.checkpoint(vb);
          const r = app.snapshotStart?.(vb, start, end, type);
          if (c && isThenable(r)) return Promise.all([c, r]).then(() => undefined);
          if (c) return c;
          return r;
        },
        setMetaData: (vb, value) => self.setMetaData(vb, value),
        getMetaData: (vb) => self.getMetaData(vb),
        rollback: async (vb, seq) => {
          const at = await app.rollback?.(vb, seq);
          await self.rollback(vb, seq, typeof at === 'number' ? at : undefined);
        },
        ...(app.rollbackEx
          ? {
              rollbackEx: async (vb: number, uuid: bigint, seq: number) => {
                const at = await app.rollbackEx?.(vb, uuid, seq);
                await self.rollback(vb, seq, typeof at === 'number' ? at : undefined);
              },
            }
          : {}),
      };
    },
  };
  return self;
}

/** A store-shaped map for checkpoints that need not survive the process (streamBucket's default). */
export function memoryCheckpointStore(): Pick<Store, 'get' | 'batch'> {
  const m = new Map<string, Uint8Array>();
  return {
    async get(key) {
      return m.get(Buffer.from(key).toString('hex'));
    },
    async batch(ops) {
      for (const op of ops) {
        const k = Buffer.from(op.key).toString('hex');
        if (op.type === 'put') m.set(k, op.value);
        else m.delete(k);
      }
    },
  };
}
