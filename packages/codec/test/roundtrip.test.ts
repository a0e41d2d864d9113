// fast-check round trips: for every typed packet, decode(decodePacket(encode(fields))) equals fields,
// and the encoded bytes pass through FrameDecoder unchanged.

import * as codec from '@tributary/codec';
import { decodePacket, FrameDecoder, Opcode, Status } from '@tributary/codec';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const RUNS = 150;
const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: 0xffffffffffffffffn });
const seqno = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.maxSafeNat(),
  fc.constant(codec.SEQNO_FOREVER),
);
const buf = (maxLength = 64) => fc.uint8Array({ maxLength }).map((u) => Buffer.from(u));
const nonEmptyBuf = (maxLength = 64) => fc.uint8Array({ minLength: 1, maxLength }).map((u) => Buffer.from(u));
const str = (maxLength = 40) => fc.string({ unit: 'grapheme', maxLength });
const sid = fc.option(u16, { nil: undefined });
const failoverLog = fc.array(fc.record({ vbucketUuid: u64, seqno }), { maxLength: 25 });

function check<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  enc: (f: T) => Buffer,
  dec: (p: codec.Packet) => unknown,
): void {
  it(name, () => {
    fc.assert(
      fc.property(arb, (f) => {
        const bytes = enc(f);
        expect(dec(decodePacket(bytes))).toEqual(f);
        const [again] = new FrameDecoder().push(bytes);
        expect(enc(dec(again) as T).equals(bytes)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
}

describe('typed round trips (fast-check)', () => {
  // DCP connection setup
  check(
    'DcpOpen',
    fc.record({ opaque: u32, name: str(), flags: u32, value: fc.option(nonEmptyBuf(), { nil: undefined }) }),
    codec.encodeDcpOpen,
    codec.decodeDcpOpen,
  );
  check(
    'DcpControl',
    fc.record({ opaque: u32, key: str(), value: str() }),
    codec.encodeDcpControl,
    codec.decodeDcpControl,
  );
  check('DcpNoop', fc.record({ opaque: u32 }), codec.encodeDcpNoop, codec.decodeDcpNoop);
  check(
    'DcpBufferAck',
    fc.record({ opaque: u32, bytes: u32 }),
    codec.encodeDcpBufferAck,
    codec.decodeDcpBufferAck,
  );

  // Streams
  check(
    'DcpStreamReq',
    fc.record({
      vbucket: u16,
      opaque: u32,
      flags: u32,
      startSeqno: seqno,
      endSeqno: seqno,
      vbucketUuid: u64,
      snapStart: seqno,
      snapEnd: seqno,
      value: fc.option(nonEmptyBuf(), { nil: undefined }),
    }),
    codec.encodeDcpStreamReq,
    codec.decodeDcpStreamReq,
  );
  check(
    'DcpStreamReqResponse',
    fc.oneof(
      fc.record({ opaque: u32, status: fc.constant(Status.Success as number), failoverLog }),
      fc.record({ opaque: u32, status: fc.constant(Status.Rollback as number), rollbackSeqno: seqno }),
      fc.record({ opaque: u32, status: fc.constantFrom(0x02, 0x07, 0x22, 0x82, 0x83, 0x86, 0x8d) }),
    ),
    codec.encodeDcpStreamReqResponse,
    codec.decodeDcpStreamReqResponse,
  );
  check(
    'DcpGetFailoverLog',
    fc.record({ vbucket: u16, opaque: u32 }),
    codec.encodeDcpGetFailoverLog,
    codec.decodeDcpGetFailoverLog,
  );
  check(
    'DcpGetFailoverLogResponse',
    fc.oneof(
      fc.record({ opaque: u32, status: fc.constant(0), failoverLog }),
      fc.record({ opaque: u32, status: fc.integer({ min: 1, max: 0xffff }) }),
    ),
    codec.encodeDcpGetFailoverLogResponse,
    codec.decodeDcpGetFailoverLogResponse,
  );
  check(
    'DcpCloseStream',
    fc.record({ vbucket: u16, opaque: u32, streamId: sid }),
    codec.encodeDcpCloseStream,
    codec.decodeDcpCloseStream,
  );
  check(
    'DcpStreamEnd',
    fc.record({ vbucket: u16, opaque: u32, reason: u32, streamId: sid }),
    codec.encodeDcpStreamEnd,
    codec.decodeDcpStreamEnd,
  );
  check(
    'DcpSetVbucketState',
    fc.record({ vbucket: u16, opaque: u32, state: u8, streamId: sid }),
    codec.encodeDcpSetVbucketState,
    codec.decodeDcpSetVbucketState,
  );
  check(
    'DcpSeqnoAdvanced',
    fc.record({ vbucket: u16, opaque: u32, bySeqno: seqno, streamId: sid }),
    codec.encodeDcpSeqnoAdvanced,
    codec.decodeDcpSeqnoAdvanced,
  );
  check(
    'DcpOsoSnapshot',
    fc.record({ vbucket: u16, opaque: u32, flags: u32, streamId: sid }),
    codec.encodeDcpOsoSnapshot,
    codec.decodeDcpOsoSnapshot,
  );
  check(
    'DcpSystemEvent',
    fc.record({
      vbucket: u16,
      opaque: u32,
      bySeqno: seqno,
      event: u32,
      version: u8,
      key: buf(),
      value: buf(),
      streamId: sid,
    }),
    codec.encodeDcpSystemEvent,
    codec.decodeDcpSystemEvent,
  );
  const markerBase = {
    vbucket: u16,
    opaque: u32,
    startSeqno: seqno,
    endSeqno: seqno,
    flags: u32,
    streamId: sid,
  };
  check(
    'DcpSnapshotMarker v1, v2.0, v2.2',
    fc.oneof(
      fc.record({ ...markerBase, version: fc.constant(1 as const) }),
      fc.record({
        ...markerBase,
        version: fc.constant(2 as const),
        maxVisibleSeqno: seqno,
        highCompletedSeqno: seqno,
      }),
      fc.record({
        ...markerBase,
        version: fc.constant(2 as const),
        maxVisibleSeqno: seqno,
        highCompletedSeqno: seqno,
        purgeSeqno: seqno,
        highPreparedSeqno: fc.option(seqno, { nil: undefined }),
      }),
    ),
    codec.encodeDcpSnapshotMarker,
    codec.decodeDcpSnapshotMarker,
  );

  // Items
  check(
    'DcpMutation',
    fc.record({
      vbucket: u16,
      opaque: u32,
      cas: u64,
      datatype: u8,
      bySeqno: seqno,
      revSeqno: seqno,
      flags: u32,
      expiry: u32,
      lockTime: u32,
      key: buf(),
      value: buf(300),
      streamId: sid,
    }),
    codec.encodeDcpMutation,
    codec.decodeDcpMutation,
  );
  const delBase = {
    vbucket: u16,
    opaque: u32,
    cas: u64,
    datatype: u8,
    bySeqno: seqno,
    revSeqno: seqno,
    key: buf(),
    value: buf(),
    streamId: sid,
  };
  check(
    'DcpDeletion v1 and v2',
    fc.oneof(
      fc.record({ ...delBase, version: fc.constant(1 as const) }),
      fc.record({ ...delBase, version: fc.constant(2 as const), deleteTime: u32 }),
    ),
    codec.encodeDcpDeletion,
    codec.decodeDcpDeletion,
  );
  check(
    'DcpExpiration',
    fc.record({
      vbucket: u16,
      opaque: u32,
      cas: u64,
      bySeqno: seqno,
      revSeqno: seqno,
      deleteTime: u32,
      key: buf(),
      datatype: fc.option(fc.integer({ min: 1, max: 0xff }), { nil: undefined }),
      value: fc.option(nonEmptyBuf(), { nil: undefined }),
      streamId: sid,
    }),
    codec.encodeDcpExpiration,
    codec.decodeDcpExpiration,
  );

  // Session
  check(
    'Hello',
    fc.record({ opaque: u32, agent: str(), features: fc.array(u16, { maxLength: 40 }) }),
    codec.encodeHello,
    codec.decodeHello,
  );
  check(
    'HelloResponse',
    fc.record({ opaque: u32, status: u16, features: fc.array(u16, { maxLength: 40 }) }),
    codec.encodeHelloResponse,
    codec.decodeHelloResponse,
  );
  check('SaslListMechs', fc.record({ opaque: u32 }), codec.encodeSaslListMechs, codec.decodeSaslListMechs);
  check(
    'SaslListMechsResponse',
    fc.record({
      opaque: u32,
      status: u16,
      mechanisms: fc.array(fc.stringMatching(/^[A-Z0-9_-]{1,20}$/), { maxLength: 5 }),
    }),
    codec.encodeSaslListMechsResponse,
    codec.decodeSaslListMechsResponse,
  );
  check(
    'SaslAuth',
    fc.record({ opaque: u32, mechanism: str(20), data: buf() }),
    codec.encodeSaslAuth,
    codec.decodeSaslAuth,
  );
  check(
    'SaslStep',
    fc.record({ opaque: u32, mechanism: str(20), data: buf() }),
    codec.encodeSaslStep,
    codec.decodeSaslStep,
  );
  check(
    'SaslResponse',
    fc.record({
      opcode: fc.constantFrom(Opcode.SaslAuth, Opcode.SaslStep),
      opaque: u32,
      status: u16,
      data: buf(),
    }),
    codec.encodeSaslResponse,
    codec.decodeSaslResponse,
  );
  check(
    'SelectBucket',
    fc.record({ opaque: u32, bucket: str() }),
    codec.encodeSelectBucket,
    codec.decodeSelectBucket,
  );
  check(
    'GetClusterConfig',
    fc.oneof(
      fc.record({ opaque: u32 }),
      fc.record({ opaque: u32, epoch: fc.maxSafeInteger(), revision: fc.maxSafeInteger() }),
    ),
    codec.encodeGetClusterConfig,
    codec.decodeGetClusterConfig,
  );
  check(
    'GetErrorMap',
    fc.record({ opaque: u32, version: u16 }),
    codec.encodeGetErrorMap,
    codec.decodeGetErrorMap,
  );

  // KV
  check('Get', fc.record({ vbucket: u16, opaque: u32, key: buf() }), codec.encodeGet, codec.decodeGet);
  check(
    'GetResponse',
    fc.oneof(
      fc.record({
        opaque: u32,
        status: fc.constant(0),
        cas: u64,
        flags: u32,
        datatype: u8,
        value: buf(),
        key: fc.option(buf(), { nil: undefined }),
      }),
      fc.record({
        opaque: u32,
        status: fc.integer({ min: 1, max: 0xffff }),
        cas: u64,
        flags: fc.constant(0),
        datatype: u8,
        value: buf(),
      }),
    ),
    codec.encodeGetResponse,
    codec.decodeGetResponse,
  );
  check(
    'Store (SET/ADD/REPLACE)',
    fc.record({
      opcode: fc.constantFrom(Opcode.Set, Opcode.Add, Opcode.Replace),
      vbucket: u16,
      opaque: u32,
      cas: u64,
      key: buf(),
      value: buf(200),
      flags: u32,
      expiry: u32,
      datatype: u8,
    }),
    codec.encodeStore,
    codec.decodeStore,
  );
  check(
    'Delete',
    fc.record({ vbucket: u16, opaque: u32, cas: u64, key: buf() }),
    codec.encodeDelete,
    codec.decodeDelete,
  );
  check(
    'Touch',
    fc.record({ vbucket: u16, opaque: u32, key: buf(), expiry: u32 }),
    codec.encodeTouch,
    codec.decodeTouch,
  );
  check('Noop', fc.record({ opaque: u32 }), codec.encodeNoop, codec.decodeNoop);
  check(
    'MutationResponse',
    fc.oneof(
      fc.record({ opcode: u8, opaque: u32, status: u16, cas: u64 }),
      fc.record({ opcode: u8, opaque: u32, status: u16, cas: u64, vbucketUuid: u64, seqno }),
    ),
    codec.encodeMutationResponse,
    codec.decodeMutationResponse,
  );
  check(
    'GetAllVbSeqnos',
    fc.oneof(
      fc.record({ opaque: u32 }),
      fc.record({ opaque: u32, state: u32 }),
      fc.record({ opaque: u32, state: u32, collectionId: u32 }),
    ),
    codec.encodeGetAllVbSeqnos,
    codec.decodeGetAllVbSeqnos,
  );

  it('GetAllVbSeqnosResponse', () => {
    fc.assert(
      fc.property(
        fc.record({
          opaque: u32,
          status: u16,
          entries: fc.array(fc.record({ vbucket: u16, seqno }), { maxLength: 64 }),
        }),
        (f) => {
          const p = decodePacket(codec.encodeGetAllVbSeqnosResponse(f));
          expect(codec.decodeGetAllVbSeqnosResponse(p)).toEqual(f.entries);
          expect([p.opaque, p.status]).toEqual([f.opaque, f.status]);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('encodeResponse / decodeResponse', () => {
    fc.assert(
      fc.property(
        fc.record({
          opcode: u8,
          status: u16,
          opaque: u32,
          cas: u64,
          key: buf(),
          extras: buf(),
          value: buf(),
          datatype: u8,
        }),
        (f) => {
          const r = codec.decodeResponse(decodePacket(codec.encodeResponse(f)));
          expect(r).toEqual({ ...f, magic: 0x81 });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('FailoverLog', () => {
    fc.assert(
      fc.property(failoverLog, (log) => {
        expect(codec.decodeFailoverLog(codec.encodeFailoverLog(log))).toEqual(log);
      }),
      { numRuns: RUNS },
    );
  });

  it('generic packets of every magic', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0x80, 0x81, 0x08, 0x18, 0x82, 0x83),
        fc.integer({ min: 0x66, max: 0x88 }), // opcodes without extras rules
        u8,
        u16,
        u32,
        u64,
        buf(20),
        buf(),
        buf(100),
        buf(20),
        (magic, opcode, datatype, field, opaque, cas, extras, key, value, flex) => {
          const alt = magic === 0x08 || magic === 0x18;
          const req = magic === 0x80 || magic === 0x08 || magic === 0x82;
          const input = {
            magic,
            opcode,
            datatype,
            vbucket: req ? field : 0,
            status: req ? 0 : field,
            opaque,
            cas,
            extras,
            key,
            value,
            framingExtras: alt ? flex : Buffer.alloc(0),
          };
          const bytes = codec.encodePacket(input);
          expect(decodePacket(bytes).toObject()).toEqual(input);
          expect(codec.decodeHeader(bytes).bodyLength).toBe(bytes.length - 24);
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });

  it('xattrs and LEB128 collection keys', () => {
    const xkey = fc.stringMatching(/^[a-z_$][a-z0-9_.]{0,15}$/);
    const xval = fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => !s.includes('\0'));
    fc.assert(
      fc.property(fc.dictionary(xkey, xval, { maxKeys: 6 }), buf(50), (xattrs, body) => {
        const parsed = codec.parseXattrs(codec.encodeXattrs(xattrs, body));
        expect(parsed.xattrs).toEqual(xattrs);
        expect(parsed.body.equals(body)).toBe(true);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(u32, buf(30), (cid, key) => {
        const s = codec.splitCollectionKey(codec.joinCollectionKey(cid, key));
        expect(s.collectionId).toBe(cid);
        expect(s.key.equals(key)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});
