// Fuzz suite: random bytes, mutated valid packets and random re-chunking of valid streams.
// Invariants: decoders throw nothing but TributaryError, never hang, and FrameDecoder buffers at most
// one frame plus one chunk. Normal runs do ≥ 100,000 cases; `npm run fuzz` sets FUZZ_RUNS=2000000.
// FUZZ_SEED reproduces a run.

import * as codec from '@tributary/codec';
import { decodePacket, FrameDecoder, type Packet } from '@tributary/codec';
import { isTributaryError } from '@tributary/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TOTAL = Number(process.env.FUZZ_RUNS ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed1234);
const RANDOM_CASES = Math.ceil(TOTAL * 0.45);
const MUTATION_CASES = Math.ceil(TOTAL * 0.45);
const RECHUNK_CASES = Math.ceil(TOTAL * 0.1);

/** xorshift32: fast and reproducible. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return {
    next,
    int: (n: number): number => next() % n,
    bytes(n: number): Buffer {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = next() & 0xff;
      return b;
    },
  };
}

const PACKET_DECODERS: ((p: Packet) => unknown)[] = [
  codec.decodeDcpOpen,
  codec.decodeDcpControl,
  codec.decodeDcpNoop,
  codec.decodeDcpBufferAck,
  codec.decodeDcpStreamReq,
  codec.decodeDcpStreamReqResponse,
  codec.decodeDcpGetFailoverLog,
  codec.decodeDcpGetFailoverLogResponse,
  codec.decodeDcpCloseStream,
  codec.decodeDcpStreamEnd,
  codec.decodeDcpSetVbucketState,
  codec.decodeDcpSeqnoAdvanced,
  codec.decodeDcpOsoSnapshot,
  codec.decodeDcpSystemEvent,
  codec.decodeDcpSnapshotMarker,
  codec.decodeDcpMutation,
  codec.decodeDcpDeletion,
  codec.decodeDcpExpiration,
  codec.decodeHello,
  codec.decodeHelloResponse,
  codec.decodeSaslListMechs,
  codec.decodeSaslListMechsResponse,
  codec.decodeSaslAuth,
  codec.decodeSaslStep,
  codec.decodeSaslResponse,
  codec.decodeSelectBucket,
  codec.decodeGetClusterConfig,
  codec.decodeGetErrorMap,
  codec.decodeGet,
  codec.decodeGetResponse,
  codec.decodeStore,
  codec.decodeDelete,
  codec.decodeTouch,
  codec.decodeNoop,
  codec.decodeMutationResponse,
  codec.decodeGetAllVbSeqnos,
  codec.decodeGetAllVbSeqnosResponse,
  codec.decodeResponse,
  (p) => codec.decodeDocumentValue(p),
  (p) => codec.parseXattrs(p.value),
  (p) => codec.parseFrameInfos(p.framingExtras),
  (p) => codec.splitCollectionKey(p.key),
  (p) => codec.decodeFailoverLog(p.value),
];

let failures = 0;
/** Runs f; any throw must be a TributaryError. */
function safely(f: () => unknown): void {
  try {
    f();
  } catch (err) {
    if (!isTributaryError(err)) {
      failures++;
      throw new Error(`non-TributaryError thrown (seed ${SEED}): ${String(err)}`, { cause: err });
    }
  }
}

const GENERIC_DECODERS = PACKET_DECODERS.slice(-6);

/** decodePacket, then the given typed decoders (all of them by default). */
function everyDecoder(bytes: Buffer, decoders: readonly ((p: Packet) => unknown)[] = PACKET_DECODERS): void {
  let p: codec.WirePacket | undefined;
  safely(() => {
    p = decodePacket(bytes);
  });
  if (p === undefined) return;
  const packet = p;
  // A decoded packet exposes every field without throwing.
  void packet.toObject();
  for (const d of decoders) safely(() => d(packet));
}

/** The typed decoders that accept each pristine packet (throws are slow, so mutants run these). */
function matchingDecoders(pool: Buffer[]): ((p: Packet) => unknown)[][] {
  return pool.map((b) => {
    const p = decodePacket(b);
    const ok = PACKET_DECODERS.slice(0, -6).filter((d) => {
      try {
        d(p);
        return true;
      } catch {
        return false;
      }
    });
    expect(ok.length).toBeGreaterThan(0);
    return [...ok, ...GENERIC_DECODERS];
  });
}

const TIMEOUT = Math.max(60_000, (TOTAL / 100_000) * 60_000);

