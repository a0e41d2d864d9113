import { crc32 } from 'node:zlib';
import { vbucketForKey } from '@tributary/codec';
import { describe, expect, it } from 'vitest';

describe('vbucketForKey', () => {
  it('F go-couchbase vbmap_test.go (256 vbuckets): k0..k5', () => {
    expect(['k0', 'k1', 'k2', 'k3', 'k4', 'k5'].map((k) => vbucketForKey(k, 256))).toEqual([
      9, 14, 7, 0, 100, 99,
    ]);
  });

  it('C computed from CRC-32/IEEE (1024 and 64 vbuckets), dcp-protocol.md §7', () => {
    const cases: [string, number, number][] = [
      ['hello', 0x3610a686, 528],
      ['foo', 0x8c736521, 115],
      ['key1', 0x2c5c6450, 92],
      ['doc1', 0xc9850b0b, 389],
      ['airline_10', 0x0d694ea7, 361],
    ];
    for (const [key, crc, vb] of cases) {
      expect(crc32(key) >>> 0).toBe(crc);
      expect(vbucketForKey(key, 1024)).toBe(vb);
      expect(vbucketForKey(Buffer.from(key), 1024)).toBe(vb);
    }
    expect(vbucketForKey('hello', 64)).toBe(16);
    expect(vbucketForKey('foo', 64)).toBe(51);
  });

  it('hashes strings as UTF-8 and works for non-power-of-two counts', () => {
    expect(vbucketForKey('ключ', 1024)).toBe(vbucketForKey(Buffer.from('ключ', 'utf8'), 1024));
    expect(vbucketForKey('hello', 1000)).toBe(((0x3610a686 >>> 16) & 0x7fff) % 1000);
  });

  it('rejects bad vbucket counts', () => {
    expect(() => vbucketForKey('a', 0)).toThrowError(
      expect.objectContaining({ code: 'TRIB_INVALID_ARGUMENT' }),
    );
    expect(() => vbucketForKey('a', 1.5)).toThrow();
  });
});
