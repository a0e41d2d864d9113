const MAX_LEVEL = 32;
const P = 0.25;

interface Node {
  /** The key as a latin1 string: one char per byte, so `<` on ids is bytewise order on keys. */
  id: string;
  key: Buffer;
  value: Buffer;
  next: (Node | null)[];
  prev: Node | null;
}

/** The id a key sorts by: latin1 maps each byte to one UTF-16 unit of the same value. */
export const keyId = (key: Buffer): string => key.toString('latin1');

/**
 * A skip list over byte keys in bytewise order: O(log n) get/set/delete and seeks, with a back
 * link on the bottom level for reverse walks. Keys compare as latin1 strings, which JS compares
 * unit by unit — bytewise — without a native call per comparison.
 */
export class SkipList {
  readonly #head: Node = {
    id: '',
    key: Buffer.alloc(0),
    value: Buffer.alloc(0),
    next: new Array(MAX_LEVEL).fill(null),
    prev: null,
  };
  #tail: Node | null = null;
  #level = 1;
  #size = 0;
  #bytes = 0;
  readonly #update: Node[] = new Array(MAX_LEVEL);

  get size(): number {
    return this.#size;
  }

  /** Bytes held in keys and values. */
  get bytes(): number {
    return this.#bytes;
  }

  get(key: Buffer): Buffer | undefined {
    const id = keyId(key);
    const n = this.#seekGE(id, false);
    return n !== null && n.id === id ? n.value : undefined;
  }

  set(key: Buffer, value: Buffer): void {
    const id = keyId(key);
    const n = this.#seekGE(id, true);
    if (n !== null && n.id === id) {
      this.#bytes += value.length - n.value.length;
      n.value = value;
      return;
    }
    let level = 1;
    while (level < MAX_LEVEL && Math.random() < P) level++;
    if (level > this.#level) {
      for (let i = this.#level; i < level; i++) this.#update[i] = this.#head;
      this.#level = level;
    }
    const node: Node = { id, key, value, next: new Array(level), prev: null };
    for (let i = 0; i < level; i++) {
      const u = this.#update[i]!;
      node.next[i] = u.next[i];
      u.next[i] = node;
    }
    const before = this.#update[0]!;
    node.prev = before === this.#head ? null : before;
    const after = node.next[0];
    if (after) after.prev = node;
    else this.#tail = node;
    this.#size++;
    this.#bytes += key.length + value.length;
  }

  delete(key: Buffer): boolean {
    const id = keyId(key);
    const n = this.#seekGE(id, true);
    if (n === null || n.id !== id) return false;
    for (let i = 0; i < this.#level; i++) {
      const u = this.#update[i]!;
      if (u.next[i] !== n) break;
      u.next[i] = n.next[i];
    }
    const after = n.next[0];
    if (after) after.prev = n.prev;
    else this.#tail = n.prev;
    while (this.#level > 1 && this.#head.next[this.#level - 1] === null) this.#level--;
    this.#size--;
    this.#bytes -= n.key.length + n.value.length;
    return true;
  }

  clear(): void {
    this.#head.next.fill(null);
    this.#tail = null;
    this.#level = 1;
    this.#size = 0;
    this.#bytes = 0;
  }

  /**
   * Up to `max` entries of [gte, lt) in key order (or reverse), starting strictly after `after`
   * when given (strictly before it when reversing), each made by `make`. Stops early, after at
   * least one entry, once the values reach `maxBytes`. Callers page through with the last key
   * seen, so writes between pages never invalidate an iterator.
   */
  page<T>(
    gte: Buffer | undefined,
    lt: Buffer | undefined,
    reverse: boolean,
    max: number,
    after: Buffer | undefined,
    maxBytes: number,
    make: (key: Buffer, value: Buffer) => T,
  ): T[] {
    const out: T[] = [];
    const gteId = gte === undefined ? undefined : keyId(gte);
    const ltId = lt === undefined ? undefined : keyId(lt);
    let bytes = 0;
    if (!reverse) {
      let n: Node | null;
      if (after !== undefined) {
        const afterId = keyId(after);
        n = this.#seekGE(afterId, false);
        if (n?.id === afterId) n = n.next[0];
      } else n = gteId === undefined ? this.#head.next[0] : this.#seekGE(gteId, false);
      while (n !== null && out.length < max && bytes < maxBytes) {
        if (ltId !== undefined && n.id >= ltId) break;
        out.push(make(n.key, n.value));
        bytes += n.value.length;
        n = n.next[0];
      }
    } else {
      const bound = after !== undefined ? keyId(after) : ltId;
      let n: Node | null = bound === undefined ? this.#tail : this.#seekLT(bound);
      while (n !== null && out.length < max && bytes < maxBytes) {
        if (gteId !== undefined && n.id < gteId) break;
        out.push(make(n.key, n.value));
        bytes += n.value.length;
        n = n.prev;
      }
    }
    return out;
  }

  /** First node with id >= `id`; fills #update with the predecessors when asked. */
  #seekGE(id: string, track: boolean): Node | null {
    let x = this.#head;
    for (let i = this.#level - 1; i >= 0; i--) {
      for (;;) {
        const nx = x.next[i];
        if (nx == null || nx.id >= id) break;
        x = nx;
      }
      if (track) this.#update[i] = x;
    }
    return x.next[0] ?? null;
  }

  /** Last node with id < `id`. */
  #seekLT(id: string): Node | null {
    const n = this.#seekGE(id, false);
    if (n === null) return this.#tail;
    return n.prev;
  }
}
