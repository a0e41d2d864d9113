// options.collections forms, and the manifest uid in the vbucket metadata (a parser: properties).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCollectionsOption } from '../src/collections/collections-option.js';
import { decodeMetaData, encodeMetaData, type VBucketMetaData } from '../src/index.js';

describe('options.collections', () => {
  it('accepts the documented forms', () => {
    expect(parseCollectionsOption(undefined)).toBeUndefined();
    expect(parseCollectionsOption([])).toEqual({ mode: 'all' });
    expect(parseCollectionsOption({})).toEqual({ mode: 'all' });
    expect(parseCollectionsOption(['8', 'A', '8'])).toEqual({ mode: 'ids', ids: [8, 10] });
    expect(parseCollectionsOption({ ids: [9, 'a'] })).toEqual({ mode: 'ids', ids: [9, 10] });
    expect(parseCollectionsOption({ scope: 'app' })).toEqual({ mode: 'scope', scope: 'app' });
    expect(parseCollectionsOption({ scope: 'app', names: ['users', 'app.orders'] })).toEqual({
      mode: 'names',
      names: [
        { scope: 'app', collection: 'users' },
        { scope: 'app', collection: 'orders' },
      ],
    });
    expect(parseCollectionsOption({ names: ['c', 'a.b', 'a.b'] })).toEqual({
      mode: 'names',
      names: [
        { scope: '_default', collection: 'c' },
        { scope: 'a', collection: 'b' },
      ],
    });
  });

  it('refuses what cannot work', () => {
    for (const bad of [
      ['_default'],
      { ids: [] },
      { ids: ['8'], scope: 'a' },
      { names: [] },
      { names: ['x.y'], scope: 'a' },
      { names: ['a b'] },
      { scope: 7 },
      { collections: ['8'] },
      'all',
      null,
    ]) {
      expect(() => parseCollectionsOption(bad), JSON.stringify(bad)).toThrowError(
        expect.objectContaining({ code: 'TRIB_INVALID_ARGUMENT' }),
      );
    }
  });
});

describe('vbucket metadata with a manifest uid', () => {
  it('round-trips, and stays cbdatasource JSON without one', () => {
    const meta = fc.record(
      {
        seqStart: fc.maxSafeNat(),
        seqEnd: fc.maxSafeNat(),
        snapStart: fc.maxSafeNat(),
        snapEnd: fc.maxSafeNat(),
        failOverLog: fc.array(
          fc.record({ vbucketUuid: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), seqno: fc.maxSafeNat() }),
          { maxLength: 5 },
        ),
        manifestUid: fc.integer({ min: 0, max: 2 ** 52 }),
      },
      { requiredKeys: ['seqStart', 'seqEnd', 'snapStart', 'snapEnd', 'failOverLog'] },
    );
    fc.assert(
      fc.property(meta, (m: VBucketMetaData) => {
        const bytes = encodeMetaData(m);
        expect(decodeMetaData(0, bytes)).toEqual(m);
        expect(Buffer.from(bytes).toString().includes('manifestUid')).toBe(m.manifestUid !== undefined);
      }),
    );
  });

  it('refuses a manifest uid that is not a hex string', () => {
    for (const v of ['1', '"xyz"', '""']) {
      expect(() =>
        decodeMetaData(
          0,
          Buffer.from(`{"seqStart":0,"seqEnd":0,"snapStart":0,"snapEnd":0,"manifestUid":${v}}`),
        ),
      ).toThrowError(expect.objectContaining({ code: 'TRIB_DATASOURCE_METADATA' }));
    }
  });
});
