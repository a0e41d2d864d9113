/** The id a key sorts by: latin1 maps each byte to one UTF-16 unit of the same value. */
export const keyId = (key: Buffer): string => key.toString('latin1');

/** The key an id stands for (a new buffer each call). */
const idKey = (id: string): Buffer => Buffer.from(id, 'latin1');

/**
 * Sorted entries, with links to the neighbouring leaves so scans walk on without re-seeking. The
 * id is the only copy of a key kept: one object less per entry for the collector to trace.
 */
class Leaf {
  /** Keys as latin1 strings: one char per byte, so `<` on ids is bytewise order on keys. */
  readonly ids: string[] = [];
  readonly values: Buffer[] = [];
  next: Leaf | null = null;
  prev: Leaf | null = null;
}

/** `children[i]` holds the ids in [ids[i - 1], ids[i]): one separator fewer than children. */
class Inner {
  constructor(
    readonly ids: string[],
    readonly children: Node[],
  ) {}
}

type Node = Leaf | Inner;

export interface BTreeOptions {
  /** Entries a leaf holds before it splits (default 64, at least 4). */
  leafSize?: number;
  /** Children an inner node holds before it splits (default 64, at least 4). */
  innerSize?: number;
}

/** Array insert without splice's result array (this runs once per new key). */
function insertAt<T>(a: T[], i: number, x: T): void {
  for (let j = a.length; j > i; j--) a[j] = a[j - 1]!;
  a[i] = x;
}

function removeAt<T>(a: T[], i: number): void {
  const n = a.length - 1;
  for (let j = i; j < n; j++) a[j] = a[j + 1]!;
  a.length = n;
}

