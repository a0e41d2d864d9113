import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeKeyList, encodeKeyList } from '../src/index.js';

const key = fc.uint8Array({ minLength: 0, maxLength: 300 });

describe('key lists (store change notifications)', () => {
  it('round-trip any keys, including empty ones and 0x00 / 0xff bytes', () => {
    fc.assert(
      fc.property(fc.array(key, { maxLength: 50 }), (keys) => {
        const back = decodeKeyList(encodeKeyList(keys));
        expect(back.map((k) => [...k])).toEqual(keys.map((k) => [...k]));
      }),
    );
  });

  it('a list cut anywhere decodes to the keys wholly before the cut, never more, never throws', () => {
    fc.assert(
      fc.property(fc.array(key, { minLength: 1, maxLength: 20 }), fc.nat(), (keys, at) => {
        const buf = encodeKeyList(keys);
        const cut = at % (buf.length + 1);
        const back = decodeKeyList(buf.subarray(0, cut));
        let whole = 0;
        let o = 0;
        for (const k of keys) {
          if (o + 2 + k.length > cut) break;
          o += 2 + k.length;
          whole++;
        }
        expect(back.length).toBe(whole);
        expect(back.map((k) => [...k])).toEqual(keys.slice(0, whole).map((k) => [...k]));
      }),
    );
  });

  it('random bytes decode without throwing, every key inside the buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        const buf = Buffer.from(bytes);
        let total = 0;
        for (const k of decodeKeyList(buf)) total += 2 + k.length;
        expect(total).toBeLessThanOrEqual(buf.length);
      }),
    );
  });
});
