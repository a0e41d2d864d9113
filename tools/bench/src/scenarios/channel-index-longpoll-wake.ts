// Longpoll wake latency: many readers wait on one channel; one write; time from the write to each
// reader's answer (p50/p99/max in extra, ms). 1,000 and 10,000 clients over real HTTP longpolls
// (the clients in a child process: each process holds 10,000 sockets, under the descriptor limit
// of 20,000 here), and 1,000 and 10,000 waiters on the index API (the longpoll handler's own path:
// waitForChanges then changes), which is the index's share of the latency without the sockets.
// The figure is waiters ÷ p99 latency (so the goal "p99 under 20 ms" reads as
// "at least n / 0.02"); the baseline is the floor of any notification: the same number of
// promises resolved by one EventEmitter event.
//
// The HTTP rows also run a peer, `node:http`: the same clients against a bare node:http server that
// holds the same longpolls (headers and the body's head written, as the changes server does) and
// answers them all at once with a one-entry body of the same shape. No index, no auth, no routing:
// what the sockets alone cost on this machine, the floor of any Node server's answer.
//
// The HTTP clients run in a child process, as real clients run elsewhere (in the server's process
// their parsing shared its one thread), on kept-alive connections (the undici client used before,
// with pipelining 0, opened and closed a connection per longpoll), with a lean HTTP/1.1 client
// (see longpoll-support/http-clients.ts). The answer time is taken in the child with
// process.hrtime, the same monotonic clock as the parent's write time.
import { type ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  type ChangesServer,
  type ChannelIndex,
  createChangesServer,
  createChannelIndex,
  createUserStore,
} from '@tributary/channel-index';
import { createMemoryStore } from '@tributary/store-memory';
import type { Measurement, RunOptions, Scenario } from '../scenario.js';
import { CLIENTS_ENV, type FromClients, type ToClients } from './longpoll-support/http-clients.js';

interface State {
  index: ChannelIndex;
  server?: ChangesServer;
  url?: string;
  clients?: ChildProcess;
  floor?: Floor;
  seq: number;
}

/** The `node:http` peer: a bare server that holds each longpoll until floorRound answers them all. */
interface Floor {
  server: Server;
  url: string;
  held: ServerResponse[];
  /** Connections open now. */
  open: number;
}

async function startFloor(): Promise<Floor> {
  const floor: Floor = {
    server: createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
      res.write('{"results":[\n');
      floor.held.push(res);
    }),
    url: '',
    held: [],
    open: 0,
  };
  floor.server.on('connection', (socket) => {
    floor.open++;
    socket.once('close', () => floor.open--);
  });
  floor.server.keepAliveTimeout = 120_000;
  await new Promise<void>((r) => floor.server.listen(0, '127.0.0.1', r));
  floor.url = `http://127.0.0.1:${(floor.server.address() as AddressInfo).port}`;
  return floor;
}

const CLIENTS = fileURLToPath(new URL('./longpoll-support/http-clients.ts', import.meta.url));

const auth = `Basic ${Buffer.from('bench:pw').toString('base64')}`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!;
}

function measurement(latenciesNs: bigint[]): Measurement {
  const ms = latenciesNs.map((n) => Number(n) / 1e6).sort((a, b) => a - b);
  const p99 = percentile(ms, 0.99);
  return {
    ops: ms.length,
    seconds: Math.max(p99, 0.001) / 1000,
    extra: { p50Ms: percentile(ms, 0.5), p99Ms: p99, maxMs: ms.at(-1)! },
  };
}

async function waitFor(f: () => boolean): Promise<void> {
  const end = Date.now() + 60_000;
  while (!f()) {
    if (Date.now() > end) throw new Error('waiters never registered');
    await new Promise((r) => setTimeout(r, 2));
  }
}

function write(state: State): Promise<void> {
  state.seq++;
  return state.index.applyBatch([
    {
      vbucket: 7,
      seqno: state.seq,
      vbuuid: 1n,
      key: Buffer.from(`hot-${state.seq}`),
      value: Buffer.from('{"channels":["hot"]}'),
      kind: 'mutation',
      cas: 1n,
      flags: 0,
      expiry: 0,
    },
  ]);
}