/** First index whose id is >= `id` (ids.length when none is). */
function lowerBound(ids: string[], id: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose id is > `id`: the child of an inner node that holds `id`. */
function upperBound(ids: string[], id: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A B+tree over byte keys in bytewise order. Entries sit in leaves as parallel sorted arrays, so
 * a lookup is a few binary searches over contiguous arrays rather than a pointer chase per step
 * (what made the skip list it replaced slow at millions of keys); leaves link both ways for scans.
 * Keys compare as latin1 strings, which JS compares unit by unit — bytewise — without a native
 * call per comparison. Every node but the root stays at least half full, so deletes leave no
 * trail of empty leaves.
 */
export class BTree {
  readonly #leafMax: number;
  readonly #innerMax: number;
  #root: Node = new Leaf();
  #first: Leaf = this.#root as Leaf;
  #last: Leaf = this.#root as Leaf;
  #size = 0;
  #bytes = 0;
  /** The inner nodes and child indexes on the way down to the leaf a write works on. */
  readonly #path: Inner[] = [];
  readonly #slots: number[] = [];

  constructor(options: BTreeOptions = {}) {
    this.#leafMax = Math.max(4, options.leafSize ?? 64);
    this.#innerMax = Math.max(4, options.innerSize ?? 64);
  }

  get size(): number {
    return this.#size;
  }

  /** Bytes held in keys and values. */
  get bytes(): number {
    return this.#bytes;
  }

  get(key: Buffer): Buffer | undefined {
    const id = keyId(key);
    const leaf = this.#leafFor(id);
    const i = lowerBound(leaf.ids, id);
    return leaf.ids[i] === id ? leaf.values[i] : undefined;
  }

  set(key: Buffer, value: Buffer): void {
    const id = keyId(key);
    const leaf = this.#descend(id);
    const i = lowerBound(leaf.ids, id);
    if (leaf.ids[i] === id) {
      this.#bytes += value.length - leaf.values[i]!.length;
      leaf.values[i] = value;
      return;
    }
    insertAt(leaf.ids, i, id);
    insertAt(leaf.values, i, value);
    this.#size++;
    this.#bytes += key.length + value.length;
    if (leaf.ids.length > this.#leafMax) this.#splitLeaf(leaf);
  }

  delete(key: Buffer): boolean {
    const id = keyId(key);
    const leaf = this.#descend(id);
    const i = lowerBound(leaf.ids, id);
    if (leaf.ids[i] !== id) return false;
    this.#bytes -= id.length + leaf.values[i]!.length;
    removeAt(leaf.ids, i);
    removeAt(leaf.values, i);
    this.#size--;
    if (leaf.ids.length < this.#leafMax >>> 1 && this.#path.length > 0) this.#fixLeaf(leaf);
    return true;
  }

  clear(): void {
    const leaf = new Leaf();
    this.#root = leaf;
    this.#first = leaf;
    this.#last = leaf;
    this.#size = 0;
    this.#bytes = 0;
  }

  /**
   * Up to `max` entries of [gte, lt) in key order (or reverse), starting strictly after `after`
   * when given (strictly before it when reversing), each made by `make`. Stops early, after at
   * least one entry, once the values reach `maxBytes`. Callers page through with the last key
   * seen, so writes between pages never invalidate an iterator. `make` gets a new key buffer.
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
    let bytes = 0;
    if (!reverse) {
      const ltId = lt === undefined ? undefined : keyId(lt);
      let leaf: Leaf | null;
      let i: number;
      if (after !== undefined) {
        const afterId = keyId(after);
        leaf = this.#leafFor(afterId);
        i = upperBound(leaf.ids, afterId);
      } else if (gte !== undefined) {
        const gteId = keyId(gte);
        leaf = this.#leafFor(gteId);
        i = lowerBound(leaf.ids, gteId);
      } else {
        leaf = this.#first;
        i = 0;
      }
      while (leaf !== null && out.length < max && bytes < maxBytes) {
        if (i >= leaf.ids.length) {
          leaf = leaf.next;
          i = 0;
          continue;
        }
        if (ltId !== undefined && leaf.ids[i]! >= ltId) break;
        const value = leaf.values[i]!;
        out.push(make(idKey(leaf.ids[i]!), value));
        bytes += value.length;
        i++;
      }
    } else {
      const gteId = gte === undefined ? undefined : keyId(gte);
      const bound = after ?? lt;
      let leaf: Leaf | null;
      let i: number;
      if (bound === undefined) {
        leaf = this.#last;
        i = leaf.ids.length - 1;
      } else {
        const boundId = keyId(bound);
        leaf = this.#leafFor(boundId);
        i = lowerBound(leaf.ids, boundId) - 1;
      }
      while (leaf !== null && out.length < max && bytes < maxBytes) {
        if (i < 0) {
          leaf = leaf.prev;
          if (leaf !== null) i = leaf.ids.length - 1;
          continue;
        }
        if (gteId !== undefined && leaf.ids[i]! < gteId) break;
        const value = leaf.values[i]!;
        out.push(make(idKey(leaf.ids[i]!), value));
        bytes += value.length;
        i--;
      }
    }
    return out;
  }

  /**
   * Checks the shape (for tests): order, separators, fill, one depth for all leaves, leaf links,
   * size and bytes. Returns what is wrong, empty when nothing is.
   */
  verify(): string[] {
    const errors: string[] = [];
    const leaves: Leaf[] = [];
    let depth = -1;
    let size = 0;
    let bytes = 0;
    const walk = (node: Node, level: number, lo: string | undefined, hi: string | undefined): void => {
      const root = node === this.#root;
      if (node instanceof Leaf) {
        if (depth === -1) depth = level;
        else if (depth !== level) errors.push(`leaf at depth ${level}, another at ${depth}`);
        if (!root && node.ids.length < this.#leafMax >>> 1) errors.push(`leaf of ${node.ids.length}`);
        if (node.ids.length > this.#leafMax) errors.push(`leaf of ${node.ids.length}`);
        leaves.push(node);
        size += node.ids.length;
        node.ids.forEach((id, i) => {
          bytes += id.length + node.values[i]!.length;
        });
      } else {
        const n = node.children.length;
        if (node.ids.length !== n - 1) errors.push(`inner of ${n} children, ${node.ids.length} ids`);
        if (n > this.#innerMax || n < (root ? 2 : this.#innerMax >>> 1)) errors.push(`inner of ${n}`);
        for (let i = 0; i < n; i++) {
          walk(node.children[i]!, level + 1, i === 0 ? lo : node.ids[i - 1], i === n - 1 ? hi : node.ids[i]);
        }
      }
      for (let i = 0; i < node.ids.length; i++) {
        const id = node.ids[i]!;
        if (i > 0 && !(node.ids[i - 1]! < id)) errors.push('ids out of order');
        if ((lo !== undefined && id < lo) || (hi !== undefined && id >= hi))
          errors.push('id outside its range');
      }
    };
    walk(this.#root, 0, undefined, undefined);
    if (this.#first !== leaves[0] || this.#last !== leaves[leaves.length - 1]) errors.push('first/last leaf');
    leaves.forEach((leaf, i) => {
      if (leaf.prev !== (leaves[i - 1] ?? null) || leaf.next !== (leaves[i + 1] ?? null))
        errors.push('leaf links');
    });
    if (size !== this.#size || bytes !== this.#bytes) errors.push('size or bytes');
    return errors;
  }

  /** The leaf whose range holds `id`. */
  #leafFor(id: string): Leaf {
    let node = this.#root;
    while (node instanceof Inner) node = node.children[upperBound(node.ids, id)]!;
    return node;
  }

  /** As #leafFor, remembering the way down in #path/#slots for a split or merge. */
  #descend(id: string): Leaf {
    const path = this.#path;
    const slots = this.#slots;
    path.length = 0;
    slots.length = 0;
    let node = this.#root;
    while (node instanceof Inner) {
      const slot = upperBound(node.ids, id);
      path.push(node);
      slots.push(slot);
      node = node.children[slot]!;
    }
    return node;
  }

  #splitLeaf(leaf: Leaf): void {
    const half = leaf.ids.length >>> 1;
    const right = new Leaf();
    right.ids.push(...leaf.ids.splice(half));
    right.values.push(...leaf.values.splice(half));
    right.next = leaf.next;
    right.prev = leaf;
    if (leaf.next !== null) leaf.next.prev = right;
    else this.#last = right;
    leaf.next = right;
    this.#insertAbove(this.#path.length - 1, right.ids[0]!, right);
  }

  /** Puts `right` (whose ids start at `sep`) beside the child at #path[depth], splitting upwards. */
  #insertAbove(depth: number, sep: string, right: Node): void {
    for (;;) {
      if (depth < 0) {
        this.#root = new Inner([sep], [this.#root, right]);
        return;
      }
      const parent = this.#path[depth]!;
      const slot = this.#slots[depth]!;
      parent.ids.splice(slot, 0, sep);
      parent.children.splice(slot + 1, 0, right);
      if (parent.children.length <= this.#innerMax) return;
      // the middle separator moves up: it bounds the two halves rather than staying in either
      const half = parent.children.length >>> 1;
      const ids = parent.ids.splice(half - 1);
      sep = ids.shift()!;
      right = new Inner(ids, parent.children.splice(half));
      depth--;
    }
  }

  /** Refills a leaf under half full from a sibling, or merges it into one. */
  #fixLeaf(leaf: Leaf): void {
    const depth = this.#path.length - 1;
    const parent = this.#path[depth]!;
    const slot = this.#slots[depth]!;
    const min = this.#leafMax >>> 1;
    const left = slot > 0 ? (parent.children[slot - 1] as Leaf) : null;
    const right = slot < parent.children.length - 1 ? (parent.children[slot + 1] as Leaf) : null;
    if (left !== null && left.ids.length > min) {
      leaf.ids.unshift(left.ids.pop()!);
      leaf.values.unshift(left.values.pop()!);
      parent.ids[slot - 1] = leaf.ids[0]!;
      return;
    }
    if (right !== null && right.ids.length > min) {
      leaf.ids.push(right.ids.shift()!);
      leaf.values.push(right.values.shift()!);
      parent.ids[slot] = right.ids[0]!;
      return;
    }
    // neither sibling can spare one: fold the right one of a pair into the left
    const [into, from, at] = left !== null ? [left, leaf, slot - 1] : [leaf, right!, slot];
    for (let i = 0; i < from.ids.length; i++) {
      into.ids.push(from.ids[i]!);
      into.values.push(from.values[i]!);
    }
    into.next = from.next;
    if (from.next !== null) from.next.prev = into;
    else this.#last = into;
    this.#removeChild(depth, at);
  }

  /** Drops separator `at` and the child after it from #path[depth], rebalancing upwards. */
  #removeChild(depth: number, at: number): void {
    const min = this.#innerMax >>> 1;
    for (;;) {
      const node = this.#path[depth]!;
      node.ids.splice(at, 1);
      node.children.splice(at + 1, 1);
      if (depth === 0) {
        // a root down to one child hands the root to it
        if (node.children.length === 1) this.#root = node.children[0]!;
        return;
      }
      if (node.children.length >= min) return;
      const parent = this.#path[depth - 1]!;
      const slot = this.#slots[depth - 1]!;
      const left = slot > 0 ? (parent.children[slot - 1] as Inner) : null;
      const right = slot < parent.children.length - 1 ? (parent.children[slot + 1] as Inner) : null;
      // borrowing rotates through the parent: its separator comes down, the sibling's goes up
      if (left !== null && left.children.length > min) {
        node.children.unshift(left.children.pop()!);
        node.ids.unshift(parent.ids[slot - 1]!);
        parent.ids[slot - 1] = left.ids.pop()!;
        return;
      }
      if (right !== null && right.children.length > min) {
        node.children.push(right.children.shift()!);
        node.ids.push(parent.ids[slot]!);
        parent.ids[slot] = right.ids.shift()!;
        return;
      }
      const [into, from, sepAt] = left !== null ? [left, node, slot - 1] : [node, right!, slot];
      into.ids.push(parent.ids[sepAt]!, ...from.ids);
      into.children.push(...from.children);
      depth--;
      at = sepAt;
    }
  }
}
