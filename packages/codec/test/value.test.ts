import {
  Datatype,
  decodeDocumentValue,
  decompressValue,
  ErrBadValue,
  encodeXattrs,
  parseXattrs,
  snappyCompress,
  snappyUncompress,
  snappyUncompressedLength,
} from '@tributary/codec';
import { describe, expect, it } from 'vitest';

describe('snappy values', () => {
  it('inflates only when the datatype has the Snappy bit', () => {
    const doc = Buffer.from(JSON.stringify({ hello: 'world'.repeat(20) }));
    const z = snappyCompress(doc);
    expect(z.length).toBeLessThan(doc.length);
    expect(snappyUncompressedLength(z)).toBe(doc.length);
    expect(decompressValue({ datatype: Datatype.Snappy | Datatype.Json, value: z }).equals(doc)).toBe(true);
    expect(decompressValue({ datatype: Datatype.Json, value: doc })).toBe(doc);
  });

  it('C raw snappy block by hand: literal "abc" = 03 08 61 62 63', () => {
    expect(snappyUncompress(Buffer.from('0308616263', 'hex')).toString()).toBe('abc');
  });

  it('rejects corrupt blocks and decompression bombs with TRIB_BAD_VALUE', () => {
    expect(() => snappyUncompress(Buffer.from([5, 1, 2]))).toThrowError(
      expect.objectContaining({ code: ErrBadValue.code }),
    );
    // Announces 4 GiB - 1.
    expect(() => snappyUncompress(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0]))).toThrowError(
      expect.objectContaining({ code: 'TRIB_BAD_VALUE' }),
    );
    expect(() => snappyUncompress(snappyCompress(Buffer.alloc(1000)), 100)).toThrow(/limit 100/);
    expect(() => snappyUncompressedLength(Buffer.from([0x80]))).toThrow(/varint/);
  });
});

describe('xattrs', () => {
  it('C parses a hand-built section: {"a":"1"} then body "{}"', () => {
    // u32 section length 10 · u32 pair length 6 · "a\0" "\"1\"\0"... here value `1`: a 00 31 00
    const v = Buffer.from('00000008' + '00000004' + '61003100' + '7b7d', 'hex');
    expect(parseXattrs(v)).toEqual({ xattrs: { a: '1' }, body: Buffer.from('{}') });
  });

  it('round-trips and combines with snappy in decodeDocumentValue', () => {
    const xattrs = { _sync: '{"rev":"2-b"}', meta: '"x"' };
    const raw = encodeXattrs(xattrs, '{"k":1}');
    const d = decodeDocumentValue({
      datatype: Datatype.Xattr | Datatype.Snappy | Datatype.Json,
      value: snappyCompress(raw),
    });
    expect(d).toEqual({ body: Buffer.from('{"k":1}'), xattrs, datatype: Datatype.Json });
    expect(decodeDocumentValue({ datatype: 0, value: Buffer.from('raw') })).toEqual({
      body: Buffer.from('raw'),
      datatype: 0,
    });
  });

  it('rejects malformed sections with TRIB_BAD_VALUE', () => {
    const bad = [
      '000000', // no length
      '00000010' + '00', // section longer than value
      '00000008' + '00000005' + '61003100', // pair overruns section
      '00000008' + '00000004' + '61623100', // key not terminated inside pair
      '00000008' + '00000004' + '61003131', // value not NUL-terminated
      '00000006' + '00000002' + '0000', // empty key
    ];
    for (const h of bad) {
      expect(() => parseXattrs(Buffer.from(h, 'hex'))).toThrowError(
        expect.objectContaining({ code: 'TRIB_BAD_VALUE' }),
      );
    }
  });
});
