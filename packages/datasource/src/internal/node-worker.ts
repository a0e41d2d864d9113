import { DcpOpenFlag, HelloFeature, Opcode, Status, type WirePacket } from '@tributary/codec';
import {
  type AuthProvider,
  backoffLoop,
  ErrAuthFailed,
  ErrAuthMechanism,
  isTributaryError,
} from '@tributary/core';
import { ErrBootstrap, ErrConnectionLost, ErrPingTimeout, ErrStream } from '../errors.js';
import { isFlowControlled } from '../flow-control.js';
import { decodeMetaData, emptyMetaData, streamStartFor, type VBucketMetaData } from '../metadata.js';
import type { MetaDataResult } from '../receiver.js';
import type { DataSourceCore } from './core.js';
import { DcpConnection } from './dcp-connection.js';
import { certificateError } from './tls-certificate.js';
import type { VBucket } from './vbucket.js';
import {
  closeStreamPacket,
  dcpControlPacket,
  dcpNoopReply,
  dcpOpenPacket,
  forEachVbSeqno,
  getAllVbSeqnosPacket,
  getCollectionsManifestPacket,
  helloFeatures,
  helloPacket,
  listMechsPacket,
  noopPacket,
  parseFailoverLog,
  readU64,
  saslPacket,
  selectBucketPacket,
  streamReqPacket,
} from './wire.js';

