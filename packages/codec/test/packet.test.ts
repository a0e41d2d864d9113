import * as codec from '@tributary/codec';
import {
  decodeDcpMutation,
  decodeHeader,
  decodePacket,
  ErrBadExtras,
  ErrBadFrame,
  ErrBadMagic,
  ErrEncode,
  ErrTruncatedFrame,
  ErrUnexpectedPacket,
  encodeDcpMutation,
  encodeFrameInfos,
  encodeHeader,
  encodePacket,
  encodeStreamIdFrame,
  HEADER_BYTES,
  Magic,
  Opcode,
  parseFrameInfos,
  Status,
  streamIdOf,
} from '@tributary/codec';
import { isTributaryError } from '@tributary/core';
import { describe, expect, it } from 'vitest';

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(isTributaryError(err)).toBe(true);
    return (err as { code: string }).code;
  }
  throw new Error('expected a throw');
}

describe('header', () => {
  it('encodes and decodes a classic request header', () => {
    const h = encodeHeader({
      magic: Magic.Request,
      opcode: Opcode.Get,
      keyLength: 3,
      vbucket: 0x1234,
      bodyLength: 3,
      opaque: 0xfeedface,
      cas: 0x0102030405060708n,
    });
    expect(h.toString('hex')).toBe('80000003000012340000000' + '3feedface0102030405060708');
    expect(decodeHeader(h)).toEqual({
      magic: 0x80,
      opcode: 0,
      keyLength: 3,
      extrasLength: 0,
      framingExtrasLength: 0,
      datatype: 0,
      vbucket: 0x1234,
      status: 0,
      bodyLength: 3,
      opaque: 0xfeedface,
      cas: 0x0102030405060708n,
    });
  });

  it('reads status for responses and the flexible-framing layout for 0x08/0x18', () => {
    const r = encodeHeader({
      magic: Magic.AltResponse,
      opcode: 1,
      framingExtrasLength: 3,
      keyLength: 2,
      status: 0x86,
    });
    const d = decodeHeader(r);
    expect(d).toMatchObject({
      magic: 0x18,
      framingExtrasLength: 3,
      keyLength: 2,
      status: 0x86,
      vbucket: 0,
      bodyLength: 5,
    });
    expect(r[2]).toBe(3);
    expect(r[3]).toBe(2);
  });

  it('refuses header fields that do not fit', () => {
    expect(codeOf(() => encodeHeader({ magic: 0x42, opcode: 0 }))).toBe(ErrEncode.code);
    expect(codeOf(() => encodeHeader({ magic: Magic.AltRequest, opcode: 0, keyLength: 256 }))).toBe(
      ErrEncode.code,
    );
    expect(codeOf(() => encodeHeader({ magic: Magic.Request, opcode: 0, framingExtrasLength: 1 }))).toBe(
      ErrEncode.code,
    );
    expect(codeOf(() => decodeHeader(Buffer.alloc(10)))).toBe(ErrTruncatedFrame.code);
  });
});

describe('encodePacket / decodePacket', () => {
  it('round-trips every field and returns views into the input', () => {
    const bytes = encodePacket({
      magic: Magic.AltRequest,
      opcode: Opcode.DcpMutation,
      datatype: 3,
      vbucket: 1023,
      opaque: 0xffffffff,
      cas: 0xffffffffffffffffn,
      framingExtras: encodeStreamIdFrame(7),
      extras: Buffer.alloc(31, 1),
      key: 'k',
      value: Buffer.from('v'),
    });
    const p = decodePacket(bytes);
    expect(p.toObject()).toMatchObject({
      magic: 0x08,
      opcode: 0x57,
      datatype: 3,
      vbucket: 1023,
      status: 0,
      opaque: 0xffffffff,
      cas: 0xffffffffffffffffn,
    });
    expect(streamIdOf(p.framingExtras)).toBe(7);
    expect(p.key.toString()).toBe('k');
    expect(p.value.buffer).toBe(bytes.buffer);
    bytes[bytes.length - 1] = 0x77; // a view, not a copy
    expect(p.value.toString()).toBe('w');
    expect(p.frameLength).toBe(bytes.length);
  });

  it('sets status for responses and vbucket to 0', () => {
    const p = decodePacket(encodePacket({ magic: Magic.Response, opcode: 0, status: Status.NotMyVbucket }));
    expect(p.status).toBe(7);
    expect(p.vbucket).toBe(0);
    expect(p.key.length + p.extras.length + p.value.length + p.framingExtras.length).toBe(0);
  });

  it('refuses framing extras on a classic magic', () => {
    expect(
      codeOf(() => encodePacket({ magic: Magic.Request, opcode: 0, framingExtras: Buffer.from([0x00]) })),
    ).toBe(ErrEncode.code);
  });

  it('toJSON gives a plain serialisable view', () => {
    const p = decodePacket(
      encodePacket({ magic: Magic.Request, opcode: 1, key: 'a', extras: Buffer.alloc(8) }),
    );
    expect(JSON.parse(JSON.stringify(p))).toMatchObject({ magic: 128, opcode: 1, key: '61', cas: '0' });
  });
});

