// One data-node connection: memcached binary protocol session (HELLO, SASL, SELECT_BUCKET,
// cluster config, KV) answering pipelined requests in order, and the DCP producer once the
// connection is opened as one.
import { type Connection, connectionSlots, type SaslServer } from '@tributary/core';
import snappy from 'snappy';
import type { Bucket, KvResult, Prepared, StoreMode } from '../bucket.js';
import { isJsonValue } from '../bucket.js';
import { ERROR_MAP, SERVER_VERSION } from '../bucket-config.js';
import { getCollectionId, getCollectionsManifest, requestKey } from '../collections/kv-commands.js';
import type { VBucket } from '../vbucket.js';
import { createCommandTable } from './commands.js';
import type { NodeContext, SessionHandle } from './context.js';
import { DcpProducer } from './dcp-producer.js';
import { type DurabilityRequirement, parseDurability } from './durability.js';
import { LOCKED_CAS } from './locks.js';
import {
  BatchWriter,
  DT_JSON,
  DT_SNAPPY,
  DT_XATTR,
  Feature,
  type Frame,
  FrameReader,
  MAGIC_ALT_REQ,
  MAGIC_REQ,
  MAGIC_RES,
  MAGIC_SERVER_REQ,
  MAGIC_SERVER_RES,
  MAX_FRAME_BYTES,
  MalformedFrameError,
  Op,
  parseFrameInfos,
  St,
} from './mcbp.js';

/** Commands served by their own files (sub-document, counters, locks, replicas, ...). */
const COMMANDS = createCommandTable();

const SUPPORTED_FEATURES = new Set<number>([
  Feature.TcpNoDelay,
  Feature.MutationSeqno,
  Feature.Xattr,
  Feature.Xerror,
  Feature.SelectBucket,
  Feature.Snappy,
  Feature.Json,
  Feature.Duplex,
  Feature.ClustermapChangeNotification,
  Feature.AltRequestSupport,
  Feature.Collections,
  0x14, // PreserveTtl
  Feature.SyncReplication,
  0x15, // VAttr: virtual xattrs ($document, $XTOC, $vbucket)
  0x17, // SubdocCreateAsDeleted
  0x1c, // SubdocReplicaRead
]);

/** Reads answer LOCKED as TMPFAIL to clients without XERROR; writes answer it as KEY_EEXISTS. */
const READS = new Set<number>([0x00, 0x09, 0x0c, 0x0d, 0x94, 0xc5, 0xc6, 0xd0, 0xd2, 0x83]);

/** Commands allowed before authentication. */
const NO_AUTH = new Set<number>([
  Op.Hello,
  Op.SaslListMechs,
  Op.SaslAuth,
  Op.SaslStep,
  Op.Version,
  Op.Noop,
  Op.GetErrorMap,
  Op.Quit,
]);

const MAX_KEY = 250;
const MAX_VALUE = 20 * 1024 * 1024;
const MAX_QUEUED = 4096;
/** Bytes a DCP connection may have queued in userland before the producer pauses. */
const DCP_WRITE_QUEUE = 4 * 1024 * 1024;

/** A frame copied out of the socket chunk (for requests queued behind an async one). */
function copyFrame(f: Frame): Frame {
  return {
    ...f,
    framingExtras: Buffer.from(f.framingExtras),
    extras: Buffer.from(f.extras),
    key: Buffer.from(f.key),
    value: Buffer.from(f.value),
  };
}

export class Session implements SessionHandle {
  /** Capped at the cluster's preauthMaxFrameBytes until SASL succeeds. */
  readonly reader: FrameReader;
  readonly out = new BatchWriter(64 * 1024);
  readonly features = new Set<number>();
  user: string | undefined;
  bucket: Bucket | undefined;
  agent = '';
  closed = false;
  /** Socket cannot take more right now; DCP pauses until 'drain'. */
  blocked = false;
  lastReceived = Date.now();
  dcp: DcpProducer | undefined;
  #saslServer: SaslServer | undefined;
  #saslMech = '';
  #busy = false;
  #queue: Frame[] = [];
  #flushScheduled = false;
  /** Closes the connection unless it authenticates in time (SASL success clears it). */
  #authTimer: NodeJS.Timeout | undefined;
  /** Whether this connection holds one of the process's connection slots (to give back). */
  #slot = false;
  #pushedGlobalRev = 0;

