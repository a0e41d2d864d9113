import {
  DcpOpenFlag,
  DcpSnapshotFlag,
  DcpStreamEndReason,
  DcpStreamReqFlag,
  decodeDcpStreamReqResponse,
  encodeDcpCloseStream,
  encodeDcpControl,
  encodePacket,
  HelloFeature,
  Magic,
  Opcode,
  Status,
} from '@tributary/codec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';
import {
  bootstrap,
  type DcpEvent,
  dcpOpen,
  eventsFor,
  FEATURES,
  streamReq,
  TestClient,
} from './helpers/client.js';

let cluster: Cluster;
const VBS = 16;
let uniq = 0;

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 1,
    vbuckets: VBS,
    buckets: ['default'],
    users: { Administrator: 'password' },
    checkpointMaxItems: 10,
    expiryPagerIntervalMs: 100,
  });
});
afterAll(async () => {
  await cluster?.close();
});

/** Keys that hash to `vb`. */
function keysFor(vb: number, n: number, prefix = `k${uniq++}-`): string[] {
  const b = cluster.bucket('default');
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const k = `${prefix}${i}`;
    if (b.vbucketOf(k) === vb) out.push(k);
  }
  return out;
}

async function dcpClient(
  controls: Record<string, string> = {},
  flags: number = DcpOpenFlag.Producer,
  features = FEATURES,
): Promise<TestClient> {
  const c = await TestClient.connect(cluster.nodes[0].kvPort);
  await bootstrap(c, { bucket: 'default', features });
  await dcpOpen(c, `test:${uniq++}`, flags, controls);
  return c;
}

function items(evs: DcpEvent[]): DcpEvent[] {
  return evs.filter((e) => e.type === 'mutation' || e.type === 'deletion' || e.type === 'expiration');
}

/** Every item lies inside the marker before it, and each snapshot ends on its end seqno. */
function checkSnapshots(evs: DcpEvent[]): void {
  let cur: DcpEvent | undefined;
  let last = 0;
  for (const e of evs) {
    if (e.type === 'marker') {
      if (cur) expect(last).toBe(cur.end);
      cur = e;
    } else if (e.seqno !== undefined) {
      expect(cur).toBeDefined();
      expect(e.seqno).toBeGreaterThanOrEqual(cur!.start!);
      expect(e.seqno).toBeLessThanOrEqual(cur!.end!);
      expect(e.seqno).toBeGreaterThan(last);
      last = e.seqno;
    }
  }
}

