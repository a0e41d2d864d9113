// A bucket's collections manifest, as ns_server keeps it: scopes with collections, ids unique in
// the bucket and never reused (scope and collection ids each count up from 8; 0 is _default,
// 1..7 are reserved, kv_engine docs/Collections.md), and a uid that rises by one with every
// change. Names follow ns_server's rules: 1..251 characters of A-Z a-z 0-9 _ - %, not starting
// with _ or % (only the _default ones do). Bounded: at most MAX_SCOPES scopes and
// MAX_COLLECTIONS collections per bucket (ns_server's defaults are 1000 of each).

export const MAX_SCOPES = 1000;
export const MAX_COLLECTIONS = 1000;
const NAME = /^[A-Za-z0-9%_-]{1,251}$/;

export interface CollectionEntry {
  readonly id: number;
  readonly name: string;
  readonly scopeId: number;
  /** Seconds; 0 = none (the bucket's). */
  readonly maxTtl: number;
}

export interface ScopeEntry {
  readonly id: number;
  readonly name: string;
  readonly collections: Map<string, CollectionEntry>;
}

/** Why a manifest change was refused (REST answers 400/404 with ns_server's messages). */
export class ManifestError extends Error {
  constructor(
    readonly status: 400 | 404,
    message: string,
  ) {
    super(message);
  }
}

/** What persists (and is reloaded): the manifest plus the id counters. */
export interface ManifestState {
  uid: number;
  nextScopeId: number;
  nextCollectionId: number;
  scopes: { id: number; name: string; collections: { id: number; name: string; maxTtl: number }[] }[];
}

export function validName(name: string): boolean {
  return NAME.test(name) && name[0] !== '_' && name[0] !== '%';
}

export class Manifest {
  uid = 0;
  nextScopeId = 8;
  nextCollectionId = 8;
  readonly scopes = new Map<string, ScopeEntry>();
  readonly byId = new Map<number, CollectionEntry>();
  readonly scopesById = new Map<number, ScopeEntry>();

  constructor() {
    const s: ScopeEntry = { id: 0, name: '_default', collections: new Map() };
    this.#addScope(s);
    this.#addCollection(s, { id: 0, name: '_default', scopeId: 0, maxTtl: 0 });
  }

  #addScope(s: ScopeEntry): void {
    this.scopes.set(s.name, s);
    this.scopesById.set(s.id, s);
  }

  #addCollection(s: ScopeEntry, c: CollectionEntry): void {
    s.collections.set(c.name, c);
    this.byId.set(c.id, c);
  }

  scope(name: string): ScopeEntry {
    const s = this.scopes.get(name);
    if (!s) throw new ManifestError(404, `Scope with name \`${name}\` is not found`);
    return s;
  }

  /** Looks up "scope.collection" (either part may be empty: _default). */
  lookup(path: string): { scope?: ScopeEntry; collection?: CollectionEntry } {
    const dot = path.indexOf('.');
    const sn = (dot < 0 ? path : path.slice(0, dot)) || '_default';
    const cn = (dot < 0 ? '' : path.slice(dot + 1)) || '_default';
    const scope = this.scopes.get(sn);
    return { scope, collection: scope?.collections.get(cn) };
  }

  createScope(name: string): ScopeEntry {
    if (!validName(name)) throw new ManifestError(400, `Scope name \`${name}\` is not valid`);
    if (this.scopes.has(name)) throw new ManifestError(400, `Scope with name \`${name}\` already exists`);
    if (this.scopes.size >= MAX_SCOPES)
      throw new ManifestError(400, `Maximum number of scopes has been reached`);
    const s: ScopeEntry = { id: this.nextScopeId++, name, collections: new Map() };
    this.#addScope(s);
    this.uid++;
    return s;
  }

  createCollection(scopeName: string, name: string, maxTtl = 0): CollectionEntry {
    const s = this.scope(scopeName);
    if (!validName(name)) throw new ManifestError(400, `Collection name \`${name}\` is not valid`);
    if (s.collections.has(name))
      throw new ManifestError(
        400,
        `Collection with name \`${name}\` already exists in scope \`${scopeName}\``,
      );
    if (this.byId.size >= MAX_COLLECTIONS)
      throw new ManifestError(400, `Maximum number of collections has been reached`);
    if (!Number.isInteger(maxTtl) || maxTtl < 0 || maxTtl > 0x7fffffff)
      throw new ManifestError(400, `maxTTL must be an integer in [0, 2147483647]`);
    const c: CollectionEntry = { id: this.nextCollectionId++, name, scopeId: s.id, maxTtl };
    this.#addCollection(s, c);
    this.uid++;
    return c;
  }

  dropCollection(scopeName: string, name: string): CollectionEntry {
    const s = this.scope(scopeName);
    const c = s.collections.get(name);
    if (!c)
      throw new ManifestError(404, `Collection with name \`${name}\` in scope \`${scopeName}\` is not found`);
    s.collections.delete(name);
    this.byId.delete(c.id);
    this.uid++;
    return c;
  }

  /** Drops a scope and its collections (one uid step, as ns_server). */
  dropScope(name: string): { scope: ScopeEntry; collections: CollectionEntry[] } {
    const s = this.scope(name);
    if (s.id === 0) throw new ManifestError(400, 'Deleting _default scope is not allowed');
    const collections = [...s.collections.values()];
    for (const c of collections) this.byId.delete(c.id);
    this.scopes.delete(name);
    this.scopesById.delete(s.id);
    this.uid++;
    return { scope: s, collections };
  }

  /** The manifest JSON as GET_COLLECTIONS_MANIFEST and GET .../scopes serve it (ids in hex). */
  toJSON(): unknown {
    return {
      uid: this.uid.toString(16),
      scopes: [...this.scopes.values()].map((s) => ({
        name: s.name,
        uid: s.id.toString(16),
        collections: [...s.collections.values()].map((c) => ({
          name: c.name,
          uid: c.id.toString(16),
          maxTTL: c.maxTtl,
          history: false,
        })),
      })),
    };
  }

  state(): ManifestState {
    return {
      uid: this.uid,
      nextScopeId: this.nextScopeId,
      nextCollectionId: this.nextCollectionId,
      scopes: [...this.scopes.values()].map((s) => ({
        id: s.id,
        name: s.name,
        collections: [...s.collections.values()].map((c) => ({ id: c.id, name: c.name, maxTtl: c.maxTtl })),
      })),
    };
  }

  static fromState(st: ManifestState): Manifest {
    const m = new Manifest();
    m.scopes.clear();
    m.scopesById.clear();
    m.byId.clear();
    m.uid = st.uid;
    m.nextScopeId = st.nextScopeId;
    m.nextCollectionId = st.nextCollectionId;
    for (const s of st.scopes) {
      const e: ScopeEntry = { id: s.id, name: s.name, collections: new Map() };
      m.#addScope(e);
      for (const c of s.collections) m.#addCollection(e, { ...c, scopeId: s.id });
    }
    return m;
  }
}
