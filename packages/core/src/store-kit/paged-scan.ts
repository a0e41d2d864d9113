import type { StoreEntry } from '../contracts/store.js';

/** Where a scan's pages come from: each call returns the next page, or null at the end. */
export type PageSource = () => Promise<StoreEntry[] | null> | StoreEntry[] | null;

/**
 * An AsyncIterable over pages: `open()` runs at the first `next()` (so a closed store or bad
 * options reject from the iteration), then rows are served from the current page with one
 * resolved promise each — cheaper than an async generator per row. Pages are requested one after
 * the other, when the caller reaches the end of the last one; a source may keep its cursor in a
 * closure. (Asking for the next page ahead did not make Redis or PostgreSQL scans faster on a
 * shared 2-core machine: the server competes with the caller for the same CPU.)
 */
export function pagedScan(open: () => PageSource): AsyncIterable<StoreEntry> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<StoreEntry> {
      let source: PageSource | undefined;
      let page: StoreEntry[] = [];
      let pos = 0;
      let done = false;
      const end = (): IteratorResult<StoreEntry> => {
        done = true;
        page = [];
        return { done: true, value: undefined };
      };
      const fill = async (): Promise<IteratorResult<StoreEntry>> => {
        try {
          for (;;) {
            source ??= open();
            const next = await source();
            if (next === null || done) return end();
            page = next;
            pos = 0;
            if (page.length > 0) return { done: false, value: page[pos++]! };
          }
        } catch (err) {
          end();
          throw err;
        }
      };
      return {
        next(): Promise<IteratorResult<StoreEntry>> {
          if (pos < page.length) return Promise.resolve({ done: false, value: page[pos++]! });
          if (done) return Promise.resolve({ done: true, value: undefined });
          return fill();
        },
        async return(): Promise<IteratorResult<StoreEntry>> {
          return end();
        },
      };
    },
  };
}