  constructor(
    readonly conn: Connection,
    readonly ctx: NodeContext,
  ) {
    this.reader = new FrameReader(ctx.cluster.preauthMaxFrameBytes);
    // Within the process's fd limit, or closed at once (counted): an accept that failed with
    // EMFILE would reset connections of every listener of the process, unlogged.
    if (!connectionSlots().tryTake()) {
      this.closed = true;
      ctx.cluster.sessionStats.connectionsRefused.inc();
      ctx.cluster.repeats.note(
        'warn',
        'kv-no-slot',
        { fdLimit: connectionSlots().fdLimit },
        'data-node connection closed: no connection slot left within the file-descriptor limit',
      );
      conn.on('error', () => {});
      conn.destroy();
      return;
    }
    this.#slot = true;
    ctx.cluster.sessionStats.connections.inc();
    ctx.cluster.attach(ctx.index, this);
    conn.on('data', (chunk: Buffer) => this.#onData(chunk));
    conn.on('drain', () => {
      this.blocked = false;
      if (this.#queue.length === 0 && !this.#busy) conn.resume();
      this.dcp?.schedule();
    });
    conn.on('error', (err) => {
      if (this.ctx.log.isLevelEnabled('debug')) this.ctx.log.debug({ err }, 'connection error');
    });
    conn.on('close', () => this.#closed());
    this.#authTimer = setTimeout(() => this.#authTimedOut(), ctx.cluster.authTimeoutMs);
    this.#authTimer.unref();
    if (typeof (conn as unknown as { setNoDelay?: (v: boolean) => void }).setNoDelay === 'function') {
      (conn as unknown as { setNoDelay: (v: boolean) => void }).setNoDelay(true);
    }
  }

  get secure(): boolean {
    return this.conn.secure;
  }
  has(feature: number): boolean {
    return this.features.has(feature);
  }
  get collections(): boolean {
    return this.features.has(Feature.Collections);
  }

  /** The address the client connected to (what `$HOST` means for it). */
  get localHost(): string {
    const addr = (this.conn as unknown as { localAddress?: string }).localAddress;
    if (!addr) return '127.0.0.1';
    return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  }

  #onData(chunk: Buffer) {
    if (this.closed) return;
    this.lastReceived = Date.now();
    try {
      this.reader.push(chunk, (f) => {
        if (this.#busy || this.#queue.length) {
          this.#queue.push(copyFrame(f));
          if (this.#queue.length >= MAX_QUEUED) this.conn.pause();
        } else this.#dispatch(f);
      });
    } catch (err) {
      this.#malformed(err);
      return;
    }
    // Replies to every chunk read in this loop turn go out in one write.
    this.scheduleFlush();
  }

  #authTimedOut() {
    this.#authTimer = undefined;
    if (this.closed || this.user) return;
    this.ctx.cluster.sessionStats.authTimeouts.inc();
    this.ctx.cluster.repeats.note(
      'warn',
      'auth-timeout',
      { remote: this.conn.remoteAddress, saslInProgress: this.#saslServer !== undefined },
      'connection did not authenticate in time: closing it',
    );
    this.destroy();
  }

  #malformed(err: unknown) {
    let kind = err instanceof MalformedFrameError ? err.kind : 'other';
    if (kind === 'too-large' && !this.user) {
      kind = 'too-large-before-auth';
      this.ctx.cluster.sessionStats.preauthFramesRefused.inc();
    }
    this.ctx.cluster.sessionStats.malformed.inc();
    // One line per kind, then one with the count per window: a fuzzer must not flood the log.
    this.ctx.cluster.repeats.note(
      'warn',
      `malformed:${kind}`,
      { err: (err as Error).message, kind, remote: this.conn.remoteAddress },
      kind === 'too-large-before-auth'
        ? 'frame over the pre-authentication size cap: closing connection'
        : 'malformed frame: closing connection',
    );
    this.destroy();
  }

  /** Writes out everything encoded so far (one write per batch). */
  flush() {
    if (this.closed) return;
    if (this.out.length === 0) return;
    let full = false;
    for (const b of this.out.take()) {
      if (!this.conn.write(b)) full = true;
    }
    if (!full) return;
    if (this.dcp) {
      // A DCP producer keeps a few MiB queued so the kernel buffer never runs dry while it
      // encodes the next batch; past that it waits for 'drain' (bounded memory).
      if (this.conn.writableLength >= DCP_WRITE_QUEUE) this.blocked = true;
    } else {
      this.blocked = true;
      this.conn.pause();
    }
  }

  /** Flush soon (coalesces writes made from timers / topology events). */
  scheduleFlush() {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.flush();
    });
  }

