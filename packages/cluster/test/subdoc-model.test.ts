// Property tests for sub-document paths and operations against a model on parsed JSON values:
// the semantics of kv_engine docs/SubDocument.md ("Path", "Command Listings") restated over
// plain JavaScript objects and arrays. The engine under test splices bytes; the model rebuilds
// values; both must agree on the status and on the resulting document.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runOperation } from '../src/internal/subdoc/operations.js';
import { type PathComponent, parsePath } from '../src/internal/subdoc/path.js';
import { SubdocStatus as S, SubdocOp } from '../src/internal/subdoc/status.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Comp = { key: string } | { index: number };

// Keys mix path metacharacters (which need backticks), JSON escapes and non-ASCII; no empty
// keys and none that look like array indexes (JS would reorder those).
const keyArb = fc
  .array(fc.constantFrom('a', 'b', 'k', 'Z', '.', '[', ']', '`', '"', '\\', ' ', 'é', '☃', '_'), {
    minLength: 1,
    maxLength: 4,
  })
  .map((cs) => `k${cs.join('')}`);

const leafArb: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -1000, max: 1000 }),
  fc.constantFrom(1.5, -0.25, 1e21),
  fc.constantFrom('', 'x', 'hello world', 'quote"d', 'é'),
);

const docArb: fc.Arbitrary<Json> = fc.letrec<{ v: Json }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(keyArb, tie('v'), { maxKeys: 4 }),
  ),
})).v;

const rootArb: fc.Arbitrary<Json> = fc.oneof(
  fc.dictionary(keyArb, docArb, { maxKeys: 5 }),
  fc.array(docArb, { maxLength: 5 }),
);

/** A path into `doc` that mostly exists, sometimes strays. */
function pathArb(doc: Json): fc.Arbitrary<Comp[]> {
  const step = (v: Json, depth: number): fc.Arbitrary<Comp[]> => {
    const stop = fc.constant<Comp[]>([]);
    const stray = fc.oneof(
      keyArb.map((key) => [{ key }]),
      fc.integer({ min: -1, max: 6 }).map((index) => [{ index }]),
    );
    if (depth > 4) return stop;
    if (Array.isArray(v)) {
      if (v.length === 0) return fc.oneof(stop, stray);
      return fc.oneof(
        stop,
        stray,
        fc
          .integer({ min: -1, max: v.length - 1 })
          .chain((i) =>
            step(v[i === -1 ? v.length - 1 : i], depth + 1).map((rest) => [{ index: i }, ...rest]),
          ),
      );
    }
    if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      if (keys.length === 0) return fc.oneof(stop, stray);
      return fc.oneof(
        stop,
        stray,
        fc.constantFrom(...keys).chain((key) => step(v[key], depth + 1).map((rest) => [{ key }, ...rest])),
      );
    }
    return fc.oneof(stop, stray);
  };
  return step(doc, 0);
}

