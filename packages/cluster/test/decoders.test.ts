// Property tests for the server's own decoders: the frame reader, frame infos, LEB128, the
// persisted item/meta records, and needsRollback against a straight transcription of kv_engine.
import { encodeLeb128, encodePacket, Magic } from '@tributary/codec';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameReader, MalformedFrameError, parseFrameInfos, readLeb128 } from '../src/internal/mcbp.js';
import { decodeItem, decodeMeta, encodeItem, encodeMeta } from '../src/internal/persistence.js';
import { Item, ItemKind, needsRollback, VBucket } from '../src/vbucket.js';

const packetArb = fc.record({
  magic: fc.constantFrom(Magic.Request, Magic.Response),
  opcode: fc.integer({ min: 0, max: 255 }),
  datatype: fc.integer({ min: 0, max: 7 }),
  vbucket: fc.integer({ min: 0, max: 1023 }),
  opaque: fc.integer({ min: 0, max: 0xffffffff }),
  cas: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  key: fc.uint8Array({ maxLength: 40 }),
  extras: fc.uint8Array({ maxLength: 48 }),
  value: fc.uint8Array({ maxLength: 300 }),
});

describe('FrameReader', () => {
  it('reassembles any sequence of packets split at any boundaries', () => {
    fc.assert(
      fc.property(
        fc.array(packetArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1 }),
        (pkts, cuts) => {
          const bytes = Buffer.concat(
            pkts.map((p) =>
              encodePacket({
                ...p,
                status: p.magic === Magic.Response ? p.vbucket : undefined,
                vbucket: p.magic === Magic.Request ? p.vbucket : undefined,
              }),
            ),
          );
          const r = new FrameReader();
          const got: {
            opcode: number;
            opaque: number;
            cas: bigint;
            key: string;
            extras: string;
            value: string;
            vb: number;
          }[] = [];
          let off = 0;
          let i = 0;
          while (off < bytes.length) {
            const n = cuts[i++ % cuts.length];
            r.push(bytes.subarray(off, off + n), (f) =>
              got.push({
                opcode: f.opcode,
                opaque: f.opaque,
                cas: f.cas,
                key: f.key.toString('hex'),
                extras: f.extras.toString('hex'),
                value: f.value.toString('hex'),
                vb: f.vbOrStatus,
              }),
            );
            off += n;
          }
          expect(got).toEqual(
            pkts.map((p) => ({
              opcode: p.opcode,
              opaque: p.opaque,
              cas: p.cas,
              key: Buffer.from(p.key).toString('hex'),
              extras: Buffer.from(p.extras).toString('hex'),
              value: Buffer.from(p.value).toString('hex'),
              vb: p.vbucket,
            })),
          );
          expect(r.buffered).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('throws only MalformedFrameError on garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 24, maxLength: 200 }), (junk) => {
        const r = new FrameReader(1024);
        try {
          r.push(Buffer.from(junk), () => {});
        } catch (err) {
          expect(err).toBeInstanceOf(MalformedFrameError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('small decoders', () => {
  it('LEB128 round-trips with the codec encoder', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 8 }), (n, rest) => {
        const enc = Buffer.from(encodeLeb128(n));
        const d = readLeb128(Buffer.concat([enc, Buffer.from(rest)]));
        expect(d).toEqual({ value: n, length: enc.length });
      }),
    );
  });

  it('frame infos: parse what is well formed, reject overruns', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: fc.integer({ min: 0, max: 14 }), data: fc.uint8Array({ maxLength: 14 }) }), {
          maxLength: 5,
        }),
        (infos) => {
          const bytes = Buffer.concat(
            infos.map((i) =>
              Buffer.concat([Buffer.from([(i.id << 4) | i.data.length]), Buffer.from(i.data)]),
            ),
          );
          expect(parseFrameInfos(bytes).map((x) => ({ id: x.id, data: new Uint8Array(x.data) }))).toEqual(
            infos.map((i) => ({ id: i.id, data: new Uint8Array(i.data) })),
          );
          if (bytes.length > 0 && infos.at(-1)!.data.length > 0)
            expect(() => parseFrameInfos(bytes.subarray(0, bytes.length - 1))).toThrow(MalformedFrameError);
        },
      ),
    );
  });

  it('persisted items and vbucket meta round-trip', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 30 }),
        fc.uint8Array({ maxLength: 100 }),
        fc.record({
          dt: fc.integer({ min: 0, max: 7 }),
          flags: fc.integer({ min: 0, max: 0xffffffff }),
          expiry: fc.integer({ min: 0, max: 0xffffffff }),
          cas: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
          rev: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
          seqno: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
          kind: fc.constantFrom(ItemKind.Mutation, ItemKind.Deletion, ItemKind.Expiration),
          dtime: fc.integer({ min: 0, max: 0xffffffff }),
        }),
        (k, v, o) => {
          const keyStr = Buffer.from(k).toString('latin1');
          const it = new Item(keyStr, Buffer.from(v), o.dt, o.flags, o.expiry, o.cas, o.rev, o.kind, o.dtime);
          it.seqno = o.seqno;
          const back = decodeItem(Buffer.from(keyStr, 'latin1'), encodeItem(it));
          expect({ ...back, prev: undefined, next: undefined }).toEqual({
            ...it,
            prev: undefined,
            next: undefined,
          });
        },
      ),
    );
    const vb = new VBucket(3);
    vb.highSeqno = 42;
    vb.addFailoverEntry(0xabcn);
    vb.highSeqno = 50;
    vb.addFailoverEntry(0xdefn);
    const m = decodeMeta(encodeMeta(vb));
    expect(m).toEqual({
      high: 50,
      purge: 0,
      failover: [
        { vbucketUuid: 0xdefn, seqno: 50 },
        { vbucketUuid: 0xabcn, seqno: 42 },
      ],
    });
  });
});

