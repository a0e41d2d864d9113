import type { DcpRequest, MetaDataResult, Receiver } from '../src/index.js';

export interface DocState {
  value: string;
  seq: number;
}

/** A receiver that mirrors the bucket in memory and checks per-vbucket order on every call. */
export class MirrorReceiver implements Receiver {
  readonly docs = new Map<string, DocState>();
  readonly meta = new Map<number, Uint8Array>();
  readonly lastSeq = new Map<number, number>();
  readonly errors: Error[] = [];
  readonly orderViolations: string[] = [];
  readonly rollbacks: { vb: number; seq: number; uuid?: bigint }[] = [];
  readonly snapshots = new Map<number, number>();
  /** Per-vbucket history (seq, key, value|null) when `history` is on, for exact rollbacks. */
  readonly log = new Map<number, { seq: number; key: string; value: string | null }[]>();
  mutations = 0;
  deletions = 0;
  expirations = 0;
  /** Optional hook: a delay (promise) per data call. */
  delay: ((vb: number) => Promise<void> | undefined) | undefined;

  constructor(readonly history = false) {}

  onError(err: Error): void {
    this.errors.push(err);
  }

  #check(vb: number, seq: number, what: string): void {
    const last = this.lastSeq.get(vb) ?? 0;
    if (seq <= last) this.orderViolations.push(`${what} vb ${vb}: seq ${seq} after ${last}`);
    this.lastSeq.set(vb, seq);
  }

  #apply(vb: number, key: Buffer, seq: number, value: string | null): void {
    const k = key.toString('utf8');
    if (value === null) this.docs.delete(k);
    else this.docs.set(k, { value, seq });
    if (this.history) {
      let l = this.log.get(vb);
      if (!l) this.log.set(vb, (l = []));
      l.push({ seq, key: k, value });
    }
  }

  dataUpdate(vb: number, key: Buffer, seq: number, req: DcpRequest): void | Promise<void> {
    const d = this.delay?.(vb);
    const run = () => {
      this.#check(vb, seq, 'update');
      this.mutations++;
      this.#apply(vb, key, seq, req.value.toString('utf8'));
    };
    if (d) {
      // copy the views: the call completes later
      const k = Buffer.from(key);
      const v = req.value.toString('utf8');
      return d.then(() => {
        this.#check(vb, seq, 'update');
        this.mutations++;
        this.#apply(vb, k, seq, v);
      });
    }
    run();
  }

  dataDelete(vb: number, key: Buffer, seq: number, req: DcpRequest): void | Promise<void> {
    const d = this.delay?.(vb);
    const kind = req.kind;
    const run = (k: Buffer) => {
      this.#check(vb, seq, 'delete');
      if (kind === 'expiration') this.expirations++;
      else this.deletions++;
      this.#apply(vb, k, seq, null);
    };
    if (d) {
      const k = Buffer.from(key);
      return d.then(() => run(k));
    }
    run(key);
  }

  /** Seqnos at which a received snapshot was complete (consistent points to roll back to). */
  readonly snapEnds = new Map<number, number[]>();
  readonly curSnapEnd = new Map<number, number>();

  snapshotStart(vb: number, _start: number, end: number): void {
    this.snapshots.set(vb, (this.snapshots.get(vb) ?? 0) + 1);
    let l = this.snapEnds.get(vb);
    if (!l) this.snapEnds.set(vb, (l = [0]));
    l.push(this.lastSeq.get(vb) ?? 0);
    this.curSnapEnd.set(vb, end);
  }

  /** The newest consistent point at or below `seq`: state there is exactly what we received up to it. */
  consistentPointAtOrBelow(vb: number, seq: number): number {
    const last = this.lastSeq.get(vb) ?? 0;
    let best = 0;
    if (last <= seq && last >= (this.curSnapEnd.get(vb) ?? 0)) best = last;
    for (const e of this.snapEnds.get(vb) ?? []) if (e <= seq && e > best) best = e;
    return best;
  }

  setMetaData(vb: number, value: Uint8Array): void {
    this.meta.set(vb, new Uint8Array(value));
  }

  getMetaData(vb: number): MetaDataResult {
    return { value: this.meta.get(vb), lastSeq: this.lastSeq.get(vb) ?? 0 };
  }

  rollback(vb: number, seq: number): void {
    this.rollbacks.push({ vb, seq });
    this.#rollbackData(vb, seq);
  }

  rollbackEx(vb: number, uuid: bigint, seq: number): void {
    this.rollbacks.push({ vb, seq, uuid });
    this.#rollbackData(vb, seq);
  }

  /** Rolls back to the newest consistent point ≤ seq (a deduplicated stream cannot rebuild others). */
  #rollbackData(vb: number, seq: number): void {
    const to = this.history ? this.consistentPointAtOrBelow(vb, seq) : seq;
    if ((this.lastSeq.get(vb) ?? 0) > to) this.lastSeq.set(vb, to);
    this.snapEnds.set(
      vb,
      (this.snapEnds.get(vb) ?? [0]).filter((e) => e <= to),
    );
    this.curSnapEnd.set(vb, to);
    if (!this.history) return;
    const l = (this.log.get(vb) ?? []).filter((e) => e.seq <= to);
    this.log.set(vb, l);
    // rebuild the keys of this vbucket from its history
    const keys = new Set<string>();
    for (const k of this.docs.keys()) if (this.vbOf && this.vbOf(k) === vb) keys.add(k);
    for (const k of keys) this.docs.delete(k);
    for (const e of l) {
      if (e.value === null) this.docs.delete(e.key);
      else this.docs.set(e.key, { value: e.value, seq: e.seq });
    }
    void keys;
  }

  vbOf: ((key: string) => number) | undefined;
}

/** Polls `cond` until true or the deadline passes (then throws with `what`). */
export async function waitFor(
  cond: () => boolean,
  what: string,
  timeoutMs = 30_000,
  stepMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
