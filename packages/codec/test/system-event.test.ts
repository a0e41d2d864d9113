// System-event payloads and stream-request filters: known answers from kv_engine's documents and
// a server capture, fast-check round trips, and fuzzing (decoders throw only TributaryError).
import {
  DcpSystemEventId,
  decodeDcpSystemEvent,
  decodePacket,
  decodeStreamRequestFilter,
  decodeSystemEventData,
  encodeDcpSystemEvent,
  encodeStreamRequestFilter,
  encodeSystemEventData,
  type StreamRequestFilter,
  type SystemEventData,
} from '@tributary/codec';
import { isTributaryError } from '@tributary/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('system event payloads: known answers', () => {
  it('decodes kv_engine system_event.md: begin collection "mycollection", version 1 with max_ttl', () => {
    // Value bytes 49..68 of the document's example: uid 2, scope 0, collection 8, max_ttl 72000.
    // (Its field list swaps scope and collection; the struct puts scope first. With scope 0 the
    // bytes read the same either way except for which u32 is 8: the struct order is used.)
    const value = hex('0000000000000002 00000000 00000008 00011940');
    const d = decodeSystemEventData(0, 1, Buffer.from('mycollection'), value);
    expect(d).toEqual({
      type: 'collection-created',
      manifestUid: 2,
      scopeId: 0,
      collectionId: 8,
      name: 'mycollection',
      maxTtl: 72000,
    });
    expect(encodeSystemEventData(d)).toEqual({
      event: 0,
      version: 1,
      key: Buffer.from('mycollection'),
      value,
    });
  });

  it('decodes the gomemcached server capture (shared/reference §7): col1, uid 0, scope 8, collection 8', () => {
    const frame = hex(
      '085f0304 0d00036a 00000024 0001036a 00000000 00000000 22000100 00000000 00000400 00000000' +
        '636f6c31 00000000 00000000 00000008 00000008',
    );
    const ev = decodeDcpSystemEvent(decodePacket(frame));
    expect(ev.streamId).toBe(1);
    expect(ev.bySeqno).toBe(4);
    expect(decodeSystemEventData(ev.event, ev.version, ev.key, ev.value)).toEqual({
      type: 'collection-created',
      manifestUid: 0,
      scopeId: 8,
      collectionId: 8,
      name: 'col1',
    });
  });

  it('encodes drop/scope events in version 0 with kv_engine layouts', () => {
    expect(
      encodeSystemEventData({ type: 'collection-dropped', manifestUid: 5, scopeId: 9, collectionId: 0xa }),
    ).toEqual({
      event: DcpSystemEventId.CollectionDrop,
      version: 0,
      key: Buffer.alloc(0),
      value: hex('0000000000000005 00000009 0000000a'),
    });
    expect(encodeSystemEventData({ type: 'scope-created', manifestUid: 1, scopeId: 8, name: 's' })).toEqual({
      event: DcpSystemEventId.ScopeCreate,
      version: 0,
      key: Buffer.from('s'),
      value: hex('0000000000000001 00000008'),
    });
    expect(encodeSystemEventData({ type: 'scope-dropped', manifestUid: 3, scopeId: 8 }).value).toEqual(
      hex('0000000000000003 00000008'),
    );
  });

  it('refuses FlatBuffers, modify events, wrong lengths and keys on drop events', () => {
    const bad: [number, number, string, string][] = [
      [0, 2, 'a', '00'],
      [5, 0, 'a', '0000000000000001 00000000 00000008'],
      [0, 0, 'a', '0000000000000001 00000000'],
      [0, 1, 'a', '0000000000000001 00000000 00000008'],
      [1, 0, 'a', '0000000000000001 00000000 00000008'],
      [3, 0, '', '0000000000000001 00000008'],
      [4, 1, '', '0000000000000001 00000008'],
      [7, 0, '', ''],
      [1, 0, '', 'ffffffffffffffff 00000000 00000008'],
    ];
    for (const [event, version, key, value] of bad) {
      expect(() => decodeSystemEventData(event, version, Buffer.from(key), hex(value))).toThrowError(
        expect.objectContaining({ code: 'TRIB_BAD_VALUE' }),
      );
    }
  });
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const uid = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.maxSafeNat());
const name = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 60 })
  .filter((s) => Buffer.byteLength(s) <= 251);
const eventData: fc.Arbitrary<SystemEventData> = fc.oneof(
  fc.record(
    {
      type: fc.constant('collection-created' as const),
      manifestUid: uid,
      scopeId: u32,
      collectionId: u32,
      name,
      maxTtl: fc.integer({ min: 1, max: 0xffffffff }),
    },
    { requiredKeys: ['type', 'manifestUid', 'scopeId', 'collectionId', 'name'] },
  ),
  fc.record({
    type: fc.constant('collection-dropped' as const),
    manifestUid: uid,
    scopeId: u32,
    collectionId: u32,
  }),
  fc.record({ type: fc.constant('scope-created' as const), manifestUid: uid, scopeId: u32, name }),
  fc.record({ type: fc.constant('scope-dropped' as const), manifestUid: uid, scopeId: u32 }),
);

