import { InvalidArgumentError } from 'commander';

/** `user:password` → parts. */
export function parseUser(value: string): { username: string; password: string } {
  const i = value.indexOf(':');
  if (i <= 0) throw new InvalidArgumentError('must be user:password');
  return { username: value.slice(0, i), password: value.slice(i + 1) };
}

/** A number in [0, 1]. */
export function parseShare(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('must be a number from 0 to 1');
  return n;
}

export function parseNonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

export function parsePositiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

/** Resolves when the signal aborts (at once if it already has). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((r) => signal.addEventListener('abort', () => r(), { once: true }));
}

export function formatRate(n: number): string {
  return n >= 10_000
    ? `${Math.round(n / 1000)}k`
    : n >= 1000
      ? `${(n / 1000).toFixed(1)}k`
      : String(Math.round(n));
}

/**
 * `signal`, or `signal` plus a deadline of `seconds`. (A plain timer, not AbortSignal.timeout
 * inside AbortSignal.any: Node 20 can collect such a timeout signal before it fires.)
 */
export function withDeadline(
  signal: AbortSignal,
  seconds: number | undefined,
): { signal: AbortSignal; timedOut(): boolean; clear(): void } {
  if (!seconds) return { signal, timedOut: () => false, clear: () => {} };
  return withTimeout(signal, seconds * 1000);
}

/**
 * A signal that fires when `signal` does or after `ms`, whichever comes first; `timedOut()` says
 * which. The timer and the listener are ours to clear (no AbortSignal.timeout, see above).
 */
export function withTimeout(
  signal: AbortSignal,
  ms: number,
): { signal: AbortSignal; timedOut(): boolean; clear(): void } {
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, ms);
  const onAbort = () => ac.abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return {
    signal: ac.signal,
    timedOut: () => timedOut,
    clear: () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    },
  };
}
