import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeMetaData,
  emptyMetaData,
  encodeMetaData,
  rolledBackMetaData,
  streamStartFor,
  uuidForRollback,
  type VBucketMetaData,
} from '../src/index.js';

const seq = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const meta = fc.record({
  seqStart: seq,
  seqEnd: seq,
  snapStart: seq,
  snapEnd: seq,
  failOverLog: fc.array(
    fc.record({ vbucketUuid: fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }), seqno: seq }),
    { maxLength: 25 },
  ),
}) as fc.Arbitrary<VBucketMetaData>;

describe('metadata', () => {
  it('round-trips exactly, u64 vbucket UUIDs included (property)', () => {
    fc.assert(
      fc.property(meta, (m) => {
        expect(decodeMetaData(0, encodeMetaData(m))).toEqual(m);
      }),
    );
  });

  it("reads cbdatasource's JSON (Go VBucketMetaData) byte for byte", () => {
    const go =
      '{"seqStart":12,"seqEnd":18446744073709551615,"snapStart":10,"snapEnd":20,"failOverLog":[[18446744073709551615,12],[1234,0]]}';
    const m = decodeMetaData(3, Buffer.from(go));
    expect(m.failOverLog).toEqual([
      { vbucketUuid: 0xffffffffffffffffn, seqno: 12 },
      { vbucketUuid: 1234n, seqno: 0 },
    ]);
    expect(m.seqEnd).toBe(Number.MAX_SAFE_INTEGER);
    expect(m.snapStart).toBe(10);
    expect(Buffer.from(encodeMetaData({ ...m, seqEnd: 0 })).toString()).toBe(
      '{"seqStart":12,"seqEnd":0,"snapStart":10,"snapEnd":20,"failOverLog":[[18446744073709551615,12],[1234,0]]}',
    );
  });

  it('empty or missing bytes are a brand-new vbucket; garbage is TRIB_DATASOURCE_METADATA', () => {
    expect(decodeMetaData(0, undefined)).toEqual(emptyMetaData());
    expect(decodeMetaData(0, new Uint8Array())).toEqual(emptyMetaData());
    expect(() => decodeMetaData(7, Buffer.from('nope'))).toThrow(/vbucket 7/);
    expect(() => decodeMetaData(7, Buffer.from('{"failOverLog":[1]}'))).toThrow(/TRIB|uuid/);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        try {
          decodeMetaData(1, b);
        } catch (err) {
          expect((err as { code?: string }).code).toBe('TRIB_DATASOURCE_METADATA');
        }
      }),
    );
  });

  it('stream start: fresh, resume inside the saved snapshot, resume outside it (cbdatasource rules)', () => {
    expect(streamStartFor(emptyMetaData(), 0)).toEqual({
      startSeqno: 0,
      vbucketUuid: 0n,
      snapStart: 0,
      snapEnd: 0,
    });
    const m: VBucketMetaData = {
      seqStart: 0,
      seqEnd: 0,
      snapStart: 10,
      snapEnd: 20,
      failOverLog: [
        { vbucketUuid: 9n, seqno: 15 },
        { vbucketUuid: 5n, seqno: 0 },
      ],
    };
    // inside the persisted snapshot: that range; uuid = newest entry at or below the start
    expect(streamStartFor(m, 12)).toEqual({ startSeqno: 12, vbucketUuid: 5n, snapStart: 10, snapEnd: 20 });
    expect(streamStartFor(m, 17)).toEqual({ startSeqno: 17, vbucketUuid: 9n, snapStart: 10, snapEnd: 20 });
    // outside: start/start (never ERANGE: snapStart ≤ start ≤ snapEnd always holds)
    expect(streamStartFor(m, 25)).toEqual({ startSeqno: 25, vbucketUuid: 9n, snapStart: 25, snapEnd: 25 });
    fc.assert(
      fc.property(meta, seq, (mm, last) => {
        const s = streamStartFor(mm, last);
        expect(s.snapStart <= s.startSeqno && s.startSeqno <= s.snapEnd).toBe(true);
      }),
    );
  });

  it('rollback: entries above the point dropped, snapshot reset there, uuid from the newest remaining', () => {
    const m: VBucketMetaData = {
      seqStart: 30,
      seqEnd: 0,
      snapStart: 25,
      snapEnd: 40,
      failOverLog: [
        { vbucketUuid: 3n, seqno: 35 },
        { vbucketUuid: 2n, seqno: 20 },
        { vbucketUuid: 1n, seqno: 0 },
      ],
    };
    expect(rolledBackMetaData(m, 22)).toEqual({
      seqStart: 22,
      seqEnd: 0,
      snapStart: 22,
      snapEnd: 22,
      failOverLog: [
        { vbucketUuid: 2n, seqno: 20 },
        { vbucketUuid: 1n, seqno: 0 },
      ],
    });
    expect(uuidForRollback(m.failOverLog, 22)).toBe(2n);
    expect(uuidForRollback(m.failOverLog, 0)).toBe(1n);
    expect(uuidForRollback([], 5)).toBe(0n);
  });
});