describe('bad input: each problem has its own code', () => {
  const good = encodePacket({ magic: Magic.Request, opcode: Opcode.Get, key: 'abc' });

  it('wrong magic → TRIB_BAD_MAGIC', () => {
    const b = Buffer.from(good);
    b[0] = 0x42;
    expect(codeOf(() => decodePacket(b))).toBe(ErrBadMagic.code);
    expect(ErrBadMagic.code).toBe('TRIB_BAD_MAGIC');
  });

  it('body length smaller than key + extras + framing extras → TRIB_BAD_FRAME', () => {
    const b = Buffer.from(good);
    b.writeUInt32BE(2, 8); // key is 3
    expect(codeOf(() => decodePacket(b.subarray(0, 26)))).toBe(ErrBadFrame.code);
    const alt = encodePacket({
      magic: Magic.AltRequest,
      opcode: 0x99,
      framingExtras: Buffer.from([0x00]),
      key: 'x',
    });
    const a = Buffer.from(alt);
    a.writeUInt32BE(1, 8);
    expect(codeOf(() => decodePacket(a.subarray(0, 25)))).toBe('TRIB_BAD_FRAME');
  });

  it('extras length that does not fit its opcode → TRIB_BAD_EXTRAS', () => {
    const b = encodePacket({
      magic: Magic.Request,
      opcode: Opcode.DcpMutation,
      extras: Buffer.alloc(30),
      key: 'k',
    });
    expect(codeOf(() => decodePacket(b))).toBe(ErrBadExtras.code);
    const s = encodePacket({ magic: Magic.Request, opcode: Opcode.DcpStreamReq, extras: Buffer.alloc(47) });
    expect(codeOf(() => decodePacket(s))).toBe('TRIB_BAD_EXTRAS');
  });

  it('truncated packet → TRIB_TRUNCATED_FRAME; trailing bytes → TRIB_BAD_FRAME', () => {
    expect(codeOf(() => decodePacket(good.subarray(0, good.length - 1)))).toBe(ErrTruncatedFrame.code);
    expect(codeOf(() => decodePacket(good.subarray(0, 5)))).toBe('TRIB_TRUNCATED_FRAME');
    expect(codeOf(() => decodePacket(Buffer.concat([good, Buffer.of(0)])))).toBe('TRIB_BAD_FRAME');
  });

  it('typed decoder given another opcode → TRIB_UNEXPECTED_PACKET', () => {
    expect(codeOf(() => decodeDcpMutation(decodePacket(good)))).toBe(ErrUnexpectedPacket.code);
  });

  it('seqno above 2^53-1 → TRIB_BAD_FRAME', () => {
    const m = encodeDcpMutation({
      vbucket: 0,
      opaque: 0,
      cas: 0n,
      datatype: 0,
      bySeqno: 1,
      revSeqno: 1,
      flags: 0,
      expiry: 0,
      lockTime: 0,
      key: Buffer.from('k'),
      value: Buffer.alloc(0),
    });
    m.writeUInt32BE(0x00200000, HEADER_BYTES); // bySeqno = 2^53
    expect(codeOf(() => decodeDcpMutation(decodePacket(m)))).toBe(ErrBadFrame.code);
  });

  it('non-Uint8Array input → TRIB_BAD_FRAME', () => {
    expect(codeOf(() => decodePacket('nope' as unknown as Uint8Array))).toBe('TRIB_BAD_FRAME');
  });
});

describe('frame infos', () => {
  it('encodes and parses escaped ids and lengths', () => {
    const infos = [
      { id: 0, data: Buffer.alloc(0) },
      { id: 2, data: Buffer.from([0, 9]) },
      { id: 20, data: Buffer.alloc(17, 5) },
    ];
    const enc = encodeFrameInfos(infos);
    expect(enc.subarray(0, 4).toString('hex')).toBe('00220009');
    expect(enc[4]).toBe(0xff); // id 15+5, len 15+2
    expect(parseFrameInfos(enc)).toEqual(infos);
    expect(streamIdOf(enc)).toBe(9);
    expect(codeOf(() => parseFrameInfos(Buffer.from([0x23, 0])))).toBe('TRIB_BAD_FRAME');
    expect(codeOf(() => parseFrameInfos(Buffer.from([0xf0])))).toBe('TRIB_BAD_FRAME');
  });
});

describe('typed decoders given things that are not wire packets', () => {
  const decoders = Object.entries(codec).filter(
    ([name, f]) =>
      name.startsWith('decode') &&
      typeof f === 'function' &&
      !name.includes('Transport') && // the transport helper's codec, tested in transport-frame.test.ts
      !['decodePacket', 'decodeHeader', 'decodeLeb128', 'decodeFailoverLog', 'decodeDocumentValue'].includes(
        name,
      ),
  ) as [string, (p: unknown) => unknown][];

  it('throw only TributaryError, and accept plain objects with Uint8Array parts', () => {
    expect(decoders.length).toBeGreaterThan(35);
    const plain = encodeDcpMutation({
      vbucket: 3,
      opaque: 4,
      cas: 5n,
      datatype: 0,
      bySeqno: 6,
      revSeqno: 7,
      flags: 0,
      expiry: 0,
      lockTime: 0,
      key: Buffer.from('k'),
      value: Buffer.from('v'),
    });
    const obj = decodePacket(plain).toObject();
    const asU8 = (b: Buffer) => new Uint8Array(b);
    const inputs: unknown[] = [
      null,
      undefined,
      42,
      {},
      { magic: 0x80 },
      { ...obj, extras: asU8(obj.extras), key: asU8(obj.key), value: asU8(obj.value) },
      { ...obj, extras: 'nope' },
    ];
    for (const [name, decode] of decoders) {
      for (const input of inputs) {
        try {
          decode(input);
        } catch (err) {
          if (!isTributaryError(err))
            throw new Error(`${name}(${JSON.stringify(input)}) threw ${String(err)}`);
        }
      }
    }
    const m = codec.decodeDcpMutation({
      ...obj,
      extras: asU8(obj.extras),
      key: asU8(obj.key),
      value: asU8(obj.value),
    } as unknown as codec.Packet);
    expect(m.key.toString()).toBe('k');
    expect(m.bySeqno).toBe(6);
  });
});
