// WirePacket.readExtrasU64: the allocation-free read the datasource uses for every DCP seqno.
import { decodePacket, encodePacket, FrameDecoder, Magic } from '@tributary/codec';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

describe('WirePacket.readExtrasU64', () => {
  it('equals the u64 read from the extras view, for any extras, framing extras and offset', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 31, maxLength: 31 }),
        fc.uint8Array({ maxLength: 12 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.boolean(),
        fc.nat(),
        (extras, framing, key, alt, pick) => {
          const at = pick % (extras.length - 7);
          const bytes = encodePacket({
            magic: alt ? Magic.AltRequest : Magic.Request,
            opcode: 0x57,
            extras,
            key: key.subarray(0, alt ? 40 : key.length),
            value: Buffer.from('v'),
            ...(alt ? { framingExtras: framing } : {}),
          });
          // Behind other bytes too, as FrameDecoder hands out views into a chunk.
          const chunk = Buffer.concat([bytes, bytes]);
          const [, p] = new FrameDecoder().push(chunk);
          const view = Buffer.from(extras);
          const want = view.readUInt32BE(at) * 4294967296 + view.readUInt32BE(at + 4);
          expect(p!.readExtrasU64(at)).toBe(want);
          expect(decodePacket(bytes).readExtrasU64(at)).toBe(want);
        },
      ),
    );
  });

  it('reads seqnos exactly up to 2^53 - 1', () => {
    const extras = Buffer.alloc(31);
    extras.writeBigUInt64BE(BigInt(Number.MAX_SAFE_INTEGER), 0);
    extras.writeBigUInt64BE(0x0000000100000002n, 8);
    const p = decodePacket(encodePacket({ magic: Magic.Request, opcode: 0x57, extras }));
    expect(p.readExtrasU64(0)).toBe(Number.MAX_SAFE_INTEGER);
    expect(p.readExtrasU64(8)).toBe(4294967298);
  });

  it('throws RangeError outside the extras', () => {
    // DCP_DELETION v1: 18 bytes of extras.
    const p = decodePacket(encodePacket({ magic: Magic.Request, opcode: 0x58, extras: Buffer.alloc(18) }));
    expect(p.readExtrasU64(10)).toBe(0);
    expect(() => p.readExtrasU64(11)).toThrow(RangeError);
    expect(() => p.readExtrasU64(-1)).toThrow(RangeError);
    const none = decodePacket(encodePacket({ magic: Magic.Request, opcode: 0x0a }));
    expect(() => none.readExtrasU64(0)).toThrow(RangeError);
  });
});
