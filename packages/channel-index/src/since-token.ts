import { ErrBadSince } from './errors.js';
import { pushVarint } from './internal/varint.js';

/** A vector clock: vbucket → highest seqno seen. Vbuckets absent from the map are at 0. */
export type VectorClock = Map<number, number>;

const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/**
 * Encodes a vector clock as a compact URL-safe token: "1" (format version) followed by base64url
 * of varint pairs (vbucket delta, seqno) in vbucket order. Zero entries are dropped; the empty
 * clock is "0". With a rollback epoch above 0 the token is "2" followed by base64url of the
 * varint epoch and then the same pairs (so the index can tell a position taken before a rollback).
 */
export function encodeSince(clock: ReadonlyMap<number, number>, epoch = 0): string {
  const vbs = [...clock.keys()].filter((vb) => (clock.get(vb) ?? 0) > 0).sort((a, b) => a - b);
  if (vbs.length === 0 && epoch === 0) return '0';
  const out: number[] = [];
  if (epoch > 0) pushVarint(out, epoch);
  let prev = -1;
  for (const vb of vbs) {
    pushVarint(out, vb - prev - 1);
    pushVarint(out, clock.get(vb)!);
    prev = vb;
  }
  return `${epoch > 0 ? '2' : '1'}${Buffer.from(out).toString('base64url')}`;
}

/** Decodes a token made by encodeSince ("0", "" and undefined are the empty clock). */
export function decodeSince(token: string | undefined | null): VectorClock {
  return decodeSinceToken(token).clock;
}

/** Decodes a token with its rollback epoch (0 for "0" and "1" tokens). */
export function decodeSinceToken(token: string | undefined | null): { clock: VectorClock; epoch: number } {
  const clock: VectorClock = new Map();
  if (token === undefined || token === null || token === '' || token === '0') return { clock, epoch: 0 };
  if (typeof token !== 'string') throw ErrBadSince('not a string');
  if (token[0] !== '1' && token[0] !== '2') throw ErrBadSince('unknown format');
  const body = token.slice(1);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) throw ErrBadSince('not base64url');
  const bytes = Buffer.from(body, 'base64url');
  if (bytes.toString('base64url') !== body) throw ErrBadSince('not canonical base64url');
  let i = 0;
  const readVarint = (): number => {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (i >= bytes.length) throw ErrBadSince('truncated');
      const b = bytes[i++]!;
      n += (b & 0x7f) * mul;
      if (n > MAX_SEQ) throw ErrBadSince('number too large');
      if ((b & 0x80) === 0) {
        // a last byte of 0 after others spells the same number in fewer bytes: one spelling per clock
        if (b === 0 && mul > 1) throw ErrBadSince('overlong varint');
        return n;
      }
      mul *= 0x80;
      if (mul > 2 ** 56) throw ErrBadSince('varint too long');
    }
  };
  let epoch = 0;
  if (token[0] === '2') {
    epoch = readVarint();
    if (epoch === 0) throw ErrBadSince('zero epoch');
  }
  let vb = -1;
  while (i < bytes.length) {
    vb += readVarint() + 1;
    if (vb > 0xffff) throw ErrBadSince('vbucket out of range');
    const seq = readVarint();
    if (seq === 0) throw ErrBadSince('zero seqno');
    clock.set(vb, seq);
  }
  return { clock, epoch };
}
