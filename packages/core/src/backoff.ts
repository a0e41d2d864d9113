/** Resolves true after `ms`, or false at once when `signal` aborts. Uses the global timer (fakeable in tests). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface BackoffOptions {
  startMs: number;
  factor: number;
  maxMs: number;
  signal?: AbortSignal;
  /** Called before each sleep with its length; for logging and stats. */
  onSleep?: (ms: number) => void;
}

/**
 * cbdatasource's ExponentialBackoffLoop: call `f` until it returns < 0. A result > 0 means
 * progress (call again at once, sleep reset); 0 means no progress (sleep, then grow the sleep by
 * `factor` up to `maxMs`). Resolves when `f` asks to stop or the signal aborts (never rejects on
 * abort: aborting is how owners stop their loops). Errors thrown by `f` reject the loop.
 */
export async function backoffLoop(
  name: string,
  f: () => number | Promise<number>,
  options: BackoffOptions,
): Promise<void> {
  const { startMs, factor, maxMs, signal } = options;
  if (!(startMs >= 0) || !(factor >= 1) || !(maxMs >= startMs)) {
    throw new RangeError(`backoffLoop(${name}): need 0 <= startMs <= maxMs and factor >= 1`);
  }
  let sleepMs = startMs;
  while (!signal?.aborted) {
    const progress = await f();
    if (progress < 0) return;
    if (progress > 0) {
      sleepMs = startMs;
      continue;
    }
    options.onSleep?.(sleepMs);
    if (!(await sleep(sleepMs, signal))) return; // aborted during the sleep
    sleepMs = Math.min(maxMs, Math.max(1, sleepMs * factor));
  }
}
