// The JSON of `_changes` answers, and one shared encoding of a longpoll's answer for every reader
// that got the same one. One write wakes every reader of a channel at once; each would otherwise
// build and encode the same bytes. Sharing is decided by comparing what was answered (every field
// of every entry, and the last_seq), never by who asked: two readers share bytes only when their
// own changes() calls returned the same page, so one user's channels can never reach another.
import type { ChangeEntry } from '../channel-index.js';
import { Lru } from './lru.js';

/** One entry as a CouchDB / Sync Gateway `_changes` row. */
export function entryJson(e: ChangeEntry): string {
  const o: Record<string, unknown> = {
    seq: `${e.seq.vbucket}:${e.seq.seqno}`,
    id: e.id,
    changes: [{ rev: e.rev }],
  };
  if (e.deleted) o.deleted = true;
  if (e.removed) o.removed = e.removed;
  if (e.doc) o.doc = e.doc;
  return JSON.stringify(o);
}

/** The head of a normal or longpoll answer, written before the first page is read. */
export const RESULTS_HEAD = '{"results":[\n';

/** The rest of a one-page answer after RESULTS_HEAD: its rows, then last_seq. */
export function resultsTail(results: readonly ChangeEntry[], lastSeq: string): string {
  let text = '';
  for (let i = 0; i < results.length; i++) text += `${i ? ',\n' : ''}${entryJson(results[i]!)}`;
  return `${text}${results.length ? '\n' : ''}],\n"last_seq":${JSON.stringify(lastSeq)}}\n`;
}

interface Cached {
  lastSeq: string;
  results: readonly ChangeEntry[];
  bytes: Buffer;
}

function sameStrings(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Equal as answered (documents are not compared: pages carrying them are never shared). */
function sameEntries(a: readonly ChangeEntry[], b: readonly ChangeEntry[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (
      x.id !== y.id ||
      x.rev !== y.rev ||
      x.seq.vbucket !== y.seq.vbucket ||
      x.seq.seqno !== y.seq.seqno ||
      x.deleted !== y.deleted ||
      x.doc !== undefined ||
      y.doc !== undefined ||
      !sameStrings(x.removed, y.removed)
    )
      return false;
  }
  return true;
}

/** Bodies above this are not kept (a shared body is there to save work on small, hot answers). */
const MAX_SHARED_BYTES = 64 * 1024;

/**
 * The encoded tails of recent longpoll answers, by a hint (the reader's channels and position):
 * a reader whose page equals the one kept under its hint writes the kept bytes.
 */
export class SharedTails {
  readonly #kept: Lru<string, Cached>;

  /** `onShared` is told each time kept bytes are written again. */
  constructor(
    readonly onShared: () => void = () => {},
    max = 512,
  ) {
    this.#kept = new Lru(max);
  }

  /** The bytes of resultsTail(results, lastSeq), shared with an equal answer given under `hint`. */
  tail(hint: string, results: readonly ChangeEntry[], lastSeq: string): Buffer {
    const c = this.#kept.get(hint);
    if (c && c.lastSeq === lastSeq && sameEntries(c.results, results)) {
      this.onShared();
      return c.bytes;
    }
    const bytes = Buffer.from(resultsTail(results, lastSeq));
    if (bytes.length <= MAX_SHARED_BYTES && !results.some((e) => e.doc !== undefined))
      this.#kept.set(hint, { lastSeq, results, bytes });
    return bytes;
  }
}
