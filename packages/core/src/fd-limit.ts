// The process's file-descriptor limit, and the connection slots every listener of the process
// shares within it. A socket accepted past the limit fails with EMFILE, and libuv then accepts and
// closes pending connections to shed them: the clients see a reset and nothing is logged. Listeners
// that take a slot per connection stay under the limit and can still answer the next ones "503".
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let cachedLimit: number | null | undefined;

/**
 * The soft limit on open file descriptors (RLIMIT_NOFILE, what `ulimit -n` shows) as this process
 * sees it, or undefined where it cannot be read (Windows). Node raises the soft limit to the hard
 * one at start-up, so this is the limit in force. Read once per process.
 */
export function openFileLimit(): number | undefined {
  if (cachedLimit !== undefined) return cachedLimit ?? undefined;
  cachedLimit = readLimit() ?? null;
  return cachedLimit ?? undefined;
}

function readLimit(): number | undefined {
  if (process.platform === 'win32') return undefined;
  try {
    // Linux: "Max open files  <soft>  <hard>  files".
    const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return m[1] === 'unlimited' ? undefined : Number(m[1]);
  } catch {
    // Not Linux: ask a shell, which inherits this process's limits.
  }
  try {
    const out = execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8', timeout: 2000 }).trim();
    return /^\d+$/.test(out) ? Number(out) : undefined;
  } catch {
    return undefined;
  }
}

/** File descriptors this process has open now (Linux /proc/self/fd, macOS /dev/fd), or undefined. */
export function openFileCount(): number | undefined {
  for (const dir of ['/proc/self/fd', '/dev/fd']) {
    try {
      return readdirSync(dir).length;
    } catch {
      // try the next
    }
  }
  return undefined;
}

/** Descriptors kept free for everything that is not an accepted connection (files, stores, dials). */
export const FD_HEADROOM = 64;
/** Connections past the slots that may wait for their "503" at once, process-wide. */
export const REFUSAL_SLOTS = 128;

/** A pool of slots: `tryTake` then exactly one `give` per successful take. */
export interface SlotPool {
  readonly capacity: number;
  /** Slots taken now. */
  readonly held: number;
  /** Takes a slot; false when none is left. */
  tryTake(): boolean;
  /** Returns a slot taken with tryTake. */
  give(): void;
}

/** Connection slots shared by every listener of the process, within its file-descriptor limit. */
export interface ConnectionSlots extends SlotPool {
  /**
   * Slots for accepted connections: the fd limit less the descriptors open when first asked, less
   * FD_HEADROOM and REFUSAL_SLOTS (unbounded when the limit is unknown).
   */
  readonly capacity: number;
  /** The fd limit the capacity was computed from (undefined: unknown). */
  readonly fdLimit: number | undefined;
  /** Slots for connections held only long enough to be refused with an answer. */
  readonly refusals: SlotPool;
}

function pool(capacity: number): SlotPool {
  let held = 0;
  return {
    capacity,
    get held() {
      return held;
    },
    tryTake() {
      if (held >= capacity) return false;
      held++;
      return true;
    },
    give() {
      if (held > 0) held--;
    },
  };
}

const SLOTS = Symbol.for('@tributary/core/connection-slots');

/**
 * The process-wide connection slots. Shared through a global symbol, so two copies of
 * @tributary/core in one process still count against the same limit.
 */
export function connectionSlots(): ConnectionSlots {
  const g = globalThis as { [SLOTS]?: ConnectionSlots };
  let s = g[SLOTS];
  if (!s) {
    const limit = openFileLimit();
    const open = openFileCount() ?? 32;
    const capacity =
      limit === undefined
        ? Number.POSITIVE_INFINITY
        : Math.max(1, limit - open - FD_HEADROOM - REFUSAL_SLOTS);
    const p = pool(capacity);
    s = {
      capacity,
      fdLimit: limit,
      refusals: pool(REFUSAL_SLOTS),
      get held() {
        return p.held;
      },
      tryTake: p.tryTake,
      give: p.give,
    };
    g[SLOTS] = s;
  }
  return s;
}
