// `options.collections`: which collections a collection-aware datasource streams.
//   ['8', 'a']                     these collection ids (hex; the original form); [] = every collection
//   {}                             every collection
//   { ids: ['8', 0xa] }            these ids (hex strings or numbers)
//   { scope: 'app' }               every collection of scope `app`, including ones created later
//   { scope: 'app', names: [...] } these collections of `app` (bare names)
//   { names: ['app.users', ...] }  these collections by `scope.collection` (bare = _default scope)
import { ErrInvalidArgument } from '@tributary/core';

/** Collections by scope and name (resolved against the bucket's manifest), or by id. */
export interface CollectionsFilter {
  /** A scope name: only its collections (with `names`: only those of them). */
  scope?: string;
  /** Collection names: `scope.collection`, or bare names of `scope` (default `_default`). */
  names?: readonly string[];
  /** Collection ids (hex strings or numbers); not with `scope` / `names`. */
  ids?: readonly (string | number)[];
}

export type CollectionsSpec =
  | { mode: 'all' }
  | { mode: 'ids'; ids: readonly number[] }
  | { mode: 'scope'; scope: string }
  | { mode: 'names'; names: readonly { scope: string; collection: string }[] };

const HEX = /^[0-9a-f]{1,8}$/i;
const NAME = /^[A-Za-z0-9_%-]{1,251}$/;

function id(v: unknown): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v;
  if (typeof v === 'string' && HEX.test(v)) return Number.parseInt(v, 16);
  throw ErrInvalidArgument('options.collections', 'collection ids are hex strings or u32 numbers');
}

function name(what: string, v: unknown): string {
  if (typeof v !== 'string' || !NAME.test(v))
    throw ErrInvalidArgument('options.collections', `${what} must be a scope or collection name`);
  return v;
}

/** Checks and normalises `options.collections` (undefined: collections off). */
export function parseCollectionsOption(v: unknown): CollectionsSpec | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v))
    return v.length === 0 ? { mode: 'all' } : { mode: 'ids', ids: [...new Set(v.map(id))] };
  if (typeof v !== 'object' || v === null)
    throw ErrInvalidArgument('options.collections', 'an array of collection ids or { scope?, names?, ids? }');
  const o = v as CollectionsFilter;
  for (const k of Object.keys(o))
    if (k !== 'scope' && k !== 'names' && k !== 'ids')
      throw ErrInvalidArgument('options.collections', `unknown key ${k} (scope, names or ids)`);
  if (o.ids !== undefined) {
    if (o.scope !== undefined || o.names !== undefined)
      throw ErrInvalidArgument('options.collections', 'ids cannot be combined with scope or names');
    if (!Array.isArray(o.ids) || o.ids.length === 0)
      throw ErrInvalidArgument('options.collections', 'ids must be a non-empty array');
    return { mode: 'ids', ids: [...new Set(o.ids.map(id))] };
  }
  if (o.names !== undefined) {
    if (!Array.isArray(o.names) || o.names.length === 0)
      throw ErrInvalidArgument('options.collections', 'names must be a non-empty array');
    const scope = o.scope === undefined ? undefined : name('scope', o.scope);
    const names = o.names.map((n: unknown) => {
      if (typeof n !== 'string') throw ErrInvalidArgument('options.collections', 'names are strings');
      const dot = n.indexOf('.');
      if (dot >= 0) {
        const s = name('scope', n.slice(0, dot));
        if (scope !== undefined && s !== scope)
          throw ErrInvalidArgument('options.collections', `${n} is not in scope ${scope}`);
        return { scope: s, collection: name('collection', n.slice(dot + 1)) };
      }
      return { scope: scope ?? '_default', collection: name('collection', n) };
    });
    const seen = new Set<string>();
    return {
      mode: 'names',
      names: names.filter((x) => {
        const k = `${x.scope}.${x.collection}`;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      }),
    };
  }
  if (o.scope !== undefined) return { mode: 'scope', scope: name('scope', o.scope) };
  return { mode: 'all' };
}
