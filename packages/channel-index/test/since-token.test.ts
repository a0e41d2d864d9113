import { decodeSince, decodeSinceToken, encodeSince } from '@tributary/channel-index';
import { isTributaryError } from '@tributary/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pushVarint } from '../src/internal/varint.js';

const clockArb = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 1023 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })), {
    maxLength: 64,
  })
  .map((pairs) => new Map(pairs));

describe('since tokens', () => {
  it('round-trip any vector clock and are URL-safe', () => {
    fc.assert(
      fc.property(clockArb, (clock) => {
        const token = encodeSince(clock);
        expect(token).toMatch(/^[0-9A-Za-z_-]+$/);
        expect(encodeURIComponent(token)).toBe(token);
        expect(decodeSince(token)).toEqual(clock);
      }),
    );
  });

  it('carry the rollback epoch when above 0 (format 2), and round-trip with it', () => {
    fc.assert(
      fc.property(clockArb, fc.integer({ min: 0, max: 2 ** 40 }), (clock, epoch) => {
        const token = encodeSince(clock, epoch);
        expect(token).toMatch(epoch > 0 ? /^2[0-9A-Za-z_-]+$/ : /^[01]/);
        expect(decodeSinceToken(token)).toEqual({ clock, epoch });
        expect(decodeSince(token)).toEqual(clock);
      }),
    );
    expect(decodeSinceToken('0')).toEqual({ clock: new Map(), epoch: 0 });
  });

  it('are compact: 1,024 vbuckets at seqno ~1e6 fit in about 4 bytes each', () => {
    const clock = new Map(Array.from({ length: 1024 }, (_, vb) => [vb, 1_000_000 + vb] as [number, number]));
    expect(encodeSince(clock).length).toBeLessThan(1024 * 6);
    expect(encodeSince(new Map([[5, 0]]))).toBe('0');
  });

  it('reject any malformed token with TRIB_CHANNEL_INDEX_BAD_SINCE, never another error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string().map((s) => `1${s}`),
          fc.uint8Array().map((b) => `1${Buffer.from(b).toString('base64url')}`),
          fc.uint8Array().map((b) => `2${Buffer.from(b).toString('base64url')}`),
        ),
        (s) => {
          try {
            const c = decodeSince(s);
            // whatever decodes must re-encode to a token that decodes the same
            expect(decodeSince(encodeSince(c))).toEqual(c);
            const t = decodeSinceToken(s);
            expect(decodeSinceToken(encodeSince(t.clock, t.epoch))).toEqual(t);
          } catch (err) {
            expect(isTributaryError(err, 'TRIB_CHANNEL_INDEX_BAD_SINCE')).toBe(true);
          }
        },
      ),
      { numRuns: 2000 },
    );
    for (const bad of ['x', '1', '1!!', '1AA', '1gA', '1/+', '2', '2AA', '3AQ'])
      expect(() => decodeSince(bad)).toThrow(/since/);
  });

  it('accept one spelling per clock: base64url with stray low bits is refused', () => {
    // vbucket 0 at seqno 5 is the bytes 00 05, "AAU"; "AAV" decodes to the same bytes
    expect(decodeSince('1AAU')).toEqual(new Map([[0, 5]]));
    expect(Buffer.from('AAV', 'base64url')).toEqual(Buffer.from([0, 5]));
    expect(() => decodeSince('1AAV')).toThrow(/canonical/);
  });

  it('refuse seqnos and epochs past Number.MAX_SAFE_INTEGER rather than round them', () => {
    const token = (prefix: string, ...numbers: number[]) => {
      const out: number[] = [];
      for (const n of numbers) pushVarint(out, n);
      return `${prefix}${Buffer.from(out).toString('base64url')}`;
    };
    expect(decodeSince(token('1', 0, Number.MAX_SAFE_INTEGER))).toEqual(
      new Map([[0, Number.MAX_SAFE_INTEGER]]),
    );
    expect(() => decodeSince(token('1', 0, 2 ** 53))).toThrow(/too large/);
    expect(() => decodeSince(token('2', 2 ** 53, 0, 1))).toThrow(/too large/);
  });

  it('read no token as the beginning, and name what is wrong with a bad one', () => {
    for (const none of [undefined, null, '', '0'])
      expect(decodeSinceToken(none)).toEqual({ clock: new Map(), epoch: 0 });
    const bytes = (...b: number[]) => Buffer.from(b).toString('base64url');
    // a valid body behind an unknown format
    expect(() => decodeSince(`3${bytes(0, 5)}`)).toThrow(/unknown format/);
    // the last seqno's varint cut off after a byte that says more follows
    expect(() => decodeSince(`1${bytes(0, 0x85)}`)).toThrow(/truncated/);
    // a varint longer than it needs to be (0 in two bytes, 5 in three), or of more than 8 continuation bytes
    expect(() => decodeSince(`1${bytes(0x80, 0, 5)}`)).toThrow(/overlong/);
    expect(() => decodeSince(`1${bytes(0, 0x85, 0x80, 0)}`)).toThrow(/overlong/);
    expect(() => decodeSince(`1${bytes(...Array(9).fill(0x80), 1, 5)}`)).toThrow(/too long/);
    expect(() => decodeSince(5 as never)).toThrow(/not a string/);
    // the highest vbucket goes through; one past it is refused
    expect(decodeSince(encodeSince(new Map([[0xffff, 3]])))).toEqual(new Map([[0xffff, 3]]));
    expect(() => decodeSince(`1${bytes(0x80, 0x80, 0x04, 1)}`)).toThrow(/vbucket out of range/);
  });
});