/** A pool of valid packets of every typed kind (values kept small; snappy/xattr ones included). */
function validPackets(r: ReturnType<typeof rng>): Buffer[] {
  const key = Buffer.from('doc-key');
  const snappy = codec.snappyCompress(codec.encodeXattrs({ _sync: '{"rev":"1-a"}' }, '{"a":1}'));
  const m = {
    vbucket: 5,
    opaque: 7,
    cas: 99n,
    datatype: 0,
    bySeqno: 10,
    revSeqno: 2,
    flags: 1,
    expiry: 0,
    lockTime: 0,
    key,
    value: Buffer.from('{"x":1}'),
  };
  return [
    codec.encodeDcpOpen({ opaque: 1, name: 'tributary:fuzz', flags: 0x21 }),
    codec.encodeDcpControl({ opaque: 2, key: 'enable_noop', value: 'true' }),
    codec.encodeDcpNoop({ opaque: 3 }),
    codec.encodeDcpBufferAck({ opaque: 0, bytes: 4096 }),
    codec.encodeDcpStreamReq({
      vbucket: 1,
      opaque: 1,
      flags: 0,
      startSeqno: 1,
      endSeqno: codec.SEQNO_FOREVER,
      vbucketUuid: 5n,
      snapStart: 1,
      snapEnd: 1,
    }),
    codec.encodeDcpStreamReqResponse({ opaque: 1, status: 0, failoverLog: [{ vbucketUuid: 1n, seqno: 0 }] }),
    codec.encodeDcpStreamReqResponse({ opaque: 1, status: codec.Status.Rollback, rollbackSeqno: 3 }),
    codec.encodeDcpGetFailoverLogResponse({
      opaque: 1,
      status: 0,
      failoverLog: [{ vbucketUuid: 2n, seqno: 9 }],
    }),
    codec.encodeDcpStreamEnd({ vbucket: 1, opaque: 1, reason: 0, streamId: 3 }),
    codec.encodeDcpSnapshotMarker({
      vbucket: 1,
      opaque: 1,
      startSeqno: 0,
      endSeqno: 8,
      flags: 2,
      version: 1,
    }),
    codec.encodeDcpSnapshotMarker({
      vbucket: 1,
      opaque: 1,
      startSeqno: 0,
      endSeqno: 8,
      flags: 2,
      version: 2,
      maxVisibleSeqno: 8,
      highCompletedSeqno: 7,
      purgeSeqno: 1,
      highPreparedSeqno: 2,
    }),
    codec.encodeDcpMutation(m),
    codec.encodeDcpMutation({
      ...m,
      datatype: codec.Datatype.Snappy | codec.Datatype.Xattr | codec.Datatype.Json,
      value: snappy,
      streamId: 9,
    }),
    codec.encodeDcpDeletion({ ...m, version: 2, deleteTime: 5 }),
    codec.encodeDcpExpiration({ ...m, deleteTime: 5 }),
    codec.encodeDcpSystemEvent({
      vbucket: 1,
      opaque: 1,
      bySeqno: 4,
      event: 0,
      version: 0,
      key: Buffer.from('col1'),
      value: Buffer.alloc(16),
    }),
    codec.encodeDcpSeqnoAdvanced({ vbucket: 1, opaque: 1, bySeqno: 3 }),
    codec.encodeDcpOsoSnapshot({ vbucket: 1, opaque: 1, flags: 1 }),
    codec.encodeDcpSetVbucketState({ vbucket: 1, opaque: 1, state: 1 }),
    codec.encodeHello({ opaque: 1, agent: '{"a":"fuzz"}', features: [6, 7, 0x12] }),
    codec.encodeHelloResponse({ opaque: 1, status: 0, features: [6] }),
    codec.encodeSaslListMechsResponse({ opaque: 1, status: 0, mechanisms: ['PLAIN', 'SCRAM-SHA512'] }),
    codec.encodeSaslAuth({ opaque: 1, mechanism: 'PLAIN', data: Buffer.from('\0u\0p') }),
    codec.encodeSelectBucket({ opaque: 1, bucket: 'default' }),
    codec.encodeGetClusterConfig({ opaque: 1, epoch: 1, revision: 2 }),
    codec.encodeGetErrorMap({ opaque: 1, version: 2 }),
    codec.encodeGet({ vbucket: 1, opaque: 1, key }),
    codec.encodeGetResponse({
      opaque: 1,
      status: 0,
      cas: 1n,
      flags: 2,
      datatype: 1,
      value: Buffer.from('{}'),
    }),
    codec.encodeStore({
      opcode: codec.Opcode.Set,
      vbucket: 1,
      opaque: 1,
      cas: 0n,
      key,
      value: r.bytes(20),
      flags: 0,
      expiry: 0,
      datatype: 0,
    }),
    codec.encodeMutationResponse({ opcode: 1, opaque: 1, status: 0, cas: 5n, vbucketUuid: 1n, seqno: 2 }),
    codec.encodeGetAllVbSeqnosResponse({ opaque: 1, status: 0, entries: [{ vbucket: 0, seqno: 5 }] }),
    codec.encodeResponse({
      opcode: 0x5c,
      status: 0,
      opaque: 1,
      framingExtras: Buffer.from([0x02, 0x00, 0x10]),
    }),
  ];
}

