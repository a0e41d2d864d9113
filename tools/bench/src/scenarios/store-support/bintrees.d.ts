// The part of bintrees (a red-black tree, no types of its own) the memory baseline uses.
declare module 'bintrees' {
  export interface TreeIterator<T> {
    next(): T | null;
    data(): T | null;
  }
  export class RBTree<T> {
    constructor(comparator: (a: T, b: T) => number);
    readonly size: number;
    insert(item: T): boolean;
    find(item: T): T | null;
    iterator(): TreeIterator<T>;
  }
}