  destroy() {
    if (this.closed) return;
    this.conn.destroy();
    this.#closed();
  }

  #closed() {
    if (this.#slot) {
      this.#slot = false;
      connectionSlots().give();
    }
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.#authTimer);
    if (this.dcp && this.bucket)
      this.ctx.cluster.releaseDcpName(this.ctx.index, this.bucket.name, this.dcp.name, this);
    this.dcp?.close();
    this.ctx.cluster.detach(this.ctx.index, this);
    this.ctx.cluster.sessionStats.connections.dec();
  }

  configChanged(bucket: string) {
    if (this.closed || (this.bucket && this.bucket.name !== bucket)) return;
    if (!this.has(Feature.Duplex) || !this.has(Feature.ClustermapChangeNotification)) return;
    if (!this.bucket) {
      // No bucket selected: the cluster config, once per revision, with an empty bucket name.
      if (this.#pushedGlobalRev === this.ctx.cluster.rev) return;
      this.#pushedGlobalRev = this.ctx.cluster.rev;
      bucket = '';
    }
    const cfg = Buffer.from(
      bucket
        ? this.ctx.cluster.configJson(bucket, this.ctx.index, this.localHost)
        : this.ctx.cluster.clusterConfigJson(this.ctx.index, this.localHost),
    );
    const extras = Buffer.alloc(16);
    extras.writeBigInt64BE(BigInt(this.ctx.cluster.revEpoch), 0);
    extras.writeBigInt64BE(BigInt(this.ctx.cluster.rev), 8);
    this.out.request(MAGIC_SERVER_REQ, 0x01, 0, 0, {
      extras,
      key: Buffer.from(bucket),
      value: cfg,
      datatype: this.has(Feature.Json) ? DT_JSON : 0,
    });
    this.scheduleFlush();
  }

  vbucketChanged(bucket: string, vb: number) {
    if (this.bucket?.name === bucket) this.dcp?.vbucketChanged(vb);
  }

  // ---- request dispatch -------------------------------------------------------------------

  #drainQueue() {
    while (!this.#busy && this.#queue.length && !this.closed) {
      this.#dispatch(this.#queue.shift()!);
    }
    if (!this.#busy && this.#queue.length < MAX_QUEUED && !this.blocked) this.conn.resume();
    this.flush();
  }

  /** Runs an async handler; later requests wait so replies stay in order. */
  runAsync(p: Promise<void>) {
    this.#busy = true;
    p.catch((err) => {
      this.ctx.cluster.repeats.note('error', 'handler', { err }, 'request handler failed');
    }).finally(() => {
      this.#busy = false;
      this.#drainQueue();
    });
  }

  #dispatch(f: Frame) {
    if (f.magic === MAGIC_RES || f.magic === MAGIC_SERVER_RES) {
      this.dcp?.onResponse(f);
      return;
    }
    this.ctx.cluster.sessionStats.requests.inc();
    if (f.magic === MAGIC_ALT_REQ && !this.has(Feature.AltRequestSupport)) {
      this.#malformed(new MalformedFrameError('flexible framing without AltRequestSupport', 'alt-framing'));
      return;
    }
    const op = f.opcode;
    if (!this.user && !NO_AUTH.has(op)) {
      this.error(f, St.Eaccess, 'Authentication required');
      return;
    }
    switch (op) {
      case Op.Hello:
        return this.#hello(f);
      case Op.SaslListMechs:
        return this.ok(f, Buffer.from(this.ctx.cluster.mechanisms(this.secure).join(' ')));
      case Op.SaslAuth:
      case Op.SaslStep:
        return this.runAsync(this.#sasl(f));
      case Op.Version:
        return this.ok(f, Buffer.from(SERVER_VERSION.replace(/-enterprise$/, '')));
      case Op.Noop:
        return this.ok(f);
      case Op.Quit:
        this.ok(f);
        this.flush();
        this.conn.end();
        return;
      case Op.GetErrorMap:
        return this.#errorMap(f);
      case Op.SelectBucket:
        return this.#selectBucket(f);
      case Op.GetClusterConfig:
        return this.#clusterConfig(f);
      case Op.GetCollectionsManifest:
        if (!this.bucket) return this.error(f, St.NoBucket);
        return getCollectionsManifest(this, f, this.bucket);
      case Op.GetCollectionId:
        if (!this.bucket) return this.error(f, St.NoBucket);
        return getCollectionId(this, f, this.bucket);
      case Op.GetAllVbSeqnos:
        return this.#allVbSeqnos(f);
      case Op.Get:
      case Op.GetK:
      case Op.GetQ:
      case Op.GetKQ:
      case Op.Gat:
        return this.#get(f);
      case Op.Set:
      case Op.Add:
      case Op.Replace:
        return this.#store(f);
      case Op.Delete:
        return this.#delete(f);
      case Op.Touch:
        return this.#touch(f);
      case Op.ObserveSeqno:
        return this.#observeSeqno(f);
      case Op.DcpOpen:
        return this.#dcpOpen(f);
      case Op.DcpGetFailoverLog: {
        const vb = this.vbFor(f, false);
        if (!vb) return;
        return this.ok(f, DcpProducer.failoverLogValue(vb));
      }
      case Op.DcpNoop:
        return this.ok(f);
      case Op.DcpControl:
      case Op.DcpStreamReq:
      case Op.DcpCloseStream:
      case Op.DcpBufferAck:
        if (!this.dcp) {
          if (op === Op.DcpBufferAck) return;
          return this.error(f, St.Einval, 'Not a DCP connection');
        }
        return this.dcp.onRequest(f);
      default: {
        const handler = COMMANDS.get(op);
        if (handler) return handler(this, f);
        return this.error(f, St.UnknownCommand);
      }
    }
  }

  // ---- replies ----------------------------------------------------------------------------

  ok(f: Frame, value?: Uint8Array, cas = 0n, datatype = 0, extras?: Uint8Array, key?: Uint8Array) {
    this.out.response(f.opcode, St.Success, f.opaque, { value, cas, datatype, extras, key });
  }

  status(f: Frame, status: number, value?: Uint8Array, datatype = 0) {
    this.out.response(f.opcode, status, f.opaque, { value, datatype });
  }

  /** An error reply; with XERROR a JSON body carries the context. */
  error(f: Frame, status: number, context?: string) {
    status = this.remapStatus(f.opcode, status);
    const body =
      context && this.has(Feature.Xerror) ? Buffer.from(JSON.stringify({ error: { context } })) : undefined;
    this.out.response(f.opcode, status, f.opaque, {
      value: body,
      datatype: body && this.has(Feature.Json) ? DT_JSON : 0,
    });
  }

  /**
   * kv_engine's Connection::remapErrorCode: statuses a client did not agree to understand are
   * answered as older ones (LOCKED and NOT_LOCKED need XERROR, sync-write ones SyncReplication).
   */
  remapStatus(opcode: number, status: number): number {
    if (!this.has(Feature.Xerror)) {
      if (status === 0x09) return READS.has(opcode) ? St.Etmpfail : St.KeyEexists;
      if (status === 0x0e) return St.Etmpfail;
    }
    if (status === 0xa2 && !this.has(Feature.SyncReplication)) return St.Etmpfail;
    return status;
  }

  /** The reply to a write: CAS, mutation extras, or the error. */
  replyWrite(f: Frame, vb: VBucket, r: KvResult) {
    if (r.status !== St.Success) return this.error(f, r.status);
    this.ok(f, undefined, r.item!.cas, 0, this.mutationExtras(vb, r.item!.seqno));
  }

  /**
   * Commits a prepared write, durably when the request asked for it (the reply waits for the
   * level; later requests on this connection wait behind it, as in kv_engine).
   */
  commitPrepared(
    vb: VBucket,
    keyStr: string,
    p: Prepared,
    durability: DurabilityRequirement | undefined,
    reply: (r: KvResult) => void,
  ) {
    const b = this.bucket!;
    if (p.status !== St.Success) return reply({ status: p.status });
    if (!durability) return reply({ status: St.Success, item: b.commit(vb, keyStr, p.prev, p.version!) });
    const refused = this.ctx.cluster.syncWrites.refusal(b, vb.id, durability.level);
    if (refused) return reply({ status: refused });
    const version = p.version!;
    const done = this.ctx.cluster.syncWrites.submit(b, vb.id, keyStr, durability, version.value, () =>
      b.commit(vb, keyStr, vb.get(keyStr), version),
    );
    this.runAsync(done.then(reply));
  }

  notMyVbucket(f: Frame) {
    if (!this.bucket) return this.error(f, St.NoBucket);
    const cfg = Buffer.from(this.ctx.cluster.configJson(this.bucket.name, this.ctx.index, this.localHost));
    this.status(f, St.NotMyVbucket, cfg, this.has(Feature.Json) ? DT_JSON : 0);
  }

  // ---- session commands -------------------------------------------------------------------

  #hello(f: Frame) {
    if (f.value.length % 2 !== 0) return this.error(f, St.Einval, 'feature list must be u16s');
    if (f.key.length) {
      const raw = f.key.toString('utf8');
      try {
        const j = JSON.parse(raw) as { a?: string };
        this.agent = typeof j.a === 'string' ? j.a : raw;
      } catch {
        this.agent = raw;
      }
    }
    const asked: number[] = [];
    for (let i = 0; i < f.value.length; i += 2) asked.push(f.value.readUInt16BE(i));
    const askedSet = new Set(asked);
    this.features.clear();
    const out: number[] = [];
    for (const feat of asked) {
      if (!SUPPORTED_FEATURES.has(feat) || this.features.has(feat)) continue;
      if (feat === Feature.ClustermapChangeNotification && !askedSet.has(Feature.Duplex)) continue;
      this.features.add(feat);
      out.push(feat);
    }
    const v = Buffer.allocUnsafe(out.length * 2);
    for (let i = 0; i < out.length; i++) v.writeUInt16BE(out[i], i * 2);
    this.ok(f, v);
  }

  async #sasl(f: Frame): Promise<void> {
    const mech = f.key.toString('latin1');
    try {
      let step: Awaited<ReturnType<SaslServer['begin']>>;
      if (f.opcode === Op.SaslAuth) {
        const server = this.ctx.cluster.saslServer(mech, this.secure);
        if (!server) {
          this.ctx.cluster.sessionStats.authFailures.inc();
          if (mech === 'PLAIN' && !this.secure)
            this.ctx.cluster.repeats.note(
              'warn',
              'plain-refused',
              { remote: this.conn.remoteAddress },
              'SASL PLAIN refused on a plain TCP connection: PLAIN is offered on TLS only unless the ' +
                'cluster allows it (the allowInsecurePlain option, `tributary serve --allow-plain`)',
            );
          return this.error(f, St.AuthError, `mechanism ${mech} not offered`);
        }
        this.#saslServer = server;
        this.#saslMech = mech;
        step = await server.begin(mech, f.value);
      } else {
        if (!this.#saslServer || mech !== this.#saslMech)
          return this.error(f, St.AuthError, 'no SASL exchange in progress');
        step = await this.#saslServer.step(f.value);
      }
      if (!step.done) {
        this.out.response(f.opcode, St.AuthContinue, f.opaque, { value: step.challenge });
        return;
      }
      this.#saslServer = undefined;
      this.user = step.username;
      clearTimeout(this.#authTimer);
      this.reader.maxFrameBytes = MAX_FRAME_BYTES;
      // SELECT_BUCKET may be skipped when the user is named after a bucket.
      if (!this.bucket) this.bucket = this.ctx.cluster.buckets.get(step.username);
      this.ok(f, step.final);
    } catch (err) {
      this.#saslServer = undefined;
      this.ctx.cluster.sessionStats.authFailures.inc();
      if (this.ctx.log.isLevelEnabled('debug')) this.ctx.log.debug({ err }, 'SASL failed');
      this.error(f, St.AuthError, 'Authentication failed');
    }
  }

  #errorMap(f: Frame) {
    if (f.value.length !== 2) return this.error(f, St.Einval, 'expected u16 version');
    const version = f.value.readUInt16BE(0);
    if (version === 0) return this.error(f, St.Einval, 'version 0');
    this.ok(f, Buffer.from(ERROR_MAP), 0n, this.has(Feature.Json) ? DT_JSON : 0);
  }

  #selectBucket(f: Frame) {
    const name = f.key.toString('utf8');
    if (this.dcp) return this.error(f, St.NotSupported, 'DCP connections cannot change bucket');
    if (name === '' || name === '@no bucket@') {
      this.bucket = undefined;
      return this.ok(f);
    }
    const b = this.ctx.cluster.buckets.get(name);
    if (!b) return this.error(f, St.KeyEnoent, `no bucket ${name}`);
    this.bucket = b;
    this.ok(f);
  }

  #clusterConfig(f: Frame) {
    const cfg = this.bucket
      ? this.ctx.cluster.configJson(this.bucket.name, this.ctx.index, this.localHost)
      : this.ctx.cluster.clusterConfigJson(this.ctx.index, this.localHost);
    this.ok(f, Buffer.from(cfg), 0n, this.has(Feature.Json) ? DT_JSON : 0);
  }

  #allVbSeqnos(f: Frame) {
    if (!this.bucket) return this.error(f, St.NoBucket);
    const state = f.extras.length >= 4 ? f.extras.readUInt32BE(0) : 0;
    if (state > 4) return this.error(f, St.Einval, 'bad vbucket state');
    // With a collection id: the vbucket high seqnos stand in for the collection's (an upper bound).
    if (f.extras.length >= 8 && !this.bucket.collections.manifest.byId.has(f.extras.readUInt32BE(4)))
      return this.error(f, St.UnknownCollection);
    const rows: number[] = [];
    for (let vb = 0; vb < this.ctx.cluster.numVbuckets; vb++) {
      const role = this.ctx.cluster.role(this.ctx.index, vb);
      if (!role) continue;
      if (state === 1 && role !== 'active') continue;
      if (state === 2 && role !== 'replica') continue;
      if (state === 3 || state === 4) continue;
      rows.push(vb);
    }
    const v = Buffer.allocUnsafe(rows.length * 10);
    rows.forEach((vb, i) => {
      v.writeUInt16BE(vb, i * 10);
      v.writeBigUInt64BE(BigInt(this.ctx.cluster.visibleSeqno(this.bucket!, vb, this.ctx.index)), i * 10 + 2);
    });
    this.ok(f, v);
  }

  // ---- KV ---------------------------------------------------------------------------------

  /** The vbucket if this node is active for it (or, with `allowReplica`, holds it); else replies. */
  vbFor(f: Frame, activeOnly = true): VBucket | undefined {
    if (!this.bucket) {
      this.error(f, St.NoBucket, 'no bucket selected');
      return undefined;
    }
    const id = f.vbOrStatus;
    const role = id < this.ctx.cluster.numVbuckets ? this.ctx.cluster.role(this.ctx.index, id) : undefined;
    if (!role || (activeOnly && role !== 'active')) {
      this.notMyVbucket(f);
      return undefined;
    }
    return this.bucket.vbuckets[id];
  }

  /** The in-memory key a request names, or undefined after replying with an error. */
  docKey(f: Frame): Buffer | undefined {
    // The in-memory key: the collection folded in (collections/doc-key.ts); the reply is sent
    // here when the key or its collection is not valid.
    return requestKey(this, f, MAX_KEY);
  }

  /**
   * Frame infos of a flexible-framing request; undefined after replying when unsupported. A
   * durability requirement is accepted where `durable` (the commands kv_engine allows it on).
   */
  frameInfos(
    f: Frame,
    durable = false,
  ): { preserveTtl: boolean; durability?: DurabilityRequirement } | undefined {
    let preserveTtl = false;
    let durability: DurabilityRequirement | undefined;
    if (f.framingExtras.length) {
      let infos: { id: number; data: Buffer }[];
      try {
        infos = parseFrameInfos(f.framingExtras);
      } catch {
        this.error(f, St.Einval, 'bad framing extras');
        return undefined;
      }
      for (const fi of infos) {
        if (fi.id === 5) preserveTtl = true;
        else if (fi.id === 0) continue;
        else if (fi.id === 1) {
          if (!durable) {
            this.error(f, St.Einval, 'The command does not support durability requirements');
            return undefined;
          }
          const d = parseDurability(fi.data);
          if ('status' in d) {
            this.error(f, d.status, 'invalid durability requirement');
            return undefined;
          }
          durability = d;
        } else {
          this.error(f, St.Einval, `unsupported frame info ${fi.id}`);
          return undefined;
        }
      }
    }
    return { preserveTtl, durability };
  }

  outDatatype(dt: number): number {
    let d = dt & ~DT_SNAPPY;
    if (!this.has(Feature.Json)) d &= ~DT_JSON;
    return d & ~DT_XATTR;
  }

  #get(f: Frame) {
    if (!this.frameInfos(f)) return;
    const vb = this.vbFor(f);
    if (!vb) return;
    const key = this.docKey(f);
    if (!key) return;
    const b = this.bucket!;
    const keyStr = key.toString('latin1');
    const quiet = f.opcode === Op.GetQ || f.opcode === Op.GetKQ;
    const withKey = f.opcode === Op.GetK || f.opcode === Op.GetKQ;
    let it = b.getLive(vb, keyStr);
    if (f.opcode === Op.Gat) {
      if (f.extras.length !== 4) return this.error(f, St.Einval, 'GAT needs 4 bytes of extras');
      if (it) {
        const r = b.touch(vb, keyStr, f.extras.readUInt32BE(0));
        if (r.status !== St.Success) return this.error(f, r.status);
        it = r.item;
      }
    } else if (f.extras.length) return this.error(f, St.Einval, 'GET takes no extras');
    if (!it) {
      if (quiet) return;
      return this.error(f, St.KeyEnoent);
    }
    const extras = Buffer.allocUnsafe(4);
    extras.writeUInt32BE(it.flags >>> 0);
    const value = it.datatype & DT_XATTR ? stripXattrs(it.value) : it.value;
    // A locked document reads with the CAS 0xffffffffffffffff (ep-engine's LOCKED_CAS).
    const cas = b.locks.isLocked(vb.id, it) ? LOCKED_CAS : b.casOf(vb, it);
    this.ok(f, value, cas, this.outDatatype(it.datatype), extras, withKey ? f.key : undefined);
  }

  mutationExtras(vb: VBucket, seqno: number): Buffer | undefined {
    if (!this.has(Feature.MutationSeqno)) return undefined;
    const e = Buffer.allocUnsafe(16);
    e.writeBigUInt64BE(vb.uuid, 0);
    e.writeBigUInt64BE(BigInt(seqno), 8);
    return e;
  }

  #store(f: Frame) {
    const fi = this.frameInfos(f, true);
    if (!fi) return;
    if (f.extras.length !== 8) return this.error(f, St.Einval, 'SET/ADD/REPLACE need 8 bytes of extras');
    const vb = this.vbFor(f);
    if (!vb) return;
    const key = this.docKey(f);
    if (!key) return;
    let value: Buffer = f.value;
    let datatype = f.datatype;
    if (datatype & ~(DT_JSON | DT_SNAPPY | DT_XATTR))
      return this.error(f, St.Einval, 'unknown datatype bits');
    if (datatype & DT_SNAPPY) {
      if (!this.has(Feature.Snappy)) return this.error(f, St.Einval, 'Snappy not negotiated');
      try {
        value = snappy.uncompressSync(value) as Buffer;
      } catch {
        return this.error(f, St.Einval, 'bad snappy value');
      }
      datatype &= ~DT_SNAPPY;
    }
    if (datatype & DT_XATTR && !this.has(Feature.Xattr))
      return this.error(f, St.Einval, 'XATTR not negotiated');
    if (value.length > MAX_VALUE) return this.error(f, St.E2big, 'value too large');
    if (!(datatype & DT_JSON) && isJsonValue(datatype & DT_XATTR ? stripXattrs(value) : value))
      datatype |= DT_JSON;
    const flags = f.extras.readUInt32BE(0);
    let expiry = f.extras.readUInt32BE(4);
    const b = this.bucket!;
    const keyStr = key.toString('latin1');
    if (fi.preserveTtl) {
      const cur = b.getLive(vb, keyStr);
      if (cur) expiry = cur.expiry;
    }
    const mode: StoreMode = f.opcode === Op.Add ? 'add' : f.opcode === Op.Replace ? 'replace' : 'set';
    if (!fi.durability)
      return this.replyWrite(
        f,
        vb,
        b.store(vb, mode, keyStr, Buffer.from(value), datatype, flags, expiry, f.cas),
      );
    const p = b.prepareStore(vb, mode, keyStr, Buffer.from(value), datatype, flags, expiry, f.cas);
    this.commitPrepared(vb, keyStr, p, fi.durability, (r) => this.replyWrite(f, vb, r));
  }

  #delete(f: Frame) {
    const fi = this.frameInfos(f, true);
    if (!fi) return;
    if (f.extras.length || f.value.length) return this.error(f, St.Einval, 'DELETE takes no extras or value');
    const vb = this.vbFor(f);
    if (!vb) return;
    const key = this.docKey(f);
    if (!key) return;
    const keyStr = key.toString('latin1');
    const p = this.bucket!.prepareRemove(vb, keyStr, f.cas);
    this.commitPrepared(vb, keyStr, p, fi.durability, (r) => this.replyWrite(f, vb, r));
  }

  #touch(f: Frame) {
    if (!this.frameInfos(f)) return;
    if (f.extras.length !== 4) return this.error(f, St.Einval, 'TOUCH needs 4 bytes of extras');
    const vb = this.vbFor(f);
    if (!vb) return;
    const key = this.docKey(f);
    if (!key) return;
    const r = this.bucket!.touch(vb, key.toString('latin1'), f.extras.readUInt32BE(0));
    if (r.status !== St.Success) return this.error(f, r.status);
    this.ok(f, undefined, r.item!.cas);
  }

  #observeSeqno(f: Frame) {
    const vb = this.vbFor(f, false);
    if (!vb) return;
    if (f.value.length !== 8) return this.error(f, St.Einval, 'OBSERVE_SEQNO needs a vbuuid');
    const uuid = f.value.readBigUInt64BE(0);
    const idx = vb.failoverLog.findIndex((e) => e.vbucketUuid === uuid);
    const hard = idx > 0;
    // What this node holds (a replica's copy may lag) and what of it the store holds: the
    // cluster shares one store, so a copy is persisted up to the active's flushed seqno.
    const current = this.ctx.cluster.visibleSeqno(this.bucket!, vb.id, this.ctx.index);
    const persisted = this.bucket!.type === 'ephemeral' ? 0 : Math.min(current, vb.persistedSeqno);
    const v = Buffer.alloc(hard ? 43 : 27);
    v[0] = hard ? 1 : 0;
    v.writeUInt16BE(vb.id, 1);
    v.writeBigUInt64BE(vb.uuid, 3);
    v.writeBigUInt64BE(BigInt(persisted), 11);
    v.writeBigUInt64BE(BigInt(current), 19);
    if (hard) {
      v.writeBigUInt64BE(uuid, 27);
      v.writeBigUInt64BE(BigInt(vb.failoverLog[idx - 1].seqno), 35);
    }
    this.ok(f, v);
  }

  // ---- DCP --------------------------------------------------------------------------------

  #dcpOpen(f: Frame) {
    if (!this.bucket) return this.error(f, St.NoBucket, 'select a bucket before DCP_OPEN');
    if (f.extras.length !== 8) return this.error(f, St.Einval, 'DCP_OPEN needs 8 bytes of extras');
    if (f.key.length === 0 || f.key.length > 200) return this.error(f, St.Einval, 'bad connection name');
    const flags = f.extras.readUInt32BE(4);
    if (flags & 0x002) return this.error(f, St.Einval, 'notifier connections are not supported');
    if (!(flags & 0x001)) return this.error(f, St.NotSupported, 'only producer connections are supported');
    if (flags & 0x080) return this.error(f, St.NotSupported, 'PiTR is not supported');
    if (this.dcp) return this.error(f, St.Einval, 'connection is already a DCP connection');
    const name = f.key.toString('utf8');
    // A new OPEN with a name in use kicks the old connection, as kv_engine does.
    const previous = this.ctx.cluster.claimDcpName(this.ctx.index, this.bucket.name, name, this);
    if (previous && previous !== this) {
      this.ctx.log.info({ name }, 'DCP name reused: closing the previous connection');
      previous.destroy();
    }
    this.dcp = new DcpProducer(this, name, flags);
    this.ok(f);
  }
}

/** The body of a value that carries an XATTR section. */
export function stripXattrs(value: Buffer): Buffer {
  if (value.length < 4) return value;
  const len = value.readUInt32BE(0);
  return value.subarray(Math.min(value.length, 4 + len));
}

export { MAGIC_REQ };