describe('DCP producer', () => {
  it('streams from zero: failover log, disk snapshot, mutations and deletions, then live', async () => {
    const b = cluster.bucket('default');
    const vb = 3;
    const keys = keysFor(vb, 5);
    for (const k of keys) b.upsert(k, { k });
    b.upsert(keys[0], { k: 'v2' }); // dedup: keys[0]'s first version is superseded
    b.remove(keys[1]);
    const high = b.highSeqnos()[vb];
    const c = await dcpClient();
    const r = await streamReq(c, { vbucket: vb, opaque: 0xabc });
    expect(r.status).toBe(0);
    const failoverLog = decodeDcpStreamReqResponse(r).failoverLog!;
    expect(failoverLog[0].vbucketUuid).toBe(b.failoverLog(vb)[0].vbucketUuid);
    await c.until(() => items(eventsFor(c, 0xabc)).some((e) => e.seqno === high), 5000, 'backfill');
    const evs = eventsFor(c, 0xabc);
    expect(evs[0].type).toBe('marker');
    expect(evs[0].start).toBe(0);
    expect(evs[0].flags! & (DcpSnapshotFlag.Disk | DcpSnapshotFlag.Memory)).toBeTruthy();
    expect(evs.every((e) => e.vbucket === vb)).toBe(true);
    checkSnapshots(evs);
    const seen = items(evs);
    // Deduplicated: one entry per key, the newest version.
    expect(seen.map((e) => e.key).sort()).toEqual([...keys].sort());
    expect(seen.find((e) => e.key === keys[0])!.value!.toString()).toBe('{"k":"v2"}');
    expect(seen.find((e) => e.key === keys[1])!.type).toBe('deletion');
    expect(seen.find((e) => e.key === keys[0])!.revSeqno).toBe(2);
    // The response came before the first stream message.
    const ri = c.rawPackets.findIndex((p) => p.opcode === Opcode.DcpStreamReq);
    const mi = c.rawPackets.findIndex((p) => p.opcode === Opcode.DcpSnapshotMarker);
    expect(ri).toBeLessThan(mi);
    // Live.
    b.upsert(keys[2], 'live!');
    await c.until(
      () => items(eventsFor(c, 0xabc)).some((e) => e.value?.toString() === 'live!'),
      5000,
      'live',
    );
    const live = eventsFor(c, 0xabc);
    const lastMarker = live.filter((e) => e.type === 'marker').at(-1)!;
    expect(lastMarker.flags! & DcpSnapshotFlag.Memory).toBeTruthy();
    checkSnapshots(live);
    // Only classic DCP opcodes reached this connection.
    const allowed = new Set<number>([
      Opcode.DcpSnapshotMarker,
      Opcode.DcpMutation,
      Opcode.DcpDeletion,
      Opcode.DcpStreamEnd,
      Opcode.DcpNoop,
    ]);
    expect(c.events.every((e) => allowed.has(e.opcode))).toBe(true);
    expect(c.rawPackets.every((p) => p.magic === Magic.Request || p.magic === Magic.Response)).toBe(true);
    c.close();
  });

  it('mutation messages carry every field exactly (short and long keys, binary bytes, big flags)', async () => {
    const b = cluster.bucket('default');
    const vb = 13;
    // A short key, a key past the byte-loop fast path (> 64 bytes), and a UTF-8 key.
    const short = keysFor(vb, 1, 'f-')[0]!;
    const long = keysFor(vb, 1, `${'L'.repeat(80)}-`)[0]!;
    const utf8 = keysFor(vb, 1, 'clé-ü-')[0]!;
    const value = Buffer.from([0, 1, 2, 0xff, 0x80, 0x7f, 0x61]);
    const wrote = new Map<string, { cas: bigint; seqno: number; flags: number; expiry: number }>();
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    for (const [k, flags] of [
      [short, 0xffffffff],
      [long, 0x80000001],
      [utf8, 7],
    ] as const) {
      b.upsert(k, 'first');
      const r = b.upsert(k, value, { flags, expiry });
      wrote.set(k, { cas: r.cas, seqno: r.seqno, flags, expiry });
    }
    const c = await dcpClient();
    const r = await streamReq(c, { vbucket: vb, opaque: 0xf1e1d });
    expect(r.status).toBe(0);
    const high = b.highSeqnos()[vb]!;
    await c.until(() => items(eventsFor(c, 0xf1e1d)).some((e) => e.seqno === high), 5000, 'stream');
    const seen = items(eventsFor(c, 0xf1e1d));
    for (const [k, w] of wrote) {
      const m = seen.find((e) => e.key === k);
      expect(m, k).toBeDefined();
      expect(m!.type).toBe('mutation');
      expect(m!.cas).toBe(w.cas);
      expect(m!.seqno).toBe(w.seqno);
      expect(m!.revSeqno).toBe(2);
      expect(m!.flags).toBe(w.flags);
      expect(m!.expiry).toBe(w.expiry);
      expect(m!.value!.equals(value)).toBe(true);
      expect(m!.packet.key.equals(Buffer.from(k, 'utf8'))).toBe(true);
    }
    c.close();
  });

  it('streams from the middle with a valid vbuuid, and to an end seqno (STREAM_END ok)', async () => {
    const b = cluster.bucket('default');
    const vb = 4;
    const keys = keysFor(vb, 8);
    for (const k of keys) b.upsert(k, k);
    const seqs = keys.map((k) => b.get(k)!.seqno);
    const uuid = b.failoverLog(vb)[0].vbucketUuid;
    const c = await dcpClient();
    const mid = seqs[3];
    const end = seqs[6];
    const r = await streamReq(c, {
      vbucket: vb,
      opaque: 7,
      startSeqno: mid,
      vbucketUuid: uuid,
      snapStart: mid,
      snapEnd: mid,
      endSeqno: end,
    });
    expect(r.status).toBe(0);
    await c.until(() => eventsFor(c, 7).some((e) => e.type === 'end'), 5000, 'stream end');
    const evs = eventsFor(c, 7);
    expect(items(evs).map((e) => e.seqno)).toEqual(seqs.slice(4, 7));
    expect(evs[0].start).toBe(mid); // first marker starts at the requested snapshot start
    expect(evs.at(-1)!.reason).toBe(DcpStreamEndReason.Ok);
    checkSnapshots(evs);
    // The opaque is dead afterwards: a new request for the same vb is allowed.
    const again = await streamReq(c, {
      vbucket: vb,
      opaque: 8,
      startSeqno: end,
      vbucketUuid: uuid,
      snapStart: end,
      snapEnd: end,
      flags: DcpStreamReqFlag.ToLatest,
    });
    expect(again.status).toBe(0);
    await c.until(() => eventsFor(c, 8).some((e) => e.type === 'end'), 5000, 'to-latest end');
    expect(items(eventsFor(c, 8)).map((e) => e.seqno)).toEqual([seqs[7]]);
    c.close();
  });

  it('rolls back: unknown vbuuid → 0, future seqno → high seqno, stale snapshot → its start; ERANGE for bad ranges', async () => {
    const b = cluster.bucket('default');
    const vb = 5;
    for (const k of keysFor(vb, 4)) b.upsert(k, 1);
    const high = b.highSeqnos()[vb];
    const uuid = b.failoverLog(vb)[0].vbucketUuid;
    const c = await dcpClient();
    const rollbackTo = (p: { status: number; value: Buffer }) => {
      expect(p.status).toBe(Status.Rollback);
      return Number(p.value.readBigUInt64BE(0));
    };
    expect(
      rollbackTo(
        await streamReq(c, { vbucket: vb, startSeqno: 2, vbucketUuid: 0xdeadn, snapStart: 2, snapEnd: 2 }),
      ),
    ).toBe(0);
    expect(
      rollbackTo(
        await streamReq(c, {
          vbucket: vb,
          startSeqno: high + 10,
          vbucketUuid: uuid,
          snapStart: high + 10,
          snapEnd: high + 10,
        }),
      ),
    ).toBe(high);
    // start 0 with a strict vbuuid check and unknown uuid.
    expect(
      rollbackTo(
        await streamReq(c, {
          vbucket: vb,
          startSeqno: 0,
          vbucketUuid: 0x1234n,
          flags: DcpStreamReqFlag.StrictVbUuid,
        }),
      ),
    ).toBe(0);
    // start > end, and start outside the snapshot.
    expect(
      (await streamReq(c, { vbucket: vb, startSeqno: 3, endSeqno: 2, snapStart: 3, snapEnd: 3 })).status,
    ).toBe(Status.Erange);
    expect(
      (await streamReq(c, { vbucket: vb, startSeqno: 3, snapStart: 4, snapEnd: 5, vbucketUuid: uuid }))
        .status,
    ).toBe(Status.Erange);
    // not my vbucket
    expect((await streamReq(c, { vbucket: VBS + 1 })).status).toBe(Status.NotMyVbucket);
    // duplicate stream
    expect((await streamReq(c, { vbucket: vb, opaque: 500 })).status).toBe(0);
    expect((await streamReq(c, { vbucket: vb, opaque: 501 })).status).toBe(Status.KeyEexists);
    c.close();
  });

  it('bounds memory snapshots by checkpoints (10 items each here)', async () => {
    const b = cluster.bucket('default');
    const vb = 6;
    const c = await dcpClient();
    expect((await streamReq(c, { vbucket: vb, opaque: 66, startSeqno: 0 })).status).toBe(0);
    const keys = keysFor(vb, 35);
    // Written in groups of 7 while the stream keeps up: memory snapshots never cross a checkpoint.
    for (let i = 0; i < keys.length; i += 7) {
      for (const k of keys.slice(i, i + 7)) b.upsert(k, 'x');
      const high = b.highSeqnos()[vb];
      await c.until(() => items(eventsFor(c, 66)).some((e) => e.seqno === high), 5000, 'live items');
    }
    const evs = eventsFor(c, 66);
    checkSnapshots(evs);
    const markers = evs.filter((e) => e.type === 'marker');
    expect(markers.length).toBeGreaterThanOrEqual(5);
    for (const m of markers) {
      expect(m.flags! & DcpSnapshotFlag.Memory).toBeTruthy();
      // Checkpoints hold seqnos 1-10, 11-20, ...; no snapshot spans two of them.
      expect(Math.floor((Math.max(m.start!, 1) - 1) / 10)).toBe(Math.floor((m.end! - 1) / 10));
    }
    expect(markers.some((m) => m.flags! & DcpSnapshotFlag.Checkpoint)).toBe(true);
    // A stream that starts behind the in-memory checkpoints backfills one disk snapshot.
    const late = await dcpClient();
    expect((await streamReq(late, { vbucket: vb, opaque: 67 })).status).toBe(0);
    await late.until(() => items(eventsFor(late, 67)).length === 35, 5000, 'backfill');
    const first = eventsFor(late, 67)[0];
    expect(first.flags! & DcpSnapshotFlag.Disk).toBeTruthy();
    expect(first.end).toBe(b.highSeqnos()[vb]);
    late.close();
    c.close();
  });

  it('flow control: a consumer that stops acking stalls; acks resume it; bytes counted as the server counts', async () => {
    const b = cluster.bucket('default');
    const vb = 7;
    const keys = keysFor(vb, 200);
    for (const k of keys) b.upsert(k, 'v'.repeat(100));
    const high = b.highSeqnos()[vb];
    const c = await dcpClient({
      connection_buffer_size: '4096',
      enable_noop: 'true',
      set_noop_interval: '20',
    });
    expect((await streamReq(c, { vbucket: vb, opaque: 77 })).status).toBe(0);
    const countedBytes = () => eventsFor(c, 77).reduce((a, e) => a + e.size, 0);
    await c.until(() => countedBytes() >= 4096, 5000, 'window filled');
    // Give the producer every chance to overrun the window.
    const pingOpaque = c.nextOpaque();
    c.send(encodePacket({ magic: Magic.Request, opcode: Opcode.Noop, opaque: pingOpaque }));
    await c.reply(Opcode.Noop, pingOpaque);
    await new Promise((r) => setImmediate(r));
    const stalled = countedBytes();
    const oneMessage = eventsFor(c, 77).at(-1)!.size;
    expect(stalled).toBeLessThanOrEqual(4096 + oneMessage);
    expect(items(eventsFor(c, 77)).length).toBeLessThan(200);
    // Resume: ack everything received as it arrives.
    c.autoAckEvery = 1;
    c.ack(stalled);
    await c.until(() => items(eventsFor(c, 77)).some((e) => e.seqno === high), 10_000, 'drained after acks');
    expect(items(eventsFor(c, 77)).length).toBe(200);
    c.close();
  });

  it('controls: old clients’ keys succeed, unknown keys get EINVAL, feature controls are refused', async () => {
    const c = await dcpClient();
    const ctl = async (key: string, value: string) => {
      const o = c.nextOpaque();
      c.send(encodeDcpControl({ opaque: o, key, value }));
      return (await c.reply(Opcode.DcpControl, o)).status;
    };
    for (const [k, v] of [
      ['connection_buffer_size', '20971520'],
      ['enable_noop', 'true'],
      ['set_noop_interval', '180'],
      ['set_noop_interval', '0.5'],
      ['set_priority', 'high'],
      ['enable_expiry_opcode', 'true'],
      ['send_stream_end_on_client_close_stream', 'true'],
      ['supports_cursor_dropping_vulcan', 'true'],
    ])
      expect(await ctl(k, v), k).toBe(0);
    expect(await ctl('no_such_control', 'true')).toBe(Status.Einval);
    expect(await ctl('enable_noop', 'maybe')).toBe(Status.Einval);
    expect(await ctl('max_marker_version', '2.2')).toBe(Status.NotSupported);
    // Accepted (the producer may always send in-order snapshots and never sends OSO markers).
    expect(await ctl('enable_out_of_order_snapshots', 'true')).toBe(0);
    c.close();
  });

  it('CLOSE_STREAM: STREAM_END(closed) when asked, KEY_ENOENT for no stream; GET_FAILOVER_LOG', async () => {
    const b = cluster.bucket('default');
    const vb = 8;
    const c = await dcpClient({ send_stream_end_on_client_close_stream: 'true' });
    expect((await streamReq(c, { vbucket: vb, opaque: 88 })).status).toBe(0);
    let o = c.nextOpaque();
    c.send(encodeDcpCloseStream({ vbucket: vb, opaque: o }));
    expect((await c.reply(Opcode.DcpCloseStream, o)).status).toBe(0);
    await c.until(() => eventsFor(c, 88).some((e) => e.type === 'end'), 5000, 'end after close');
    expect(eventsFor(c, 88).at(-1)!.reason).toBe(DcpStreamEndReason.Closed);
    o = c.nextOpaque();
    c.send(encodeDcpCloseStream({ vbucket: vb, opaque: o }));
    expect((await c.reply(Opcode.DcpCloseStream, o)).status).toBe(Status.KeyEnoent);
    const fl = await c.call({ opcode: Opcode.DcpGetFailoverLog, vbucket: vb });
    expect(fl.status).toBe(0);
    expect(fl.value.length % 16).toBe(0);
    expect(fl.value.readBigUInt64BE(0)).toBe(b.failoverLog(vb)[0].vbucketUuid);
    c.close();
  });

  it('noops at the negotiated interval; a consumer that stops answering is dropped', async () => {
    const quiet = await dcpClient({ enable_noop: 'true', set_noop_interval: '0.1' });
    quiet.answerNoops = false;
    const polite = await dcpClient({ enable_noop: 'true', set_noop_interval: '0.1' });
    expect((await streamReq(quiet, { vbucket: 9, opaque: 1 })).status).toBe(0);
    expect((await streamReq(polite, { vbucket: 9, opaque: 1 })).status).toBe(0);
    await quiet.closedPromise();
    expect(quiet.events.some((e) => e.type === 'noop')).toBe(true);
    await polite.until(
      () => polite.events.filter((e) => e.type === 'noop').length >= 5,
      5000,
      'several noops',
    );
    expect(polite.closed).toBe(false);
    polite.close();
  });

  it('expired documents produce DCP expirations (or deletions without the expiry opcode)', async () => {
    const b = cluster.bucket('default');
    const vb = 10;
    const [k] = keysFor(vb, 1);
    const withOpcode = await dcpClient(
      { enable_expiry_opcode: 'true' },
      DcpOpenFlag.Producer | DcpOpenFlag.IncludeDeleteTimes,
    );
    const without = await dcpClient();
    expect((await streamReq(withOpcode, { vbucket: vb, opaque: 10 })).status).toBe(0);
    expect((await streamReq(without, { vbucket: vb, opaque: 10 })).status).toBe(0);
    b.upsert(k, 'short-lived', { expiry: 1 });
    await withOpcode.until(
      () => items(eventsFor(withOpcode, 10)).some((e) => e.type === 'expiration' && e.key === k),
      5000,
      'expiration',
    );
    await without.until(
      () => items(eventsFor(without, 10)).some((e) => e.type === 'deletion' && e.key === k),
      5000,
      'deletion',
    );
    expect(b.get(k)).toBeUndefined();
    withOpcode.close();
    without.close();
  });

  it('collections-enabled connections get LEB128-prefixed keys; no-value and xattr flags', async () => {
    const b = cluster.bucket('default');
    const vb = 11;
    const [k] = keysFor(vb, 1);
    b.upsert(k, { big: 'value' });
    const c = await dcpClient({}, DcpOpenFlag.Producer | DcpOpenFlag.NoValue, [
      ...FEATURES,
      HelloFeature.Collections,
    ]);
    expect((await streamReq(c, { vbucket: vb, opaque: 11 })).status).toBe(0);
    await c.until(() => items(eventsFor(c, 11)).length > 0, 5000, 'item');
    const m = items(eventsFor(c, 11))[0];
    expect(m.packet.key[0]).toBe(0);
    expect(m.packet.key.subarray(1).toString()).toBe(k);
    expect(m.packet.value.length).toBe(0);
    // Include-xattrs needs noops.
    const x = await dcpClient({}, DcpOpenFlag.Producer | DcpOpenFlag.IncludeXattrs);
    expect((await streamReq(x, { vbucket: vb, opaque: 12 })).status).toBe(Status.NotSupported);
    c.close();
    x.close();
  });

  it('a DCP_OPEN with a name in use kicks the old connection', async () => {
    const first = await TestClient.connect(cluster.nodes[0].kvPort);
    await bootstrap(first, { bucket: 'default' });
    await dcpOpen(first, 'same-name');
    const second = await TestClient.connect(cluster.nodes[0].kvPort);
    await bootstrap(second, { bucket: 'default' });
    await dcpOpen(second, 'same-name');
    await first.closedPromise();
    expect(first.closed).toBe(true);
    expect((await streamReq(second, { vbucket: 1 })).status).toBe(0);
    second.close();
  });

  it('stream ids: required once enabled, carried in alt-framed messages', async () => {
    const b = cluster.bucket('default');
    const vb = 12;
    const [k] = keysFor(vb, 1);
    b.upsert(k, 'sid');
    const c = await dcpClient({ enable_stream_id: 'true' });
    expect((await streamReq(c, { vbucket: vb, opaque: 1 })).status).toBe(0x8d);
    const r = await streamReq(c, { vbucket: vb, opaque: 2, value: Buffer.from('{"sid":5}') });
    expect(r.status).toBe(Status.NotSupported); // JSON value needs noops, as kv_engine
    c.close();
  });
});