/** The path syntax: JSON-escaped key text, backticks around metacharacters, "[n]" for indexes. */
function render(path: Comp[]): string {
  let out = '';
  for (const c of path) {
    if ('index' in c) out += `[${c.index}]`;
    else {
      let k = JSON.stringify(c.key).slice(1, -1);
      if (/[.[\]`]/.test(k)) k = `\`${k.replaceAll('`', '``')}\``;
      out += out ? `.${k}` : k;
    }
  }
  return out;
}

type Found = {
  found: true;
  parent: Json[] | Record<string, Json> | undefined;
  at: string | number;
  value: Json;
};
type Missing = { found: false; parent: Json; immediate: boolean; depth: number };

/** Where a path leads in the model, or PATH_MISMATCH. */
function navigate(doc: Json, path: Comp[]): Found | Missing | number {
  let cur: Json = doc;
  let parent: Found['parent'];
  let at: string | number = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if ('key' in c) {
      if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return S.PathMismatch;
      if (!Object.hasOwn(cur, c.key))
        return { found: false, parent: cur, immediate: i === path.length - 1, depth: i };
      parent = cur;
      at = c.key;
      cur = cur[c.key];
    } else {
      if (!Array.isArray(cur)) return S.PathMismatch;
      const idx = c.index === -1 ? cur.length - 1 : c.index;
      if (idx < 0 || idx >= cur.length)
        return { found: false, parent: cur, immediate: i === path.length - 1, depth: i };
      parent = cur;
      at = idx;
      cur = cur[idx];
    }
  }
  return { found: true, parent, at, value: cur };
}

const clone = (v: Json): Json => JSON.parse(JSON.stringify(v));

function setAt(parent: Found['parent'], at: string | number, v: Json) {
  (parent as Record<string | number, Json>)[at] = v;
}

/** Model of MKDIR_P: the missing keys become objects, an index among them is PATH_ENOENT. */
function mkdir(path: Comp[], m: Missing, leaf: Json): number {
  const rest = path.slice(m.depth);
  if (rest.some((c) => !('key' in c))) return S.PathEnoent;
  let obj = m.parent as Record<string, Json>;
  for (let i = 0; i < rest.length - 1; i++) {
    const k = (rest[i] as { key: string }).key;
    obj[k] = {};
    obj = obj[k] as Record<string, Json>;
  }
  obj[(rest[rest.length - 1] as { key: string }).key] = leaf;
  return S.Success;
}

interface ModelResult {
  status: number;
  doc?: Json;
  value?: Json;
}

function model(op: number, doc0: Json, path: Comp[], value: Json, mkdirP: boolean): ModelResult {
  const doc = clone(doc0);
  const m = navigate(doc, path);
  const last = path[path.length - 1];
  switch (op) {
    case SubdocOp.Get:
      if (typeof m === 'number') return { status: m };
      return m.found ? { status: S.Success, value: m.value } : { status: S.PathEnoent };
    case SubdocOp.GetCount:
      if (typeof m === 'number') return { status: m };
      if (!m.found) return { status: S.PathEnoent };
      if (Array.isArray(m.value)) return { status: S.Success, value: m.value.length };
      if (m.value !== null && typeof m.value === 'object')
        return { status: S.Success, value: Object.keys(m.value).length };
      return { status: S.PathMismatch };
    case SubdocOp.DictUpsert:
    case SubdocOp.DictAdd:
    case SubdocOp.Replace: {
      if (path.length === 0) return { status: S.ValueCantinsert };
      if (typeof m === 'number') return { status: m };
      if (op !== SubdocOp.Replace && !('key' in last)) return { status: S.PathEinval };
      if (m.found) {
        if (op === SubdocOp.DictAdd) return { status: S.PathEexists };
        if (m.parent === undefined) return { status: S.Success, doc: value };
        setAt(m.parent, m.at, value);
        return { status: S.Success, doc };
      }
      if (op === SubdocOp.Replace) return { status: S.PathEnoent };
      if (m.immediate) {
        (m.parent as Record<string, Json>)[(last as { key: string }).key] = value;
        return { status: S.Success, doc };
      }
      if (!mkdirP) return { status: S.PathEnoent };
      const st = mkdir(path, m, value);
      return st === S.Success ? { status: st, doc } : { status: st };
    }
    case SubdocOp.Delete: {
      if (path.length === 0) return { status: S.ValueCantinsert };
      if (typeof m === 'number') return { status: m };
      if (!m.found) return { status: S.PathEnoent };
      if (Array.isArray(m.parent)) m.parent.splice(m.at as number, 1);
      else delete (m.parent as Record<string, Json>)[m.at as string];
      return { status: S.Success, doc };
    }
    case SubdocOp.ArrayPushLast:
    case SubdocOp.ArrayPushFirst: {
      if (typeof m === 'number') return { status: m };
      if (!m.found) {
        if (!mkdirP) return { status: S.PathEnoent };
        const st = mkdir(path, m, [value]);
        return st === S.Success ? { status: st, doc } : { status: st };
      }
      if (!Array.isArray(m.value)) return { status: S.PathMismatch };
      if (op === SubdocOp.ArrayPushLast) m.value.push(value);
      else m.value.unshift(value);
      return { status: S.Success, doc };
    }
    case SubdocOp.ArrayInsert: {
      if (!last || !('index' in last) || last.index < 0) return { status: S.PathEinval };
      if (typeof m === 'number') return { status: m };
      if (m.found) {
        (m.parent as Json[]).splice(m.at as number, 0, value);
        return { status: S.Success, doc };
      }
      if (!m.immediate) return { status: S.PathEnoent };
      const arr = m.parent as Json[];
      if (last.index !== arr.length) return { status: S.PathEnoent };
      arr.push(value);
      return { status: S.Success, doc };
    }
    case SubdocOp.Counter: {
      if (typeof m === 'number') return { status: m };
      const delta = value as number;
      if (m.found) {
        if (typeof m.value !== 'number' || !Number.isInteger(m.value) || Math.abs(m.value) >= 1e21)
          return { status: S.PathMismatch };
        const next = m.value + delta;
        if (m.parent === undefined) return { status: S.Success, doc: next, value: next };
        setAt(m.parent, m.at, next);
        return { status: S.Success, doc, value: next };
      }
      if (!mkdirP && !m.immediate) return { status: S.PathEnoent };
      if (Array.isArray(m.parent)) return { status: S.PathEnoent };
      // subjson creates the counter through DICT_ADD_P, which refuses an index as the last component.
      if (!('key' in last)) return { status: S.PathEinval };
      if (m.immediate) {
        (m.parent as Record<string, Json>)[last.key] = delta;
        return { status: S.Success, doc, value: delta };
      }
      const st = mkdir(path, m, delta);
      return st === S.Success ? { status: st, doc, value: delta } : { status: st };
    }
    default:
      throw new Error(`no model for 0x${op.toString(16)}`);
  }
}

const toBuf = (v: Json) => Buffer.from(JSON.stringify(v));

describe('sub-document paths', () => {
  it('the path syntax round-trips every generated path', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            keyArb.map((key) => ({ key })),
            fc.integer({ min: -1, max: 99 }).map((index) => ({ index })),
          ),
          { maxLength: 31 },
        ),
        (path) => {
          const r = parsePath(Buffer.from(render(path)));
          expect(r.ok).toBe(true);
          const got = (r as { components: PathComponent[] }).components.map((c) =>
            c.key !== undefined
              ? { key: JSON.parse(`"${c.key.toString('utf8')}"`) as string }
              : { index: c.index },
          );
          expect(got).toEqual(path);
        },
      ),
    );
  });

  it('parses any bytes without throwing: a component list of at most 31, or PATH_EINVAL / PATH_E2BIG', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.string({ maxLength: 40 }), (bytes, text) => {
        for (const p of [bytes, Buffer.from(text)]) {
          const r = parsePath(p);
          if (r.ok) expect(r.components.length).toBeLessThanOrEqual(31);
          else expect([S.PathEinval, S.PathE2big]).toContain(r.status);
        }
      }),
    );
  });

  it('follows subjson on the cases its docs and tests name', () => {
    const ok = (p: string) => {
      const r = parsePath(Buffer.from(p));
      if (!r.ok) throw new Error(`${p}: 0x${r.status.toString(16)}`);
      return r.components.map((c) => (c.key !== undefined ? c.key.toString() : c.index));
    };
    const bad = (p: string) => (parsePath(Buffer.from(p)) as { status: number }).status;
    expect(ok('pDistributors[1].dAdded[2]')).toEqual(['pDistributors', 1, 'dAdded', 2]);
    expect(ok('`dot.ted.field`.subfield')).toEqual(['dot.ted.field', 'subfield']);
    expect(ok('`back``tick``field`')).toEqual(['back`tick`field']);
    expect(ok('foo[-1][-1]')).toEqual(['foo', -1, -1]);
    expect(ok('\\"quoted.path')).toEqual(['\\"quoted', 'path']);
    expect(ok('a.')).toEqual(['a']); // subjson ignores a trailing dot
    expect(ok('a[]')).toEqual(['a', 0]); // and reads empty brackets as [0]
    expect(ok('[1][2][3]')).toEqual([1, 2, 3]);
    for (const p of [
      '....',
      'a..b',
      '.a',
      'hello[0]world',
      '[not][a][number]',
      'foo[-2]',
      '"invalid.path',
      'a\\u0041',
      'a`b',
      'a]',
      'field\\.x',
    ])
      expect(bad(p), p).toBe(S.PathEinval);
    const deep = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`).join('.');
    expect(ok(deep(31))).toHaveLength(31);
    expect(bad(deep(32))).toBe(S.PathE2big);
    expect(bad(`${deep(31)}[0]`)).toBe(S.PathE2big);
  });
});

const OPS = [
  SubdocOp.Get,
  SubdocOp.GetCount,
  SubdocOp.DictAdd,
  SubdocOp.DictUpsert,
  SubdocOp.Replace,
  SubdocOp.Delete,
  SubdocOp.ArrayPushLast,
  SubdocOp.ArrayPushFirst,
  SubdocOp.ArrayInsert,
  SubdocOp.Counter,
];

describe('sub-document operations against the model', () => {
  it('agree on the status, the value answered and the document written', () => {
    fc.assert(
      fc.property(
        rootArb.chain((doc) =>
          fc.record({
            doc: fc.constant(doc),
            path: fc.oneof(
              pathArb(doc),
              pathArb(doc).map((p) => [...p, { index: 0 }]),
            ),
            op: fc.constantFrom(...OPS),
            value: leafArb,
            delta: fc.integer({ min: -50, max: 50 }).filter((d) => d !== 0),
            mkdirP: fc.boolean(),
          }),
        ),
        ({ doc, path, op, value, delta, mkdirP }) => {
          const v = op === SubdocOp.Counter ? delta : value;
          const expected = model(op, doc, path, v, mkdirP);
          const got = runOperation(op, mkdirP, toBuf(doc), Buffer.from(render(path)), toBuf(v));
          expect(got.status).toBe(expected.status);
          if (expected.value !== undefined) expect(JSON.parse(got.value!.toString())).toEqual(expected.value);
          if (expected.doc !== undefined) expect(JSON.parse(got.doc!.toString())).toEqual(expected.doc);
          if (got.status !== S.Success) expect(got.doc).toBeUndefined();
        },
      ),
      { numRuns: Number(process.env.SUBDOC_RUNS ?? 200) },
    );
  });

  it('keep the untouched text byte for byte (whitespace and number spellings included)', () => {
    const doc = Buffer.from('{ "a" : 1.0 ,\n  "b": [ 1 , 2 ] , "c":{} }');
    const run = (op: number, path: string, value = '', mk = false) =>
      runOperation(op, mk, doc, Buffer.from(path), Buffer.from(value)).doc?.toString();
    expect(run(SubdocOp.DictUpsert, 'z', '"n"')).toBe('{ "a" : 1.0 ,\n  "b": [ 1 , 2 ] , "c":{} ,"z":"n"}');
    expect(run(SubdocOp.Replace, 'b[1]', '20')).toBe('{ "a" : 1.0 ,\n  "b": [ 1 , 20 ] , "c":{} }');
    expect(run(SubdocOp.Delete, 'a')).toBe('{ \n  "b": [ 1 , 2 ] , "c":{} }');
    // subjson cuts from the comma before the key and keeps what follows the value.
    expect(run(SubdocOp.Delete, 'c')).toBe('{ "a" : 1.0 ,\n  "b": [ 1 , 2 ]  }');
    expect(run(SubdocOp.ArrayPushLast, 'b', '3')).toBe('{ "a" : 1.0 ,\n  "b": [ 1 , 2 ,3] , "c":{} }');
    expect(run(SubdocOp.ArrayPushFirst, 'b', '0')).toBe('{ "a" : 1.0 ,\n  "b": [ 0,1 , 2 ] , "c":{} }');
    expect(run(SubdocOp.DictUpsert, 'c.x.y', 'true', true)).toBe(
      '{ "a" : 1.0 ,\n  "b": [ 1 , 2 ] , "c":{"x":{"y":true}} }',
    );
    // The counter refuses a float, whatever it is worth.
    expect(runOperation(SubdocOp.Counter, false, doc, Buffer.from('a'), Buffer.from('1')).status).toBe(
      S.PathMismatch,
    );
  });

  it('hold the 32-level limits: DOC_E2DEEP for the document, VALUE_ETOODEEP for the value', () => {
    const nested = (n: number, leaf = '1') => '['.repeat(n) + leaf + ']'.repeat(n);
    // 31 arrays around a number: the number is at jsonsl level 32, the deepest allowed.
    expect(
      runOperation(SubdocOp.Get, false, Buffer.from(nested(31)), Buffer.from('[0]'), Buffer.alloc(0)).status,
    ).toBe(S.Success);
    expect(
      runOperation(SubdocOp.Get, false, Buffer.from(nested(32)), Buffer.from('[0]'), Buffer.alloc(0)).status,
    ).toBe(S.DocE2deep);
    const obj = Buffer.from('{}');
    // Under a top-level key (level 2) a value may nest 31 levels.
    expect(
      runOperation(SubdocOp.DictUpsert, false, obj, Buffer.from('k'), Buffer.from(nested(30))).status,
    ).toBe(S.Success);
    expect(
      runOperation(SubdocOp.DictUpsert, false, obj, Buffer.from('k'), Buffer.from(nested(31))).status,
    ).toBe(S.ValueEtoodeep);
  });

  it('answer with known statuses on any bytes (documents, paths and values that are not JSON)', () => {
    const statuses = new Set<number>(Object.values(S));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b)),
          fc.string({ maxLength: 60 }).map((s) => Buffer.from(s)),
          rootArb.map(toBuf),
        ),
        fc.string({ maxLength: 12 }),
        fc.string({ maxLength: 12 }),
        fc.constantFrom(...OPS, SubdocOp.ArrayAddUnique, SubdocOp.Exists),
        fc.boolean(),
        (doc, path, value, op, mk) => {
          const r = runOperation(op, mk, doc, Buffer.from(path), Buffer.from(value));
          expect(statuses.has(r.status)).toBe(true);
          if (r.doc) expect(() => JSON.parse(r.doc!.toString())).not.toThrow();
        },
      ),
    );
  });
});
