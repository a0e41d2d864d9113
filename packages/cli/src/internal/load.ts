import { Datatype } from '@tributary/codec';
import { KvWriter, type KvWriterOptions } from './kv-client.js';

export interface LoadSpec {
  /** Operations to send (Infinity: until aborted). */
  count: number;
  /** Operations per second (0: as fast as the pipeline allows). */
  rate: number;
  /** Approximate JSON document size in bytes. */
  valueSize: number;
  /** Distinct keys (`doc-0` .. `doc-<keys-1>`). */
  keys: number;
  /** Share of writes that update an already-written key. */
  updates: number;
  /** Share of operations that delete a written key. */
  deletes: number;
  /** Share of writes given an expiry (`expirySeconds`). */
  expiring: number;
  expirySeconds: number;
  /** Channels per document, drawn from `channelPool` names `ch-0` .. */
  channelsPerDoc: number;
  channelPool: number;
  /** Requests in flight. */
  window: number;
}

export const DEFAULT_LOAD: LoadSpec = {
  count: 10_000,
  rate: 0,
  valueSize: 256,
  keys: 10_000,
  updates: 0.2,
  deletes: 0.05,
  expiring: 0.05,
  expirySeconds: 60,
  channelsPerDoc: 2,
  channelPool: 10,
  window: 512,
};

export interface LoadCounts {
  sent: number;
  done: number;
  sets: number;
  deletes: number;
  expiring: number;
  failed: number;
  seconds: number;
}

/** Writes documents through KV until `count` are done or the signal aborts. */
export async function runLoad(
  conn: KvWriterOptions,
  spec: LoadSpec,
  o: { signal: AbortSignal; onProgress?: (c: LoadCounts) => void },
): Promise<LoadCounts> {
  const kv = await KvWriter.connect({ ...conn, signal: o.signal });
  const counts: LoadCounts = { sent: 0, done: 0, sets: 0, deletes: 0, expiring: 0, failed: 0, seconds: 0 };
  const t0 = performance.now();
  let nextKey = 0; // keys [0, nextKey) have been written at least once
  const live = new Set<number>();
  const pad = (n: number) => 'x'.repeat(Math.max(0, n));
  const pick = () => Math.floor(Math.random() * nextKey);
  const oneOp = (): Promise<unknown> => {
    counts.sent++;
    if (live.size > 0 && Math.random() < spec.deletes) {
      const k = pick();
      live.delete(k);
      counts.deletes++;
      return kv.delete(Buffer.from(`doc-${k}`));
    }
    let k: number;
    if (nextKey > 0 && (nextKey >= spec.keys || Math.random() < spec.updates)) k = pick();
    else k = nextKey++;
    live.add(k);
    const channels: string[] = [];
    for (let c = 0; c < spec.channelsPerDoc; c++) channels.push(`ch-${(k + c * 7) % spec.channelPool}`);
    const body = { type: 'demo', n: counts.sent, channels, at: Date.now() };
    const base = JSON.stringify(body).length + 10;
    const value = Buffer.from(JSON.stringify({ ...body, pad: pad(spec.valueSize - base) }));
    const exp = Math.random() < spec.expiring;
    if (exp) counts.expiring++;
    counts.sets++;
    return kv.set(Buffer.from(`doc-${k}`), value, exp ? spec.expirySeconds : 0, Datatype.Json);
  };
  let firstError: unknown;
  const progress = setInterval(() => {
    counts.seconds = (performance.now() - t0) / 1000;
    o.onProgress?.(counts);
  }, 200);
  try {
    await new Promise<void>((resolve) => {
      let inFlight = 0;
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      const onAbort = () => {
        if (inFlight === 0) finish();
      };
      o.signal.addEventListener('abort', onAbort, { once: true });
      const pump = () => {
        timer = undefined;
        if (o.signal.aborted || firstError) {
          if (inFlight === 0) finish();
          return;
        }
        const elapsed = (performance.now() - t0) / 1000;
        const allowed =
          spec.rate > 0 ? Math.min(spec.count, Math.floor(elapsed * spec.rate) + 1) : spec.count;
        while (counts.sent < allowed && inFlight < spec.window) {
          inFlight++;
          oneOp().then(
            (res) => {
              inFlight--;
              counts.done++;
              const status = (res as { status: number }).status;
              if (status !== 0 && status !== 1) counts.failed++; // KEY_ENOENT on a delete race is fine
              if (counts.done >= spec.count && inFlight === 0) finish();
              else if (inFlight <= spec.window / 2 || spec.rate > 0) schedule();
            },
            (err) => {
              inFlight--;
              firstError ??= err;
              if (inFlight === 0) finish();
            },
          );
        }
        if (counts.sent < spec.count && counts.sent >= allowed && !timer) {
          timer = setTimeout(pump, Math.max(1, Math.ceil(1000 / spec.rate)));
        }
      };
      const schedule = () => {
        if (!timer) timer = setTimeout(pump, 0);
      };
      pump();
    });
  } finally {
    clearInterval(progress);
    kv.close();
  }
  counts.seconds = (performance.now() - t0) / 1000;
  o.onProgress?.(counts);
  if (firstError && !o.signal.aborted) throw firstError;
  return counts;
}