async function setupIndex(http: boolean): Promise<State> {
  const store = createMemoryStore();
  const index = createChannelIndex({ store, maxBatchDelayMs: 0 });
  const state: State = { index, seq: 0 };
  await write(state);
  await index.flush();
  if (http) {
    const users = createUserStore({ store, iterations: 1000 });
    await users.put('bench', { password: 'pw', channels: ['hot'] });
    state.server = createChangesServer({ databases: { db: { index, users } } });
    state.url = (await state.server.listen()).url;
    state.clients = fork(CLIENTS, [], {
      env: { ...process.env, [CLIENTS_ENV]: '1' },
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await fromChild(state.clients, 'ready');
    state.floor = await startFloor();
  }
  return state;
}

/** HTTP rounds before measuring: the first ones also measure the JIT compiling the server's path. */
const HTTP_WARMUP_ROUNDS = 5;

async function setupHttp(o: RunOptions, n: number): Promise<State> {
  const state = await setupIndex(true);
  if (!o.quick)
    for (let i = 0; i < HTTP_WARMUP_ROUNDS; i++) {
      await httpRound(state, n);
      await floorRound(state, n);
    }
  return state;
}

/** The same for the index API rows: their first rounds at 10,000 waiters read 2–4× the steady p99. */
const API_WARMUP_ROUNDS = 3;

async function setupApi(o: RunOptions, n: number): Promise<State> {
  const state = await setupIndex(false);
  if (!o.quick) for (let i = 0; i < API_WARMUP_ROUNDS; i++) await apiRound(state, n);
  return state;
}

function fromChild<T extends FromClients['type']>(
  proc: ChildProcess,
  type: T,
): Promise<Extract<FromClients, { type: T }>> {
  return new Promise((resolve, reject) => {
    const done = () => {
      proc.off('message', on);
      proc.off('exit', exit);
    };
    const on = (m: FromClients) => {
      if (m.type === 'error') {
        done();
        reject(new Error(`longpoll clients: ${m.message}`));
      } else if (m.type === type) {
        done();
        resolve(m as Extract<FromClients, { type: T }>);
      }
    };
    const exit = (code: number | null) => {
      done();
      reject(new Error(`longpoll clients exited with ${code}`));
    };
    proc.on('message', on);
    proc.once('exit', exit);
  });
}

async function apiRound(state: State, n: number): Promise<Measurement> {
  const since = (await state.index.changes({ channels: ['hot'], limit: 1, since: 'now' })).lastSeq;
  let t0 = 0n;
  const got = Array.from({ length: n }, async () => {
    for (;;) {
      await state.index.waitForChanges({ channels: ['hot'], since, timeoutMs: 60_000 });
      const r = await state.index.changes({ channels: ['hot'], since });
      if (r.results.length) return process.hrtime.bigint() - t0;
    }
  });
  await waitFor(() => state.index.stats().waiters >= n);
  t0 = process.hrtime.bigint();
  await write(state);
  return measurement(await Promise.all(got));
}

async function httpRound(state: State, n: number): Promise<Measurement> {
  const since = (await state.index.changes({ channels: ['hot'], since: 'now', limit: 1 })).lastSeq;
  const proc = state.clients!;
  const answers = fromChild(proc, 'done');
  const path = `/db/_changes?feed=longpoll&timeout=60000&since=${since}`;
  proc.send({ type: 'round', url: state.url!, path, auth, n } satisfies ToClients);
  // (identical longpolls share one index waiter: the server counts the clients)
  // (the child closed the other server's connections first: their closing is not timed here)
  await waitFor(() => state.server!.stats().longpollsWaiting >= n && (state.floor?.open ?? 0) === 0);
  const t0 = process.hrtime.bigint();
  await write(state);
  const { times } = await answers;
  return measurement(times.map((t) => BigInt(t) - t0));
}

/** The node:http peer's round: the same clients and request, answered by the bare server. */
async function floorRound(state: State, n: number): Promise<Measurement> {
  const floor = state.floor!;
  const proc = state.clients!;
  const answers = fromChild(proc, 'done');
  // (the body an answer with one entry has, as the changes server writes it after the head)
  const body = Buffer.from(
    `{"seq":"7:${state.seq}","id":"hot-${state.seq}","changes":[{"rev":"1-0000000000000001"}]}\n],\n"last_seq":"7:${state.seq}"}\n`,
  );
  floor.held.length = 0;
  proc.send({
    type: 'round',
    url: floor.url,
    path: '/db/_changes?feed=longpoll',
    auth,
    n,
  } satisfies ToClients);
  await waitFor(() => floor.held.length >= n && state.server!.stats().connections === 0);
  const t0 = process.hrtime.bigint();
  for (const res of floor.held.splice(0)) res.end(body);
  // (how long the server's own writes took: the rest of the p99 is the clients reading them)
  const writeMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const { times } = await answers;
  const m = measurement(times.map((t) => BigInt(t) - t0));
  return { ...m, extra: { ...m.extra, writeMs } };
}

async function emitterRound(n: number): Promise<Measurement> {
  const ee = new EventEmitter();
  ee.setMaxListeners(0);
  let t0 = 0n;
  const got = Array.from(
    { length: n },
    () => new Promise<bigint>((r) => ee.once('w', () => r(process.hrtime.bigint() - t0))),
  );
  t0 = process.hrtime.bigint();
  ee.emit('w');
  return measurement(await Promise.all(got));
}

async function teardown(state: State): Promise<void> {
  if (state.clients) {
    const exited = new Promise<void>((r) => state.clients!.once('exit', () => r()));
    state.clients.send({ type: 'stop' } satisfies ToClients);
    await exited;
  }
  await state.server?.close();
  if (state.floor) {
    state.floor.server.closeAllConnections();
    await new Promise((r) => state.floor!.server.close(r));
  }
  await state.index.close();
}

const UNIT = 'waiters/s (n ÷ p99)';

/**
 * One row: `n` waiters over HTTP longpolls or on the index API (a quick run uses a tenth), against
 * the same number of promises resolved by one event.
 */
function wakeScenario(via: 'http' | 'api', n: number): Scenario<State> {
  const round = via === 'http' ? httpRound : apiRound;
  const who = via === 'http' ? 'HTTP longpolls' : 'waiting clients';
  const size = (quick: boolean) => (quick ? n / 10 : n);
  return {
    name: `channel-index.longpoll-wake.${via}-${n / 1000}k`,
    issue: 9,
    unit: UNIT,
    goal: {
      text: `p99 under 20 ms from the write to the answer, ${n.toLocaleString('en')} ${who}`,
      absoluteAtLeast: n / 0.02,
    },
    setup: (o) => (via === 'http' ? setupHttp(o, n) : setupApi(o, n)),
    subject: (s, { quick }) => round(s, size(quick)),
    baseline: (_s, { quick }) => emitterRound(size(quick)),
    ...(via === 'http'
      ? { peers: { 'node:http': (s: State, o: RunOptions) => floorRound(s, size(o.quick)) } }
      : {}),
    teardown,
  };
}

export const scenarios: Scenario<State>[] = [
  wakeScenario('http', 1000),
  // (the issue's own goal, over HTTP: 10,000 server sockets here, 10,000 client ones in the child)
  wakeScenario('http', 10_000),
  wakeScenario('api', 1000),
  wakeScenario('api', 10_000),
];