describe('system event payloads: properties', () => {
  it('decode(encode(x)) = x, also through a whole DCP_SYSTEM_EVENT packet', () => {
    fc.assert(
      fc.property(eventData, fc.integer({ min: 0, max: 1023 }), fc.maxSafeNat(), (d, vb, seqno) => {
        const p = encodeSystemEventData(d);
        const wire = encodeDcpSystemEvent({ vbucket: vb, opaque: 7, bySeqno: seqno, ...p });
        const ev = decodeDcpSystemEvent(decodePacket(wire));
        expect(ev.bySeqno).toBe(seqno);
        expect(decodeSystemEventData(ev.event, ev.version, ev.key, ev.value)).toEqual(d);
      }),
      { numRuns: 2000 },
    );
  });

  it('random keys and values decode or throw TRIB_BAD_VALUE, nothing else', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 0, max: 3 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 40 }),
        (event, version, key, value) => {
          try {
            const d = decodeSystemEventData(event, version, key, value);
            // Whatever decodes re-encodes to the same value bytes.
            expect(Buffer.from(encodeSystemEventData(d).value)).toEqual(Buffer.from(value));
          } catch (err) {
            expect(isTributaryError(err, 'TRIB_BAD_VALUE')).toBe(true);
          }
        },
      ),
      { numRuns: 5000 },
    );
  }, 30_000);
});

const filter: fc.Arbitrary<StreamRequestFilter> = fc
  .record(
    {
      collections: fc.uniqueArray(u32, { minLength: 1, maxLength: 20 }),
      scope: u32,
      uid,
      sid: fc.integer({ min: 1, max: 0xffff }),
      purgeSeqno: fc.maxSafeNat(),
    },
    { requiredKeys: [] },
  )
  .map((f) => {
    if (f.collections !== undefined && f.scope !== undefined) delete f.scope;
    return f;
  });

describe('stream-request filters', () => {
  it('encodes kv_engine stream-request-value.md example shapes', () => {
    expect(encodeStreamRequestFilter({ collections: [0xa, 0x1e], purgeSeqno: 1000 })?.toString()).toBe(
      '{"collections":["a","1e"],"purge_seqno":"1000"}',
    );
    expect(encodeStreamRequestFilter({ scope: 9, uid: 0xb4 })?.toString()).toBe('{"uid":"b4","scope":"9"}');
    expect(encodeStreamRequestFilter({})).toBeUndefined();
    expect(() => encodeStreamRequestFilter({ collections: [8], scope: 8 })).toThrowError(
      expect.objectContaining({ code: 'TRIB_CODEC_ENCODE' }),
    );
  });

  it('decode(encode(f)) = f', () => {
    fc.assert(
      fc.property(filter, (f) => {
        const v = encodeStreamRequestFilter(f);
        expect(v === undefined ? {} : decodeStreamRequestFilter(v)).toEqual(f);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses what kv_engine refuses', () => {
    for (const bad of [
      '[]',
      'x',
      '{"collections":"8"}',
      '{"collections":[8]}',
      '{"collections":["8"],"scope":"8"}',
      '{"scope":8}',
      '{"uid":11}',
      '{"sid":0}',
      '{"sid":1.5}',
      '{"sid":70000}',
      '{"purge_seqno":12}',
      '{"collections":["zz"]}',
    ]) {
      expect(() => decodeStreamRequestFilter(Buffer.from(bad)), bad).toThrowError(
        expect.objectContaining({ code: 'TRIB_BAD_VALUE' }),
      );
    }
  });

  it('random bytes and random JSON decode or throw TRIB_BAD_VALUE', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.json({ maxDepth: 2 }).map((s) => new Uint8Array(Buffer.from(s))),
          fc
            .record(
              {
                collections: fc.oneof(
                  fc.array(fc.oneof(fc.stringMatching(/^[0-9a-fA-F]{0,18}$/), fc.jsonValue({ maxDepth: 1 }))),
                  fc.jsonValue({ maxDepth: 1 }),
                ),
                scope: fc.oneof(fc.stringMatching(/^[0-9a-fA-F]{0,18}$/), fc.jsonValue({ maxDepth: 1 })),
                uid: fc.oneof(fc.stringMatching(/^[0-9a-fA-F]{0,18}$/), fc.jsonValue({ maxDepth: 1 })),
                sid: fc.oneof(fc.integer({ min: -2, max: 70_000 }), fc.jsonValue({ maxDepth: 1 })),
                purge_seqno: fc.oneof(fc.stringMatching(/^\d{0,20}$/), fc.jsonValue({ maxDepth: 1 })),
                x: fc.jsonValue({ maxDepth: 1 }),
              },
              { requiredKeys: [] },
            )
            .map((o) => new Uint8Array(Buffer.from(JSON.stringify(o)))),
        ),
        (bytes) => {
          try {
            decodeStreamRequestFilter(bytes);
          } catch (err) {
            expect(isTributaryError(err, 'TRIB_BAD_VALUE')).toBe(true);
          }
        },
      ),
      { numRuns: 5000 },
    );
  }, 30_000);
});