describe(`fuzz (${TOTAL} cases, seed ${SEED})`, () => {
  // Stack capture dominates the cost of the (expected) throws; the seed reproduces any failure.
  let stackLimit = Error.stackTraceLimit;
  beforeAll(() => {
    stackLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
  });
  afterAll(() => {
    Error.stackTraceLimit = stackLimit;
  });

  it(
    `random bytes (${RANDOM_CASES} cases): decodePacket, every typed decoder, FrameDecoder`,
    () => {
      const r = rng(SEED);
      for (let i = 0; i < RANDOM_CASES; i++) {
        const len = r.int(4) === 0 ? r.int(24) : 24 + r.int(80);
        const b = r.bytes(len);
        // Bias towards valid magics and self-consistent lengths so the deeper paths get exercised.
        if (len >= 24 && r.int(4) !== 0) {
          b[0] = [0x80, 0x81, 0x08, 0x18, 0x82, 0x83][r.int(6)];
          b.writeUInt32BE(len - 24, 8);
          if (r.int(2) === 0) b[1] = 0x50 + r.int(0x16);
        }
        everyDecoder(b, i % 16 === 0 ? PACKET_DECODERS : i % 4 === 0 ? GENERIC_DECODERS : []);
        const d = new FrameDecoder({ maxFrameBytes: 4096 });
        safely(() => d.push(b));
        expect(d.bufferedBytes).toBeLessThanOrEqual(b.length);
      }
      expect(failures).toBe(0);
    },
    TIMEOUT,
  );

  it(
    `mutated valid packets (${MUTATION_CASES} cases)`,
    () => {
      const r = rng(SEED ^ 0xa5a5a5a5);
      const pool = validPackets(r);
      const matching = matchingDecoders(pool);
      for (let i = 0; i < MUTATION_CASES; i++) {
        const which = r.int(pool.length);
        let b = Buffer.from(pool[which]);
        const kind = r.int(5);
        if (kind === 0) {
          const flips = 1 + r.int(4);
          for (let j = 0; j < flips; j++) b[r.int(b.length)] ^= 1 << r.int(8);
        } else if (kind === 1) {
          b[24 + r.int(Math.max(1, b.length - 24)) - (b.length === 24 ? 24 : 0)] = r.int(256);
        } else if (kind === 2) {
          b = b.subarray(0, r.int(b.length));
        } else if (kind === 3) {
          b = Buffer.concat([b, r.bytes(1 + r.int(16))]);
          if (r.int(2) === 0) b.writeUInt32BE(b.length - 24, 8);
        } else {
          // Lie in a length field, keeping the frame self-consistent or not.
          const field = r.int(3);
          if (field === 0) b[2] = r.int(256);
          else if (field === 1) b[3] = r.int(256);
          else b[4] = r.int(256);
        }
        // Every 64th mutant also meets every decoder (wrong-opcode paths); the rest the ones that fit.
        everyDecoder(
          b,
          i % 64 === 0
            ? PACKET_DECODERS
            : [...matching[which], PACKET_DECODERS[r.int(PACKET_DECODERS.length)]],
        );
      }
      expect(failures).toBe(0);
    },
    TIMEOUT,
  );

  it(
    `random re-chunking of valid streams (${RECHUNK_CASES} cases)`,
    () => {
      const r = rng(SEED ^ 0x3c3c3c3c);
      const pool = validPackets(r);
      for (let i = 0; i < RECHUNK_CASES; i++) {
        const frames: Buffer[] = [];
        const n = 1 + r.int(12);
        for (let j = 0; j < n; j++) frames.push(pool[r.int(pool.length)]);
        const stream = Buffer.concat(frames);
        const d = new FrameDecoder();
        const got: Buffer[] = [];
        let maxChunk = 0;
        let off = 0;
        while (off < stream.length) {
          const size = r.int(3) === 0 ? r.int(4) : 1 + r.int(200);
          const chunk = stream.subarray(off, off + size);
          maxChunk = Math.max(maxChunk, chunk.length);
          off += chunk.length;
          for (const p of d.push(chunk)) got.push(p.frame);
          // Never more than one frame plus one chunk held.
          expect(d.bufferedBytes).toBeLessThanOrEqual(Math.max(...frames.map((f) => f.length)) + maxChunk);
        }
        d.end();
        expect(got.length).toBe(frames.length);
        for (let j = 0; j < frames.length; j++)
          if (!got[j].equals(frames[j])) expect(got[j]).toEqual(frames[j]);
      }
    },
    TIMEOUT,
  );
});