describe('needsRollback', () => {
  it('matches the digest’s worked cases', () => {
    const log = [
      { vbucketUuid: 3n, seqno: 200 },
      { vbucketUuid: 2n, seqno: 100 },
      { vbucketUuid: 1n, seqno: 0 },
    ];
    const base = { strict: false, ignorePurgedTombstones: false };
    const nr = (start: number, uuid: bigint, s: number, e: number) =>
      needsRollback(log, 300, 0, { ...base, startSeqno: start, vbucketUuid: uuid, snapStart: s, snapEnd: e });
    expect(nr(0, 0n, 0, 0)).toBeUndefined();
    expect(nr(0, 99n, 0, 0)).toBeUndefined();
    expect(
      needsRollback(log, 300, 0, {
        ...base,
        strict: true,
        startSeqno: 0,
        vbucketUuid: 99n,
        snapStart: 0,
        snapEnd: 0,
      }),
    ).toBe(0);
    expect(nr(50, 99n, 50, 50)).toBe(0); // unknown uuid
    expect(nr(150, 2n, 150, 150)).toBeUndefined(); // within the entry’s range
    expect(nr(250, 2n, 250, 250)).toBe(200); // beyond the next entry: back to it
    expect(nr(120, 2n, 90, 250)).toBe(90); // snapshot straddles: back to its start
    expect(nr(350, 3n, 350, 350)).toBe(300); // future seqno on the newest uuid: to the high seqno
    expect(nr(250, 3n, 250, 250)).toBeUndefined();
    expect(
      needsRollback(log, 300, 100, { ...base, startSeqno: 50, vbucketUuid: 3n, snapStart: 50, snapEnd: 50 }),
    ).toBe(0); // below purge
  });

  it('never rolls forward and never asks a consistent client on the newest uuid to roll back', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 0, max: 1000 }),
        (a, b, c) => {
          const [s, start, e] = [a, b, c].sort((x, y) => x - y);
          const log = [{ vbucketUuid: 7n, seqno: 0 }];
          const high = 500;
          const r = needsRollback(log, high, 0, {
            startSeqno: start,
            vbucketUuid: 7n,
            snapStart: s,
            snapEnd: e,
            strict: false,
            ignorePurgedTombstones: false,
          });
          if (r !== undefined) expect(r).toBeLessThanOrEqual(start);
          if (e <= high) expect(r).toBeUndefined();
        },
      ),
    );
  });
});
