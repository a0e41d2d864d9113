// `_changes` readers over HTTP: longpoll, continuous and websocket. Each keeps the live documents
// of its channel (id → v) as the feed says, reconnecting from its last_seq after any failure.
import { WebSocket } from 'ws';
import { ADMIN } from './pipeline.js';

interface Entry {
  id: string;
  deleted?: boolean;
  removed?: string[];
  doc?: { v?: number; _removed?: boolean; _deleted?: boolean };
}

export interface Reader {
  kind: 'longpoll' | 'continuous' | 'websocket';
  channel: string;
  live: Map<string, number>;
  entries: number;
  reconnects: number;
  lastSeq: string;
  close(): Promise<void>;
}

const auth = `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`;

function apply(r: Reader, e: Entry): void {
  r.entries++;
  if (
    e.deleted ||
    e.removed?.includes(r.channel) ||
    e.doc?._removed ||
    e.doc?._deleted ||
    e.doc?.v === undefined
  )
    r.live.delete(e.id);
  else r.live.set(e.id, e.doc.v);
}

export function startReader(kind: Reader['kind'], baseUrl: () => string, channel: string): Reader {
  const r: Reader = {
    kind,
    channel,
    live: new Map(),
    entries: 0,
    reconnects: 0,
    lastSeq: '0',
    close: async () => {},
  };
  const ac = new AbortController();
  let ws: WebSocket | undefined;
  const q = () =>
    `filter=sync_gateway/bychannel&channels=${channel}&include_docs=true&since=${encodeURIComponent(r.lastSeq)}`;
  const pause = () => new Promise((res) => setTimeout(res, 50));

  const longpoll = async () => {
    while (!ac.signal.aborted) {
      try {
        const res = await fetch(`${baseUrl()}/db/_changes?feed=longpoll&timeout=2000&${q()}`, {
          headers: { authorization: auth },
          signal: ac.signal,
        });
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
        const body = (await res.json()) as { results: Entry[]; last_seq: string };
        for (const e of body.results) apply(r, e);
        r.lastSeq = body.last_seq;
      } catch {
        if (ac.signal.aborted) return;
        r.reconnects++;
        await pause();
      }
    }
  };

  const continuous = async () => {
    while (!ac.signal.aborted) {
      try {
        const res = await fetch(`${baseUrl()}/db/_changes?feed=continuous&heartbeat=500&${q()}`, {
          headers: { authorization: auth },
          signal: ac.signal,
        });
        if (res.status !== 200 || !res.body) throw new Error(`HTTP ${res.status}`);
        let buf = '';
        const dec = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += dec.decode(chunk, { stream: true });
          let nl = buf.indexOf('\n');
          while (nl >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) {
              const o = JSON.parse(line) as Entry & { seq?: string; last_seq?: string };
              if (o.last_seq !== undefined) r.lastSeq = o.last_seq;
              else apply(r, o);
            }
            nl = buf.indexOf('\n');
          }
        }
        // The feed ended (timeout): a continuous feed ends with last_seq; go on from there.
      } catch {
        if (ac.signal.aborted) return;
        r.reconnects++;
        await pause();
      }
    }
  };

  const websocket = async () => {
    while (!ac.signal.aborted) {
      await new Promise<void>((resolve) => {
        const url = `${baseUrl().replace(/^http/, 'ws')}/db/_changes?feed=websocket`;
        ws = new WebSocket(url, { headers: { authorization: auth } });
        ws.on('open', () =>
          ws!.send(
            JSON.stringify({
              filter: 'sync_gateway/bychannel',
              channels: channel,
              include_docs: true,
              since: r.lastSeq,
              heartbeat: 500,
            }),
          ),
        );
        ws.on('message', (data) => {
          const o = JSON.parse(data.toString()) as Entry[] | { last_seq?: string };
          if (Array.isArray(o)) {
            for (const e of o) apply(r, e);
          } else if (o.last_seq !== undefined) r.lastSeq = o.last_seq;
        });
        ws.on('error', () => {});
        ws.on('close', () => resolve());
      });
      if (ac.signal.aborted) return;
      r.reconnects++;
      await pause();
    }
  };

  const run = kind === 'longpoll' ? longpoll() : kind === 'continuous' ? continuous() : websocket();
  r.close = async () => {
    ac.abort();
    ws?.terminate();
    await run;
  };
  return r;
}
