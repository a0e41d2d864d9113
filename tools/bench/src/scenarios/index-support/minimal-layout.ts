// The indexing rows' `minimal-layout` peer: the least work the channel index's layout asks of a
// batch, written as plainly as possible, as a floor for what an implementation of that layout can
// reach on this machine. Per mutation: the `channels` names (found with indexOf: no JSON
// validation), the document's previous channels, one entry per channel it is in and one per
// channel it left (vbucket, seqno, state and id: no rev), its record (seqno, channels, body) and
// the channel clocks in memory. Per batch: one put per channel and block (no chunk extension), one
// per record, and nothing else (no clock records, no state record, no checkpoints), committed while
// the next batch is built.
import type { BatchOp, Store } from '@tributary/core';

export interface LayoutMutation {
  vbucket: number;
  seqno: number;
  key: Uint8Array;
  value: Uint8Array;
}

const CHANNELS_AT = '"channels":[';

export class MinimalLayout {
  readonly #docs = new Map<string, { channels: string[]; seq: number }>();
  readonly #clocks = new Map<string, Float64Array>();
  constructor(
    private readonly store: Store,
    private readonly blockSize: number,
  ) {}

  /** Writes `list` in batches of `batchSize`; returns the puts it made. */
  async write(list: readonly LayoutMutation[], batchSize: number): Promise<number> {
    let puts = 0;
    let inflight: Promise<void> = Promise.resolve();
    for (let i = 0; i < list.length; i += batchSize) {
      const ops = this.#batch(list, i, Math.min(list.length, i + batchSize));
      puts += ops.length;
      await inflight;
      inflight = this.store.batch(ops);
    }
    await inflight;
    return puts;
  }

  #batch(list: readonly LayoutMutation[], from: number, to: number): BatchOp[] {
    // per channel and block: vbucket, seqno, state and id bytes of each entry
    const runs = new Map<string, (number | Buffer)[]>();
    const records: BatchOp[] = [];
    for (let j = from; j < to; j++) {
      const m = list[j]!;
      const id = Buffer.from(m.key);
      const key = id.toString('latin1');
      const value = Buffer.from(m.value);
      const text = value.toString('latin1');
      const at = text.indexOf(CHANNELS_AT);
      const names = at < 0 ? [] : text.slice(at + CHANNELS_AT.length, text.indexOf(']', at)).split(',');
      const channels = names.map((n) => n.slice(1, -1));
      const dk = `m:d/${m.vbucket}/${key}`;
      const prev = this.#docs.get(dk);
      const add = (ch: string, state: number) => {
        const rk = `${ch}\u0000${Math.floor(m.seqno / this.blockSize)}`;
        let run = runs.get(rk);
        if (!run) runs.set(rk, (run = []));
        run.push(m.vbucket, m.seqno, state, id);
        let clock = this.#clocks.get(ch);
        if (!clock) this.#clocks.set(ch, (clock = new Float64Array(1024)));
        clock[m.vbucket] = m.seqno;
      };
      if (prev) for (const ch of prev.channels) if (!channels.includes(ch)) add(ch, 1);
      for (const ch of channels) add(ch, 0);
      this.#docs.set(dk, { channels, seq: m.seqno });
      const joined = channels.join(',');
      const rec = Buffer.allocUnsafe(8 + joined.length + value.length);
      rec.writeUInt32BE(Math.floor(m.seqno / 2 ** 32), 0);
      rec.writeUInt32BE(m.seqno >>> 0, 4);
      rec.write(joined, 8, 'latin1');
      value.copy(rec, 8 + joined.length);
      records.push({ type: 'put', key: Buffer.from(dk), value: rec });
    }
    const ops: BatchOp[] = [];
    for (const [rk, run] of runs) {
      let size = 0;
      for (let i = 3; i < run.length; i += 4) size += 13 + (run[i] as Buffer).length;
      const out = Buffer.allocUnsafe(size);
      let o = 0;
      for (let i = 0; i < run.length; i += 4) {
        const seq = run[i + 1] as number;
        out.writeUInt32BE(Math.floor(seq / 2 ** 32), o);
        out.writeUInt32BE(seq >>> 0, o + 4);
        out.writeUInt16BE(run[i] as number, o + 8);
        out[o + 10] = run[i + 2] as number;
        const id = run[i + 3] as Buffer;
        out.writeUInt16BE(id.length, o + 11);
        id.copy(out, o + 13);
        o += 13 + id.length;
      }
      ops.push({ type: 'put', key: Buffer.from(`m:b/${rk}`), value: out });
    }
    for (const r of records) ops.push(r);
    return ops;
  }
}
