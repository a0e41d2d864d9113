// Unauthenticated data-node connections do not live forever: a client that sends the SCRAM
// client-first and goes silent, one that never says anything, and one that keeps itself busy with
// NOOPs without logging in are all closed `authTimeoutMs` after connecting and counted in
// `auth_timeouts`. Authenticated connections, DCP or not, are untouched and the node keeps serving.
import { createScramProvider } from '@tributary/auth-scram';
import { type Cluster, startCluster } from '@tributary/cluster';
import { DcpOpenFlag, encodeDcpOpen, encodeNoop, encodeSaslAuth, Status } from '@tributary/codec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/pipeline.js';
import { clusterStat, hello, login, RawMcbp } from './mcbp.js';

const AUTH_TIMEOUT_MS = 400;

describe('data node: connections that do not authenticate in time are closed', () => {
  let cluster: Cluster;
  const timeouts = () => clusterStat(cluster, 'counters', 'auth_timeouts');
  const connections = () => clusterStat(cluster, 'gauges', 'connections');

  beforeAll(async () => {
    cluster = await startCluster({
      nodes: 1,
      vbuckets: 8,
      buckets: ['default'],
      users: { Administrator: 'password' },
      authTimeoutMs: AUTH_TIMEOUT_MS,
    });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  const connect = () => RawMcbp.connect(cluster.nodes[0]!.kvPort);

  it('SCRAM client-first then silence: closed after authTimeoutMs, counted; a login opened before it is unaffected', {
    timeout: 30_000,
  }, async () => {
    // Logged in first, so its own deadline passes before the silent one's.
    const good = await connect();
    await login(good, 'Administrator', 'password', 'default');
    const dcp = await connect();
    await login(dcp, 'Administrator', 'password', 'default');
    const open = await dcp.call(
      encodeDcpOpen({ opaque: dcp.nextOpaque(), name: 'auth-timeout', flags: DcpOpenFlag.Producer }),
    );
    expect(open.status).toBe(Status.Success);

    const before = timeouts();
    const started = Date.now();
    const cut = await connect();
    await hello(cut, 'cut');
    const client = createScramProvider().createClient({
      mechanism: 'SCRAM-SHA256',
      username: 'Administrator',
      password: 'password',
      secure: false,
    });
    const first = await cut.call(
      encodeSaslAuth({
        opaque: cut.nextOpaque(),
        mechanism: 'SCRAM-SHA256',
        data: Buffer.from(client.start()),
      }),
    );
    expect(first.status).toBe(Status.AuthContinue);
    await cut.closed; // ... then nothing: the server hangs up
    expect(Date.now() - started).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 5);
    expect(timeouts()).toBe(before + 1);

    // The authenticated connections outlived their own deadline and still answer.
    for (const c of [good, dcp]) {
      expect((await c.call(encodeNoop({ opaque: c.nextOpaque() }))).status).toBe(Status.Success);
    }
    expect(timeouts()).toBe(before + 1);
    good.destroy();
    dcp.destroy();
    await Promise.all([good.closed, dcp.closed]);
  });

  it('a connection that never sends a byte, and one that only sends NOOPs, are closed too', {
    timeout: 30_000,
  }, async () => {
    const before = timeouts();
    const silent = await connect();
    const chatty = await connect();
    // NOOPs are allowed before authentication, but they do not buy more time.
    let noops = 0;
    const keepBusy = async () => {
      while (!chatty.socket.destroyed) {
        const r = await chatty.call(encodeNoop({ opaque: chatty.nextOpaque() })).catch(() => undefined);
        if (!r) return;
        expect(r.status).toBe(Status.Success);
        noops++;
      }
    };
    const busy = keepBusy();
    await Promise.all([silent.closed, chatty.closed]);
    await busy;
    expect(noops).toBeGreaterThan(0);
    expect(timeouts()).toBe(before + 2);
    await waitFor('the closed sessions released', () => connections() === 0, { timeoutMs: 5000 });

    // The node is up and a proper login on a new connection works.
    const next = await connect();
    await login(next, 'Administrator', 'password', 'default');
    expect((await next.call(encodeNoop({ opaque: next.nextOpaque() }))).status).toBe(Status.Success);
    next.destroy();
    await next.closed;
  });
});