const AGENT = 'tributary-datasource/0.1';
/** The abort reason of a closed worker (the default DOMException is slow to build). */
const ErrWorkerClosed = new Error('data-node worker closed');

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, '0')}`;
}

export function splitHostPort(server: string): { host: string; port: number } {
  const i = server.lastIndexOf(':');
  let host = server.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(server.slice(i + 1)) };
}

/**
 * One data node: connects through the connection factory, bootstraps (HELLO, SASL, SELECT_BUCKET,
 * DCP_OPEN, DCP_CONTROL), requests a stream for each vbucket it owns, answers NOOPs, pings a
 * silent connection and drops it, and reconnects with the data-manager backoff until closed.
 */
export class NodeWorker {
  readonly server: string;
  readonly tls: boolean;
  wanted: ReadonlySet<number> = new Set();
  conn: DcpConnection | null = null;
  ready = false;
  closed = false;
  readonly #core: DataSourceCore;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #seqnosSupported = true;

  constructor(core: DataSourceCore, server: string, tls: boolean) {
    this.#core = core;
    this.server = server;
    this.tls = tls;
  }

  start(): void {
    const { opts, s } = this.#core;
    s.TotWorkerStart.inc();
    const signal = AbortSignal.any([this.#abort.signal, this.#core.signal]);
    this.#loop = backoffLoop(`worker ${this.server}`, () => this.#body(), {
      startMs: opts.dataManagerSleepInitMs,
      factor: opts.dataManagerBackoffFactor,
      maxMs: opts.dataManagerSleepMaxMs,
      signal,
    })
      .catch((err) => this.#core.reportError(err as Error))
      .finally(() => s.TotWorkerDone.inc());
  }

  /** Stops the worker; resolves when its loop has ended and its connection is closed. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.#core.s.TotWorkerClientClose.inc();
      this.#abort.abort(ErrWorkerClosed);
      this.conn?.destroy();
    }
    await this.#loop;
    this.#core.s.TotWorkerClientCloseDone.inc();
  }

  /** The vbuckets this node should stream now; streams no longer wanted are closed. */
  setWanted(wanted: ReadonlySet<number>): void {
    const old = this.wanted;
    this.wanted = wanted;
    this.#core.s.TotRefreshWorker.inc();
    if (this.ready) {
      for (const vb of old) {
        if (wanted.has(vb)) continue;
        const vbs = this.#core.vbs[vb];
        if (vbs && vbs.worker === this) this.closeStream(vbs);
      }
      for (const vb of wanted) {
        const vbs = this.#core.vbs[vb];
        if (vbs) this.#core.vbIdle(vbs);
      }
    }
    this.#core.s.TotRefreshWorkerDone.inc();
  }

  async #body(): Promise<number> {
    if (this.closed) return -1;
    const { s, log } = this.#core;
    s.TotWorkerBody.inc();
    let conn: DcpConnection;
    try {
      conn = await this.#connect();
    } catch (err) {
      if (this.closed) return -1;
      log.debug({ err, server: this.server }, 'data node connection failed');
      return 0;
    }
    const startedAt = Date.now();
    this.ready = true;
    const timers = this.#startTimers(conn);
    for (const vb of this.wanted) {
      const vbs = this.#core.vbs[vb];
      if (vbs) this.#core.vbIdle(vbs);
    }
    const why = await conn.closed;
    for (const t of timers) clearInterval(t);
    if (this.closed) return -1;
    s.TotWorkerBodyKick.inc();
    const err = ErrConnectionLost(this.server, why?.message ?? 'closed', { cause: why });
    this.#core.reportError(err);
    this.#core.kick(`lost connection to ${this.server}`);
    // A connection that died at once is no progress: back off rather than spin.
    return Date.now() - startedAt > this.#core.opts.dataManagerSleepMaxMs ? 1 : 0;
  }

  async #connect(): Promise<DcpConnection> {
    const core = this.#core;
    const { s, opts } = core;
    s.TotWorkerConnect.inc();
    const endpoint = splitHostPort(this.server);
    let socket: Awaited<ReturnType<ReturnType<DataSourceCore['factoryFor']>['connect']>>;
    try {
      socket = await core
        .factoryFor(this.tls)
        .connect(endpoint, { signal: this.#abort.signal, timeoutMs: opts.connectTimeoutMs });
    } catch (err) {
      s.TotWorkerConnectErr.inc();
      if (!this.closed) core.reportError(certificateError(err, this.server) ?? (err as Error));
      throw err;
    }
    s.TotWorkerConnectOk.inc();
    if (this.closed) {
      socket.destroy();
      throw new Error('closed');
    }
    const conn = new DcpConnection(
      socket,
      this.server,
      opts.feedBufferSizeBytes,
      opts.feedBufferAckThreshold,
      {
        onPacket: (p) => this.#onPacket(conn, p),
        onClose: () => this.#cleanup(conn),
        onBadFrame: (err) => {
          s.TotWorkerBadFrame.inc();
          s.TotWorkerReceiveErr.inc();
          core.log.warn(
            { err, server: this.server },
            'malformed frame from data node; closing that connection',
          );
        },
        onAck: (n) => {
          s.TotUPRBufferAck.inc();
          s.TotUPRBufferAckBytes.inc(n);
        },
      },
    );
    this.conn = conn;
    try {
      await this.#bootstrap(conn);
    } catch (err) {
      conn.destroy(err as Error);
      if (this.conn === conn) this.conn = null;
      if (!this.closed) core.reportError(err as Error);
      throw err;
    }
    return conn;
  }

  async #bootstrap(conn: DcpConnection): Promise<void> {
    const core = this.#core;
    const { s, opts } = core;
    const t = opts.connectTimeoutMs;
    const features: number[] = [HelloFeature.TcpNoDelay, HelloFeature.Json, HelloFeature.SelectBucket];
    if (opts.includeXAttrs) features.push(HelloFeature.Xattr);
    if (opts.compression) features.push(HelloFeature.Snappy);
    if (opts.collections) features.push(HelloFeature.Collections);
    const oHello = core.nextOpaque();
    const hello = conn.rpc(helloPacket(oHello, AGENT, features), oHello, 'HELLO', t);
    let mechs: Promise<WirePacket> | undefined;
    if (core.username !== undefined) {
      const o = core.nextOpaque();
      mechs = conn.rpc(listMechsPacket(o), o, 'SASL_LIST_MECHS', t);
    }
    const [h, m] = await Promise.allSettled([hello, mechs ?? Promise.resolve(undefined)]);
    if (h.status === 'rejected') {
      s.TotHandShakeErr.inc();
      throw ErrBootstrap(this.server, 'HELLO', (h.reason as Error).message, { cause: h.reason });
    }
    if (h.value.status !== Status.Success) {
      s.TotHandShakeErr.inc();
      throw ErrBootstrap(this.server, 'HELLO', `status ${hex(h.value.status)}`);
    }
    // Keys are LEB128-prefixed only when the server agreed; stripping them otherwise would corrupt keys.
    if (opts.collections && !helloFeatures(h.value.value).has(HelloFeature.Collections)) {
      s.TotHandShakeErr.inc();
      throw ErrBootstrap(this.server, 'HELLO', 'the server did not agree to collections');
    }
    if (core.username !== undefined) {
      if (m.status === 'rejected') {
        s.TotWorkerAuthErr.inc();
        throw ErrBootstrap(this.server, 'SASL_LIST_MECHS', (m.reason as Error).message, { cause: m.reason });
      }
      await this.#authenticate(conn, m.value as WirePacket);
    }
    // SELECT_BUCKET, DCP_OPEN and the controls go out in one write.
    const steps: { what: string; required: boolean; p: Promise<WirePacket>; onFail?: () => void }[] = [];
    const add = (what: string, buf: (o: number) => Buffer, required: boolean, onFail?: () => void) => {
      const o = core.nextOpaque();
      steps.push({ what, required, p: conn.rpc(buf(o), o, what, t), onFail });
    };
    add(
      'SELECT_BUCKET',
      (o) => selectBucketPacket(o, core.bucketName),
      true,
      () => s.TotSelectBucketErr.inc(),
    );
    let flags = DcpOpenFlag.Producer | DcpOpenFlag.IncludeDeleteTimes;
    if (opts.includeXAttrs) flags |= DcpOpenFlag.IncludeXattrs;
    add(
      'DCP_OPEN',
      (o) => dcpOpenPacket(o, opts.name, flags),
      true,
      () => s.TotWorkerUPROpenErr.inc(),
    );
    const control = (key: string, value: string, required: boolean) => {
      s.TotUPRControl.inc();
      add(
        `DCP_CONTROL ${key}=${value}`,
        (o) => dcpControlPacket(o, key, value),
        required,
        () => s.TotUPRControlErr.inc(),
      );
    };
    if (opts.feedBufferSizeBytes > 0)
      control('connection_buffer_size', String(opts.feedBufferSizeBytes), true);
    control('enable_noop', 'true', true);
    control('set_noop_interval', String(opts.noopIntervalSeconds), true);
    control('enable_expiry_opcode', 'true', false);
    control('send_stream_end_on_client_close_stream', 'true', false);
    if (opts.compression) control('force_value_compression', 'true', false);
    // Collections: the manifest (names by id, the scope filter's id) before any stream request.
    let manifest: Promise<WirePacket> | undefined;
    if (core.collections) {
      const o = core.nextOpaque();
      manifest = conn.rpc(getCollectionsManifestPacket(o), o, 'GET_COLLECTIONS_MANIFEST', t);
    }
    const results = await Promise.allSettled(steps.map((x) => x.p));
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      const r = results[i]!;
      const why =
        r.status === 'rejected'
          ? (r.reason as Error).message
          : r.value.status === 0
            ? ''
            : `status ${hex(r.value.status)}`;
      if (why === '') {
        if (step.what === 'DCP_OPEN') s.TotWorkerUPROpenOk.inc();
        continue;
      }
      step.onFail?.();
      if (step.required) throw ErrBootstrap(this.server, step.what, why);
      core.log.debug({ server: this.server, step: step.what, why }, 'optional DCP control refused');
    }
    if (manifest) this.#applyManifest(await manifest.catch((err: Error) => err));
  }

  #applyManifest(r: WirePacket | Error): void {
    const what = 'GET_COLLECTIONS_MANIFEST';
    if (r instanceof Error) throw ErrBootstrap(this.server, what, r.message, { cause: r });
    if (r.status !== Status.Success) throw ErrBootstrap(this.server, what, `status ${hex(r.status)}`);
    let json: unknown;
    try {
      json = JSON.parse(r.value.toString('utf8'));
    } catch (err) {
      throw ErrBootstrap(this.server, what, 'the manifest is not JSON', { cause: err });
    }
    if (this.#core.collections?.applyManifest(json)) this.#core.manifestChanged();
  }

  /** Fetches the collections manifest again (the config's manifest uid rose). */
  async fetchManifest(): Promise<void> {
    const conn = this.conn;
    if (!conn?.alive) return;
    const o = this.#core.nextOpaque();
    const r = await conn
      .rpc(getCollectionsManifestPacket(o), o, 'GET_COLLECTIONS_MANIFEST', this.#core.opts.connectTimeoutMs)
      .catch((err: Error) => err);
    this.#applyManifest(r);
  }

  async #authenticate(conn: DcpConnection, mechsReply: WirePacket): Promise<void> {
    const core = this.#core;
    const { s } = core;
    s.TotWorkerAuth.inc();
    s.TotWorkerAuthenticateMemcachedConn.inc();
    const t = core.opts.connectTimeoutMs;
    const offered =
      mechsReply.status === 0 ? mechsReply.value.toString('utf8').split(/\s+/).filter(Boolean) : [];
    const norm = (m: string) => m.toUpperCase().replace(/^SCRAM-SHA-/, 'SCRAM-SHA');
    const offeredN = offered.map(norm);
    let provider: AuthProvider | undefined;
    let mechanism: string | undefined;
    const candidates = core.authProviders();
    outer: for (const p of candidates) {
      for (const mech of p.mechanisms) {
        if (core.mechanism !== undefined && norm(mech) !== norm(core.mechanism)) continue;
        if (offeredN.length > 0 && !offeredN.includes(norm(mech))) continue;
        provider = p;
        mechanism = mech;
        break outer;
      }
    }
    if (!provider || !mechanism) {
      s.TotWorkerAuthErr.inc();
      s.TotWorkerAuthenticateMemcachedConnErr.inc();
      throw ErrAuthMechanism(core.mechanism ?? candidates.flatMap((p) => p.mechanisms).join('|'), offered);
    }
    const fail = (why: string, cause?: unknown) => {
      s.TotWorkerAuthFail.inc();
      s.TotWorkerAuthenticateMemcachedConnErr.inc();
      return ErrAuthFailed(`data node ${this.server} refused user "${core.username}": ${why}`, {
        details: { serverUrl: this.server, user: core.username },
        retriable: true,
        cause,
      });
    };
    try {
      const client = provider.createClient({
        mechanism,
        username: core.username as string,
        password: core.password ?? '',
        secure: conn.socket.secure,
      });
      let o = core.nextOpaque();
      let res = await conn.rpc(saslPacket(Opcode.SaslAuth, o, mechanism, client.start()), o, 'SASL_AUTH', t);
      while (res.status === Status.AuthContinue) {
        o = core.nextOpaque();
        res = await conn.rpc(
          saslPacket(Opcode.SaslStep, o, mechanism, client.step(res.value)),
          o,
          'SASL_STEP',
          t,
        );
      }
      if (res.status === Status.AuthError || res.status === Status.Eaccess)
        throw fail(`status ${hex(res.status)}`);
      if (res.status !== Status.Success) {
        s.TotWorkerAuthErr.inc();
        throw ErrBootstrap(this.server, 'SASL', `status ${hex(res.status)}`);
      }
      client.finish(res.value);
    } catch (err) {
      if (
        isTributaryError(err, 'TRIB_AUTH_FAILED') &&
        !(err as { details: Record<string, unknown> }).details.serverUrl
      ) {
        throw fail((err as Error).message, err);
      }
      throw err;
    }
    s.TotWorkerAuthOk.inc();
    s.TotWorkerAuthenticateMemcachedConnOk.inc();
  }

  #startTimers(conn: DcpConnection): NodeJS.Timeout[] {
    const core = this.#core;
    const { s, opts } = core;
    const timers: NodeJS.Timeout[] = [];
    const ping = setInterval(() => {
      if (!conn.alive) return;
      if (conn.activity) {
        conn.activity = false;
        conn.pingOutstanding = false;
        return;
      }
      if (conn.pingOutstanding) {
        s.TotPingTimeout.inc();
        const err = ErrPingTimeout(this.server, opts.pingTimeoutMs);
        conn.destroy(err);
        return;
      }
      s.TotPingReq.inc();
      conn.pingOutstanding = true;
      conn.send(noopPacket(core.nextOpaque()));
    }, opts.pingTimeoutMs);
    ping.unref();
    timers.push(ping);
    if (opts.seqnoPollIntervalMs > 0) {
      const poll = () => {
        if (!conn.alive || !this.#seqnosSupported) return;
        s.TotSeqnosReq.inc();
        conn.send(getAllVbSeqnosPacket(core.nextOpaque(), 1));
      };
      const t = setInterval(poll, opts.seqnoPollIntervalMs);
      t.unref();
      timers.push(t);
      poll();
    }
    return timers;
  }

  /** Every packet from the node that no bootstrap rpc claimed. */
  #onPacket(conn: DcpConnection, p: WirePacket): void {
    const core = this.#core;
    const magic = p.magic;
    if (magic === 0x80 || magic === 0x08) {
      const op = p.opcode;
      if (isFlowControlled(op)) {
        const bytes = 24 + p.bodyLength;
        conn.fc.received(bytes);
        const vbs = core.vbs[p.vbucket];
        const opaque = p.opaque;
        if (vbs === undefined || opaque === 0 || vbs.opaque !== opaque || vbs.conn !== conn) {
          // A message of a stream we closed or never asked for: drop it, but count it as finished.
          core.s.TotUPRDataChangeStateErr.inc();
          conn.finished(bytes);
          return;
        }
        core.deliver(vbs, p, conn, bytes);
        return;
      }
      if (op === Opcode.DcpNoop) {
        core.s.TotUPRNoop.inc();
        conn.send(dcpNoopReply(p.opaque));
        return;
      }
      core.log.debug({ server: this.server, opcode: op }, 'ignoring unexpected server request');
      return;
    }
    switch (p.opcode) {
      case Opcode.DcpStreamReq:
        this.#onStreamReqRes(conn, p);
        return;
      case Opcode.DcpCloseStream:
        this.#onCloseStreamRes(conn, p);
        return;
      case Opcode.Noop:
        conn.pingOutstanding = false;
        core.s.TotPingReqDone.inc();
        return;
      case Opcode.GetAllVbSeqnos:
        this.#onSeqnos(p);
        return;
      default:
        core.log.debug(
          { server: this.server, opcode: p.opcode, status: p.status },
          'ignoring unexpected response',
        );
    }
  }

  // Out of #onPacket: its closure would make V8 allocate a context on every packet.
  #onSeqnos(p: WirePacket): void {
    const core = this.#core;
    core.s.TotSeqnosReqDone.inc();
    if (p.status !== 0) {
      this.#seqnosSupported = false;
      return;
    }
    const now = performance.now();
    forEachVbSeqno(p.value, (vb, seqno) => {
      const vbs = core.vbs[vb];
      if (vbs && core.owner[vb] === this) vbs.noteHigh(seqno, now, true);
    });
  }

  /** '' → requested: load the receiver's metadata (in the vbucket's order), then send STREAM_REQ. */
  requestStream(vbs: VBucket): void {
    const conn = this.conn;
    if (!conn || !this.ready || vbs.state !== '') return;
    const core = this.#core;
    core.s.TotUPRStreamReqWant.inc();
    vbs.state = 'requested';
    vbs.worker = this;
    vbs.conn = conn;
    const opaque = core.nextOpaque();
    vbs.opaque = opaque;
    core.enqueueTask(vbs, opaque, 'getMetaData', () => {
      core.s.TotGetVBucketMetaData.inc();
      const r = core.receiver.getMetaData(vbs.id);
      if (isThenable(r)) return r.then((md) => this.#sendStreamReq(vbs, opaque, conn, md as MetaDataResult));
      this.#sendStreamReq(vbs, opaque, conn, r);
      return undefined;
    });
  }

  #sendStreamReq(vbs: VBucket, opaque: number, conn: DcpConnection, md: MetaDataResult | undefined): void {
    const core = this.#core;
    const { s } = core;
    if (vbs.opaque !== opaque || !conn.alive) return;
    let meta: VBucketMetaData;
    try {
      meta = decodeMetaData(vbs.id, md?.value);
      s.TotGetVBucketMetaDataOk.inc();
    } catch (err) {
      s.TotGetVBucketMetaDataUnmarshalErr.inc();
      core.reportError(err as Error);
      meta = emptyMetaData();
    }
    const lastSeq = md && Number.isSafeInteger(md.lastSeq) && md.lastSeq > 0 ? md.lastSeq : 0;
    vbs.meta = meta;
    vbs.lastSeq = lastSeq;
    const st = streamStartFor(meta, lastSeq);
    const end = core.opts.seqEnd.get(vbs.id);
    if (end !== undefined && st.startSeqno >= end) {
      vbs.ended = true;
      vbs.state = '';
      vbs.opaque = 0;
      vbs.conn = null;
      vbs.worker = null;
      return;
    }
    const filter = core.streamFilterFor(vbs, meta.manifestUid);
    if (filter === null) {
      // Its scope does not exist (yet, or any more): the datasource requests it again once a
      // manifest has it.
      this.#reset(vbs);
      return;
    }
    vbs.reqStart = st.startSeqno;
    vbs.snapStart = st.snapStart;
    vbs.snapEnd = st.snapEnd;
    vbs.snapSaved = true;
    conn.streamReqs.set(opaque, vbs);
    s.TotUPRStreamReq.inc();
    conn.send(
      streamReqPacket({
        vbucket: vbs.id,
        opaque,
        flags: 0,
        startSeqno: st.startSeqno,
        endSeqno: end ?? Number.MAX_SAFE_INTEGER,
        vbucketUuid: st.vbucketUuid,
        snapStart: st.snapStart,
        snapEnd: st.snapEnd,
        value: filter.value,
      }),
    );
  }

  #onStreamReqRes(conn: DcpConnection, p: WirePacket): void {
    const core = this.#core;
    const { s } = core;
    const opaque = p.opaque;
    const vbs = conn.streamReqs.get(opaque);
    s.TotUPRStreamReqRes.inc();
    if (!vbs) return;
    conn.streamReqs.delete(opaque);
    const status = p.status;
    if (vbs.opaque !== opaque || vbs.state !== 'requested') {
      s.TotUPRStreamReqResStateErr.inc();
      // We no longer want that stream; if the server opened it, close it again.
      if (status === Status.Success) conn.send(closeStreamPacket(core.nextOpaque(), vbs.id));
      return;
    }
    switch (status) {
      case Status.Success: {
        s.TotUPRStreamReqResSuccess.inc();
        let flog: ReturnType<typeof parseFailoverLog>;
        try {
          flog = parseFailoverLog(p.value);
        } catch (err) {
          s.TotUPRStreamReqResFLogErr.inc();
          core.reportError(ErrStream(this.server, vbs.id, (err as Error).message, { cause: err }));
          vbs.state = 'running';
          this.closeStream(vbs, core.nextRetryDelay(vbs));
          return;
        }
        vbs.state = 'running';
        vbs.vbucketUuid = flog[0]?.vbucketUuid ?? 0n;
        const meta: VBucketMetaData = { ...vbs.meta, seqStart: vbs.reqStart, failOverLog: flog };
        core.enqueueTask(vbs, opaque, 'setMetaData', () => core.setMeta(vbs, meta));
        s.TotUPRStreamReqResSuccessOk.inc();
        if (core.owner[vbs.id] !== this) this.closeStream(vbs);
        return;
      }
      case Status.Rollback:
      case Status.Erange: {
        // ERANGE as Couchbase clients (cbdatasource) treat it: a rollback to 0.
        let seq = 0;
        if (status === Status.Rollback) {
          s.TotUPRStreamReqResRollback.inc();
          seq = p.value.length >= 8 ? readU64(p.value, 0) : 0;
        } else s.TotUPRStreamReqResFailERange.inc();
        vbs.state = '';
        vbs.opaque = 0;
        vbs.conn = null;
        vbs.worker = null;
        core.enqueueTask(vbs, 0, 'rollback', () => core.doRollback(vbs, seq));
        return;
      }
      case Status.NotMyVbucket: {
        s.TotUPRStreamReqResFail.inc();
        s.TotUPRStreamReqResFailNotMyVBucket.inc();
        s.TotUPRStreamReqResKick.inc();
        this.#reset(vbs);
        core.kick(`not my vbucket ${vbs.id} at ${this.server}`);
        core.vbIdle(vbs, core.nextRetryDelay(vbs));
        return;
      }
      case Status.KeyEexists: {
        // The server still has a stream for this vbucket (a close we could not see): close, retry.
        s.TotUPRStreamReqResFail.inc();
        this.#reset(vbs);
        conn.send(closeStreamPacket(core.nextOpaque(), vbs.id));
        core.vbIdle(vbs, core.nextRetryDelay(vbs));
        return;
      }
      default: {
        s.TotUPRStreamReqResFail.inc();
        if (status === Status.Enomem) s.TotUPRStreamReqResFailENoMem.inc();
        this.#reset(vbs);
        core.reportError(ErrStream(this.server, vbs.id, `stream request failed with status ${hex(status)}`));
        core.vbIdle(vbs, core.nextRetryDelay(vbs));
      }
    }
  }

  #reset(vbs: VBucket): void {
    vbs.state = '';
    vbs.opaque = 0;
    vbs.conn = null;
    vbs.worker = null;
  }

  /** running → closing: CLOSE_STREAM; the vbucket goes back to '' on the reply (re-requested after `delayMs` if still wanted). */
  closeStream(vbs: VBucket, delayMs = 0): void {
    const core = this.#core;
    const { s } = core;
    const conn = this.conn;
    if (vbs.state === 'requested') {
      s.TotWantCloseRequestedVBucketErr.inc();
      return;
    }
    if (vbs.state === 'closing') {
      s.TotWantClosingVBucketErr.inc();
      return;
    }
    if (vbs.state !== 'running' || vbs.worker !== this) return;
    if (!conn?.alive) {
      this.#reset(vbs);
      core.vbIdle(vbs, delayMs);
      return;
    }
    const o = core.nextOpaque();
    vbs.state = 'closing';
    vbs.opaque = 0; // drop whatever still arrives on the old stream
    conn.closeReqs.set(o, vbs);
    retryAfterClose.set(vbs, delayMs);
    s.TotUPRCloseStream.inc();
    conn.send(closeStreamPacket(o, vbs.id));
  }

  #onCloseStreamRes(conn: DcpConnection, p: WirePacket): void {
    const core = this.#core;
    const { s } = core;
    s.TotUPRCloseStreamRes.inc();
    const vbs = conn.closeReqs.get(p.opaque);
    if (!vbs) return;
    conn.closeReqs.delete(p.opaque);
    if (vbs.state !== 'closing' || vbs.conn !== conn) {
      s.TotUPRCloseStreamResStateErr.inc();
      return;
    }
    // 0x01 = the stream had already ended: closed all the same.
    if (p.status === 0 || p.status === Status.KeyEnoent) s.TotUPRCloseStreamResOk.inc();
    else s.TotUPRCloseStreamResErr.inc();
    this.#reset(vbs);
    const delay = retryAfterClose.get(vbs) ?? 0;
    retryAfterClose.delete(vbs);
    core.vbIdle(vbs, delay);
  }

  /** Connection gone: every vbucket it carried goes back to '' and may be requested elsewhere. */
  #cleanup(conn: DcpConnection): void {
    const core = this.#core;
    core.s.TotWorkerCleanup.inc();
    if (this.conn === conn) {
      this.conn = null;
      this.ready = false;
    }
    const idle: VBucket[] = [];
    for (const vbs of core.vbs) {
      if (vbs !== undefined && vbs.conn === conn) {
        this.#reset(vbs);
        retryAfterClose.delete(vbs);
        idle.push(vbs);
      }
    }
    for (const vbs of idle) core.vbIdle(vbs);
    core.s.TotWorkerCleanupDone.inc();
  }
}

const retryAfterClose = new WeakMap<VBucket, number>();
