import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultChannelsOf } from '../src/channels-of.js';
import { parseBody } from '../src/internal/apply-mutations.js';
import { channelsField, PARSE } from '../src/internal/channels-field.js';

// channelsField must answer exactly what the default channelsOf answers on the parsed document
// (a document JSON.parse rejects has no channels), or PARSE. Checked against JSON.parse itself on
// generated documents, on those documents damaged byte by byte, and on arbitrary bytes.
const expected = (b: Buffer) => defaultChannelsOf('', parseBody(b), undefined as never);
const viaScan = (b: Buffer) => {
  const r = channelsField(b);
  return r === PARSE ? expected(b) : r;
};
const same = (b: Buffer): void => {
  expect(viaScan(b), b.toString('latin1')).toEqual(expected(b));
};

const channelName = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.constantFrom('a"b', 'a\\b', 'tab\there', 'nl\n', '\u0000', '\u2028', 'é'),
);
const channelsValue = fc.oneof(
  channelName,
  fc.array(channelName, { maxLength: 4 }),
  fc.array(fc.oneof(channelName, fc.integer(), fc.constant(null), fc.jsonValue({ maxDepth: 2 })), {
    maxLength: 4,
  }),
  fc.jsonValue({ maxDepth: 3 }),
);
const doc = fc
  .tuple(
    fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
    fc.option(channelsValue, { nil: undefined }),
    fc.nat(5),
  )
  .map(([rest, channels, at]) => {
    const entries = Object.entries(rest);
    if (channels !== undefined) entries.splice(Math.min(at, entries.length), 0, ['channels', channels]);
    return entries;
  });
// JSON text for a list of members, with whitespace of every legal kind between tokens
const ws = fc.constantFrom('', ' ', '\n', '\t', '\r\n  ');
const text = fc.tuple(doc, fc.array(ws, { minLength: 8, maxLength: 8 })).map(([members, w]) => {
  const body = members
    .map(
      ([k, v], i) => `${w[i % 8]}${JSON.stringify(k)}${w[(i + 1) % 8]}:${w[(i + 2) % 8]}${JSON.stringify(v)}`,
    )
    .join(`${w[3]},`);
  return `${w[4]}{${body}${w[5]}}${w[6]}`;
});

describe('defaultChannelsOf', () => {
  it('takes a string or the strings of an array, and nothing else', () => {
    const of = (doc: unknown) => defaultChannelsOf('k', doc, undefined as never);
    expect(of({ channels: 'a' })).toEqual(['a']);
    expect(of({ channels: ['a', 5, 'b', null] })).toEqual(['a', 'b']);
    expect(of({ channels: [5, {}] })).toEqual([]);
    for (const doc of [{ channels: 5 }, {}, null, 'channels', []]) expect(of(doc)).toBeUndefined();
  });
});

describe('channelsField (the default channelsOf without a parse)', () => {
  it('answers as the default channelsOf does on JSON.parse, for generated documents', () => {
    fc.assert(
      fc.property(text, (t) => same(Buffer.from(t))),
      { numRuns: 2000 },
    );
  });

  it('answers the same for documents damaged byte by byte (insertions, deletions, replacements, cuts)', () => {
    const structural = fc.constantFrom(
      ...'{}[]":,\\ \n-0123456789.eE+truefalsn'.split('').map((c) => c.charCodeAt(0)),
      0x00,
      0x1f,
      0x7f,
      0x80,
      0xc3,
      0xe2,
      0xef,
      0xff,
    );
    const edit = fc.tuple(fc.constantFrom('insert', 'delete', 'replace', 'cut'), fc.nat(), structural);
    fc.assert(
      fc.property(text, fc.array(edit, { minLength: 1, maxLength: 4 }), (t, edits) => {
        const b = [...Buffer.from(t)];
        for (const [kind, at, byte] of edits) {
          const i = b.length === 0 ? 0 : at % (b.length + (kind === 'insert' ? 1 : 0));
          if (kind === 'insert') b.splice(i, 0, byte);
          else if (kind === 'delete') b.splice(i, 1);
          else if (kind === 'replace') b[i] = byte;
          else b.length = i;
        }
        same(Buffer.from(b));
      }),
      { numRuns: 3000 },
    );
  });

  it('answers the same for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => same(Buffer.from(bytes))),
      { numRuns: 2000 },
    );
  });

  it('follows JSON.parse on the cases that decide a field', () => {
    const cases = [
      '{"channels":"a"}',
      '{"channels":["a","b"]}',
      '{"channels":[]}',
      '{"channels":"a","channels":["b"]}', // the last duplicate wins
      '{"chann\\u0065ls":["esc"]}', // an escaped key that spells it
      '{"channels":["a\\"b","c"]}', // escapes inside a name
      '{"channels":["a",1,null,"b"]}',
      '{"channels":{"x":1}}',
      '{"channels":7}',
      '{"x":{"channels":["nested"]}}', // not top-level
      '["channels",["a"]]',
      '"channels"',
      '{"channels":["a"]',
      '{"channels":["a"],}',
      '{"channels":["a"]} x',
      '\ufeff{"channels":["bom"]}',
      '{"channels":["a"]}\u00a0',
      '{"channels":["tab\there"]}', // a raw control character in a string
      '{"n":01,"channels":["a"]}',
      '{"n":1.,"channels":["a"]}',
      '{"n":-0.5e+3,"channels":["a"]}',
      '{"n":tru,"channels":["a"]}',
      '{"channels":["\u00e9\u2028"]}',
      `{"deep":${'['.repeat(300)}${']'.repeat(300)},"channels":["deep"]}`,
      `{"deep":${'['.repeat(300)}${']'.repeat(299)},"channels":["bad"]}`,
    ];
    for (const c of cases) same(Buffer.from(c));
    // invalid UTF-8 inside a name decodes to U+FFFD as the whole document would
    same(Buffer.concat([Buffer.from('{"channels":["a'), Buffer.from([0xe2, 0x80]), Buffer.from('"]}')]));
    same(Buffer.concat([Buffer.from('{"channels":"'), Buffer.from([0xff, 0xc3]), Buffer.from('"}')]));
    // and the cases it must not answer itself
    expect(channelsField(Buffer.from('{"chann\\u0065ls":["esc"]}'))).toBe(PARSE);
    expect(channelsField(Buffer.from(`{"d":${'['.repeat(300)}${']'.repeat(300)}}`))).toBe(PARSE);
    expect(channelsField(Buffer.from('{"a":1,"channels":["x","y"]}'))).toEqual(['x', 'y']);
  });
});
