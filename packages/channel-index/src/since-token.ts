import { ErrBadSince } from './errors.js';

/** A vector clock: vbucket → highest seqno seen. Vbuckets absent from the map are at 0. */
export type VectorClock = Map<number, number>;

const MAX_SEQ = Number.MAX_SAFE_INTEGER;

function pushVarint(out: number[], n: number): void {
  // Little-endian base-128, safe up to 2^53 (no bitwise ops above 32 bits).
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

/**
 * Encodes a vector clock as a compact URL-safe token: "1" (format version) followed by base64url
 * of varint pairs (vbucket delta, seqno) in vbucket order. Zero entries are dropped; the empty
 * clock is "0".
 */
export function encodeSince(clock: ReadonlyMap<number, number>): string {
  const vbs = [...clock.keys()].filter((vb) => (clock.get(vb) ?? 0) > 0).sort((a, b) => a - b);
  if (vbs.length === 0) return '0';
  const out: number[] = [];
  let prev = -1;
  for (const vb of vbs) {
    pushVarint(out, vb - prev - 1);
    pushVarint(out, clock.get(vb)!);
    prev = vb;
  }
  return `1${Buffer.from(out).toString('base64url')}`;
}

/** Decodes a token made by encodeSince ("0", "" and undefined are the empty clock). */
export function decodeSince(token: string | undefined | null): VectorClock {
  const clock: VectorClock = new Map();
  if (token === undefined || token === null || token === '' || token === '0') return clock;
  if (typeof token !== 'string') throw ErrBadSince('not a string');
  if (token[0] !== '1') throw ErrBadSince('unknown format');
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
      if ((b & 0x80) === 0) return n;
      mul *= 0x80;
      if (mul > 2 ** 56) throw ErrBadSince('varint too long');
    }
  };
  let vb = -1;
  while (i < bytes.length) {
    vb += readVarint() + 1;
    if (vb > 0xffff) throw ErrBadSince('vbucket out of range');
    const seq = readVarint();
    if (seq === 0) throw ErrBadSince('zero seqno');
    clock.set(vb, seq);
  }
  return clock;
}
