// A receiver that mirrors a bucket (key → cas) and can roll back exactly: it keeps every vbucket's
// history and the seqnos at which a snapshot was complete, the only points a deduplicated stream
// can be rebuilt to. It records order violations instead of throwing, so a test can assert on them.
import type { DcpRequest, MetaDataResult, Receiver } from '@tributary/datasource';

interface Event {
  seq: number;
  key: string;
  cas: bigint | null;
}

export class MirrorReceiver implements Receiver {
  readonly errors: Error[] = [];
  readonly orderViolations: string[] = [];
  readonly rollbacks: { vb: number; seq: number }[] = [];
  received = 0;
  readonly #log = new Map<number, Event[]>();
  readonly #last = new Map<number, number>();
  readonly #meta = new Map<number, Uint8Array>();
  /** Seqnos where a snapshot was complete, per vbucket; the current snapshot's end. */
  readonly #complete = new Map<number, number[]>();
  readonly #snapEnd = new Map<number, number>();

  onError(err: Error): void {
    this.errors.push(err);
  }

  #add(vb: number, key: Buffer, seq: number, cas: bigint | null): void {
    const last = this.#last.get(vb) ?? 0;
    if (seq <= last) this.orderViolations.push(`vb ${vb}: seq ${seq} after ${last}`);
    this.#last.set(vb, seq);
    let l = this.#log.get(vb);
    if (!l) this.#log.set(vb, (l = []));
    l.push({ seq, key: key.toString('utf8'), cas });
    this.received++;
  }

  dataUpdate(vb: number, key: Buffer, seq: number, req: DcpRequest): void {
    this.#add(vb, key, seq, req.cas);
  }

  dataDelete(vb: number, key: Buffer, seq: number): void {
    this.#add(vb, key, seq, null);
  }

  snapshotStart(vb: number, _start: number, end: number): void {
    let l = this.#complete.get(vb);
    if (!l) this.#complete.set(vb, (l = [0]));
    l.push(this.#last.get(vb) ?? 0);
    this.#snapEnd.set(vb, end);
  }

  setMetaData(vb: number, value: Uint8Array): void {
    this.#meta.set(vb, new Uint8Array(value));
  }

  getMetaData(vb: number): MetaDataResult {
    return { value: this.#meta.get(vb), lastSeq: this.#last.get(vb) ?? 0 };
  }

  rollback(vb: number, seq: number): void {
    this.rollbacks.push({ vb, seq });
    const last = this.#last.get(vb) ?? 0;
    // The newest consistent point at or below seq.
    let to = 0;
    if (last <= seq && last >= (this.#snapEnd.get(vb) ?? 0)) to = last;
    for (const e of this.#complete.get(vb) ?? []) if (e <= seq && e > to) to = e;
    this.#last.set(vb, Math.min(last, to));
    this.#complete.set(
      vb,
      (this.#complete.get(vb) ?? [0]).filter((e) => e <= to),
    );
    this.#snapEnd.set(vb, to);
    this.#log.set(
      vb,
      (this.#log.get(vb) ?? []).filter((e) => e.seq <= to),
    );
  }

  lastSeq(vb: number): number {
    return this.#last.get(vb) ?? 0;
  }

  /** The mirrored bucket: key → cas of every live document. */
  state(): Map<string, bigint> {
    const out = new Map<string, bigint>();
    for (const log of this.#log.values())
      for (const e of log) {
        if (e.cas === null) out.delete(e.key);
        else out.set(e.key, e.cas);
      }
    return out;
  }
}
