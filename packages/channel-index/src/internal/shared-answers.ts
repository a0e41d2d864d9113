// A writer's changes() answers shared among callers that ask the same thing while no batch commits:
// 10,000 longpolls woken by one write cost one read and one decode, and each caller gets its own copy.
// Looked up without building a key string: by the caller's `since` string (10,000 woken readers
// pass the same string object, whose hash is computed once and whose equality is a pointer
// compare), then by comparing channels, limit and activeOnly field by field. Building and hashing a
// joined key per call was a fifth of the woken readers' CPU, and its garbage made more scavenges of
// everything they hold.
import type { ChangeEntry, ChangesOptions, ChangesResult } from '../channel-index.js';
import { Lru } from './lru.js';

export interface SharedAnswer {
  readonly gen: number;
  readonly epoch: number;
  readonly channels: readonly string[];
  readonly limit: number | undefined;
  readonly activeOnly: boolean;
  readonly p: Promise<ChangesResult>;
  /** The answer once `p` fulfils: later callers copy it without waiting a turn. */
  result: ChangesResult | undefined;
}

/** Answers kept per since position (different channel lists asked from the same position). */
const PER_SINCE = 8;

function sameChannels(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function copyEntry(e: ChangeEntry): ChangeEntry {
  const c: ChangeEntry = { seq: { vbucket: e.seq.vbucket, seqno: e.seq.seqno }, id: e.id, rev: e.rev };
  if (e.deleted) c.deleted = true;
  if (e.removed) c.removed = [...e.removed];
  return c;
}

/** A caller's own copy of a shared answer (callers may change what they get). */
export function copyResult(r: ChangesResult): ChangesResult {
  const results = r.results.map(copyEntry);
  return r.rolledBack ? { results, lastSeq: r.lastSeq, rolledBack: true } : { results, lastSeq: r.lastSeq };
}

export class SharedAnswers {
  readonly #bySince: Lru<string, SharedAnswer[]>;

  constructor(maxPositions: number) {
    this.#bySince = new Lru(maxPositions);
  }

  /**
   * The answer to `o` computed at batch `gen` of `epoch`, made with `compute` when there is none;
   * undefined when `o` cannot be shared (not plain arguments: a Map or "now" since, channels not an
   * array).
   */
  get(
    o: ChangesOptions,
    gen: number,
    epoch: number,
    compute: () => Promise<ChangesResult>,
  ): SharedAnswer | undefined {
    const { channels, since } = o;
    if (!Array.isArray(channels) || (since !== undefined && typeof since !== 'string') || since === 'now')
      return undefined;
    const key = since ?? '';
    const activeOnly = o.activeOnly === true;
    let list = this.#bySince.peek(key);
    if (!list) this.#bySince.set(key, (list = []));
    let i = 0;
    for (; i < list.length; i++) {
      const a = list[i]!;
      if (a.limit === o.limit && a.activeOnly === activeOnly && sameChannels(a.channels, channels)) {
        if (a.gen === gen && a.epoch === epoch) return a;
        break;
      }
    }
    const a: SharedAnswer = {
      gen,
      epoch,
      // (a copy: the caller may change its array after the call)
      channels: [...channels],
      limit: o.limit,
      activeOnly,
      p: compute(),
      result: undefined,
    };
    a.p.then(
      (r) => {
        a.result = r;
      },
      () => {},
    );
    if (i < list.length) list[i] = a;
    else {
      if (list.length >= PER_SINCE) list.shift();
      list.push(a);
    }
    return a;
  }
}
