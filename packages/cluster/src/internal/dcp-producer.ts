// The DCP producer side of one connection: controls, streams, snapshots, flow control, noops.
// Messages of all streams are encoded straight into the session's BatchWriter and written with
// one socket write per pump, never one write per message.
import snappy from 'snappy';
import type { BucketCollections } from '../collections/bucket-collections.js';
import { replyUnknown } from '../collections/kv-commands.js';
import { StreamFilter } from '../collections/stream-filter.js';
import { eventView } from '../collections/system-event-item.js';
import { type Item, ItemKind, needsRollback, type VBucket } from '../vbucket.js';
import {
  DT_JSON,
  DT_SNAPPY,
  DT_XATTR,
  EndReason,
  Feature,
  type Frame,
  MAGIC_ALT_REQ,
  MAGIC_REQ,
  Op,
  OpenFlag,
  parseFrameInfos,
  readU64n,
  SnapFlag,
  St,
  StreamFlag,
} from './mcbp.js';
import type { Session } from './session.js';
import { parseStreamRequestValue, type StreamRequestValue } from './stream-request-value.js';

const MAX_SEQNO = Number.MAX_SAFE_INTEGER;
const U64_MAX = 0xffffffffffffffffn;
/** Bytes encoded per pump before yielding to the event loop. */
const PUMP_BYTES = 1024 * 1024;
/** Messages one stream may emit per turn before the next stream gets its turn. */
const STREAM_TURN = 256;

const Phase = { Active: 0, Dead: 1 } as const;

class Stream {
  /** Last seqno delivered (or the start seqno). */
  lastSent: number;
  snapshot: Item[] | undefined = undefined;
  snapIdx = 0;
  firstMarker = true;
  queued = false;
  phase: number = Phase.Active;
  endReason = -1;
  /** The snapshot being sent ends at this seqno although its last item is earlier (filtered). */
  advanceTo = 0;
  /** Last seqno the current snapshot covers (filtered items included). */
  rangeEnd = 0;
  readonly listener: () => void;

  constructor(
    readonly producer: DcpProducer,
    readonly vb: VBucket,
    readonly opaque: number,
    readonly sid: number,
    readonly flags: number,
    readonly startSeqno: number,
    readonly endSeqno: number,
    /** The requested snapshot start (after kv_engine's trimming): the first marker starts there. */
    readonly snapStart: number,
    /** The highest seqno this node holds for the vbucket (a replica's copy may lag the active). */
    readonly high: () => number,
    /** A replica vbucket's items come from its copy, not from the active's history. */
    readonly collect: (after: number, upTo: number) => Item[],
    /** The stream's collection filter (collections/stream-filter.ts). */
    readonly filter: StreamFilter,
    readonly collections: BucketCollections,
  ) {
    this.lastSent = startSeqno;
    this.listener = () => producer.wake(this);
  }

  get key(): number {
    return this.vb.id * 65536 + this.sid;
  }

  /** Whether there is something to send now. */
  get ready(): boolean {
    if (this.endReason >= 0) return true;
    if (this.snapshot) return true;
    return this.lastSent < this.endSeqno && this.lastSent < this.high()
      ? true
      : this.lastSent >= this.endSeqno;
  }
}

/** Controls kv_engine accepts (and our answer). Unknown keys get EINVAL. */
type ControlResult = number;

export class DcpProducer {
  readonly includeXattrs: boolean;
  readonly noValue: boolean;
  readonly noValueKeepDatatype: boolean;
  readonly deleteTimes: boolean;
  bufferSize = 0;
  unacked = 0;
  noopEnabled = false;
  noopIntervalMs = 1000;
  expiryOpcode = false;
  streamEndOnClose = false;
  forceCompression = false;
  streamIdEnabled = false;
  v7StatusCodes = false;
  priority = 'medium';
  readonly streams = new Map<number, Stream>();
  #ready: Stream[] = [];
  #readyHead = 0;
  #scheduled = false;
  #closed = false;
  #noopTimer: NodeJS.Timeout | undefined;
  #noopPending = false;
  #noopSentAt = 0;
  #noopOpaque = 0x10000000;
  #stalled = false;
  readonly #json: boolean;
  readonly #collections: boolean;
  readonly #snappy: boolean;

  constructor(
    readonly session: Session,
    readonly name: string,
    readonly openFlags: number,
  ) {
    this.includeXattrs = (openFlags & OpenFlag.IncludeXattrs) !== 0;
    this.noValue = (openFlags & OpenFlag.NoValue) !== 0;
    this.noValueKeepDatatype = (openFlags & OpenFlag.NoValueWithUnderlyingDatatype) !== 0;
    this.deleteTimes = (openFlags & OpenFlag.IncludeDeleteTimes) !== 0;
    this.#json = session.has(Feature.Json);
    this.#collections = session.has(Feature.Collections);
    this.#snappy = session.has(Feature.Snappy);
  }

  static failoverLogValue(vb: VBucket): Buffer {
    const v = Buffer.allocUnsafe(vb.failoverLog.length * 16);
    vb.failoverLog.forEach((e, i) => {
      v.writeBigUInt64BE(e.vbucketUuid, i * 16);
      v.writeBigUInt64BE(BigInt(e.seqno), i * 16 + 8);
    });
    return v;
  }

  get #log() {
    return this.session.ctx.log;
  }

  // ---- requests ---------------------------------------------------------------------------

  onRequest(f: Frame) {
    switch (f.opcode) {
      case Op.DcpControl:
        return this.#control(f);
      case Op.DcpStreamReq:
        return this.#streamReq(f);
      case Op.DcpCloseStream:
        return this.#closeStream(f);
      case Op.DcpBufferAck:
        return this.#bufferAck(f);
    }
  }

  /** Replies from the consumer (NOOP answers, marker acks). */
  onResponse(f: Frame) {
    if (f.opcode === Op.DcpNoop) {
      this.#noopPending = false;
    }
  }

  #control(f: Frame) {
    const key = f.key.toString('latin1');
    const value = f.value.toString('latin1');
    const st = this.#applyControl(key, value);
    if (st === St.Success) this.session.ok(f);
    else this.session.error(f, st, `control ${key}=${value}`);
  }

  #applyControl(key: string, value: string): ControlResult {
    const bool = value === 'true' ? true : value === 'false' ? false : undefined;
    switch (key) {
      case 'connection_buffer_size': {
        if (!/^\d+$/.test(value)) return St.Einval;
        const n = Number(value);
        this.bufferSize = n;
        this.#maybeUnstall();
        return St.Success;
      }
      case 'enable_noop':
        if (bool === undefined) return St.Einval;
        this.noopEnabled = bool;
        if (!bool) this.#stopNoop();
        else if (this.streams.size) this.#startNoop();
        return St.Success;
      case 'set_noop_interval': {
        const s = Number(value);
        if (!value.trim() || !Number.isFinite(s) || s < 0.1 || s > 10800) return St.Einval;
        this.noopIntervalMs = Math.round(s * 1000);
        if (this.#noopTimer) this.#startNoop();
        return St.Success;
      }
      case 'set_priority':
        if (value !== 'high' && value !== 'medium' && value !== 'low') return St.Einval;
        this.priority = value;
        return St.Success;
      case 'enable_expiry_opcode':
        if (bool === undefined) return St.Einval;
        this.expiryOpcode = bool;
        return St.Success;
      case 'send_stream_end_on_client_close_stream':
        if (bool === undefined) return St.Einval;
        this.streamEndOnClose = bool;
        return St.Success;
      case 'force_value_compression':
        if (bool === undefined) return St.Einval;
        if (bool && !this.#snappy) return St.Einval;
        this.forceCompression = bool;
        return St.Success;
      case 'supports_cursor_dropping':
      case 'supports_cursor_dropping_vulcan':
      case 'supports_hifi_MFU':
      case 'include_deleted_user_xattrs':
        return bool === undefined ? St.Einval : St.Success;
      case 'enable_stream_id':
        if (value !== 'true') return St.Einval;
        if (this.streams.size) return St.Einval;
        this.streamIdEnabled = true;
        return St.Success;
      case 'backfill_order':
        return value === 'round-robin' || value === 'sequential' ? St.Success : St.Einval;
      case 'consumer_name':
        return St.Success;
      case 'v7_dcp_status_codes':
        if (value !== 'true') return St.Einval;
        this.v7StatusCodes = true;
        return St.Success;
      // Accepted, and harmless: the producer may always choose in-order snapshots.
      case 'enable_out_of_order_snapshots':
        return value === 'true' || value === 'true_with_seqno_advanced' || value === 'false'
          ? St.Success
          : St.Einval;
      // System events go out in versions 0/1 (system_event.md); FlatBuffers (version 2) are not
      // offered, so a client that asks for them learns it instead of getting what it cannot read.
      case 'flatbuffers_system_events':
        if (bool === undefined) return St.Einval;
        return bool ? St.NotSupported : St.Success;
      // Would change what is sent (sync-write messages, v2.x markers, change streams, ...): not offered.
      case 'max_marker_version':
      case 'change_streams':
      case 'enable_sync_writes':
      case 'stream_buffer_size':
      case 'cache_transfer':
        return St.NotSupported;
      default:
        return St.Einval;
    }
  }

  #sidOf(f: Frame): number | undefined {
    if (!f.framingExtras.length) return 0;
    for (const fi of parseFrameInfos(f.framingExtras))
      if (fi.id === 2 && fi.data.length === 2) return fi.data.readUInt16BE(0);
    return undefined;
  }

  #streamReq(f: Frame) {
    const s = this.session;
    if (f.extras.length !== 48) return s.error(f, St.Einval, 'STREAM_REQ needs 48 bytes of extras');
    const cluster = s.ctx.cluster;
    const bucket = s.bucket!;
    const vbId = f.vbOrStatus;
    let flags = f.extras.readUInt32BE(0);
    let start = readU64n(f.extras, 8);
    const rawEnd = f.extras.readBigUInt64BE(16);
    let end = rawEnd >= BigInt(MAX_SEQNO) ? MAX_SEQNO : Number(rawEnd);
    const uuid = f.extras.readBigUInt64BE(24);
    let snapStart = readU64n(f.extras, 32);
    let snapEnd = readU64n(f.extras, 40);
    let json: StreamRequestValue | undefined;
    if (f.value.length) {
      // Checked in full before use: a {"sid":-1} once reached the encoder and crashed the process.
      const parsed = parseStreamRequestValue(f.value);
      if (!parsed.ok) return s.error(f, parsed.status, parsed.context);
      json = parsed.value;
    }
    // 1. vbucket here, in a state that may stream.
    const role = vbId < cluster.numVbuckets ? cluster.role(s.ctx.index, vbId) : undefined;
    if (!role || ((flags & StreamFlag.ActiveVbOnly) !== 0 && role !== 'active'))
      return s.status(f, St.NotMyVbucket);
    const vb = bucket.vbuckets[vbId];
    // A replica vbucket streams what its copy holds (kv_engine streams a replica's own data).
    const node = s.ctx.index;
    const high =
      role === 'active'
        ? () => vb.highSeqno
        : () => Math.min(vb.highSeqno, cluster.visibleSeqno(bucket, vbId, node));
    const highSeqno = high();
    const collect =
      role === 'active'
        ? (after: number, upTo: number) => vb.collect(after, upTo)
        : (after: number, upTo: number) => cluster.replication.collect(bucket, vbId, node, after, upTo);
    // 2. from-latest rewrites the start; v5 features need noops.
    if (flags & StreamFlag.FromLatest) {
      start = snapStart = snapEnd = highSeqno;
    }
    if ((this.includeXattrs || json) && !this.noopEnabled) {
      return s.error(f, St.NotSupported, 'enable_noop is required for this stream request');
    }
    // 3. range checks.
    if (start > end) return s.error(f, St.Erange, 'start seqno above end seqno');
    if (!(snapStart <= start && start <= snapEnd))
      return s.error(f, St.Erange, 'start outside the snapshot range');
    // 4. stream ids and duplicates.
    let sid: number | undefined;
    try {
      sid = this.#sidOf(f);
    } catch {
      return s.error(f, St.Einval, 'bad framing extras');
    }
    if (json?.sid !== undefined && sid === 0) sid = json.sid;
    if (this.streamIdEnabled && (!sid || sid > 0xffff))
      return s.error(f, St.DcpStreamIdInvalid, 'stream id required');
    if (!this.streamIdEnabled && sid) return s.error(f, St.DcpStreamIdInvalid, 'stream ids not enabled');
    sid ??= 0;
    // kv_engine's Collections::VB::Filter: built from the manifest as it is now (vbucket_filter.cc).
    const built = StreamFilter.build(this.#collections, json, bucket.collections.manifest);
    if (!built.ok) {
      if (built.status === St.UnknownCollection || built.status === 0x8c)
        return replyUnknown(s, f, built.status, built.manifestUid, built.context);
      return s.error(f, built.status, built.context);
    }
    const existing = this.streams.get(vbId * 65536 + sid);
    if (existing && existing.phase === Phase.Active) return s.error(f, St.KeyEexists, 'stream already open');
    // 5. rollback.

    const rb = needsRollback(vb.failoverLog, highSeqno, vb.purgeSeqno, {
      startSeqno: start,
      vbucketUuid: uuid,
      snapStart,
      snapEnd,
      strict: (flags & StreamFlag.StrictVbUuid) !== 0,
      ignorePurgedTombstones: (flags & StreamFlag.IgnorePurgedTombstones) !== 0,
      clientPurgeSeqno: json?.purgeSeqno,
    });
    if (rb !== undefined) {
      const v = Buffer.allocUnsafe(8);
      v.writeBigUInt64BE(BigInt(rb));
      return s.status(f, St.Rollback, v);
    }
    // 6. end seqno rewrites and range against the high seqno.
    if (flags & (StreamFlag.ToLatest | StreamFlag.DiskOnly)) end = highSeqno;
    if (start > end) return s.error(f, St.Erange, 'start seqno above end seqno');
    if (start > highSeqno) return s.error(f, St.Erange, 'start seqno above the high seqno');
    if (start === snapStart && snapEnd > highSeqno) snapEnd = highSeqno;
    flags &= ~StreamFlag.NoValue;
    // 7. over the per-connection stream limit (kv_engine: a stream that does not fit is ENOMEM).
    if (!existing && this.streams.size >= cluster.dcpMaxStreams) {
      cluster.sessionStats.dcpStreamsRefused.inc();
      return s.error(f, St.Enomem, `connection already holds ${this.streams.size} streams`);
    }
    // 8. success: the failover log, then the stream.
    s.ok(f, DcpProducer.failoverLogValue(vb));
    const st = new Stream(
      this,
      vb,
      f.opaque,
      sid,
      flags,
      start,
      end,
      snapStart,
      high,
      collect,
      built.filter,
      bucket.collections,
    );
    this.streams.set(st.key, st);
    vb.listeners.add(st.listener);
    s.ctx.cluster.sessionStats.dcpStreams.inc();
    if (this.noopEnabled && !this.#noopTimer) this.#startNoop();
    this.wake(st);
    if (rawEnd !== U64_MAX && this.#log.isLevelEnabled('debug'))
      this.#log.debug({ vb: vbId, start, end }, 'stream with end seqno');
  }

  #closeStream(f: Frame) {
    let sid: number | undefined;
    try {
      sid = this.#sidOf(f);
    } catch {
      return this.session.error(f, St.Einval, 'bad framing extras');
    }
    if (this.streamIdEnabled && !sid)
      return this.session.error(f, St.DcpStreamIdInvalid, 'stream id required');
    const st = this.streams.get(f.vbOrStatus * 65536 + (sid ?? 0));
    if (!st || st.phase !== Phase.Active || st.endReason >= 0)
      return this.session.error(f, St.KeyEnoent, 'no such stream');
    this.session.ok(f);
    if (this.streamEndOnClose) this.#endStream(st, EndReason.Closed);
    else this.#remove(st);
  }

  #bufferAck(f: Frame) {
    if (f.extras.length !== 4) return; // no reply is expected for a buffer ack, even a bad one
    const n = f.extras.readUInt32BE(0);
    this.unacked = Math.max(0, this.unacked - n);
    this.#maybeUnstall();
  }

  #maybeUnstall() {
    if (this.#stalled && (this.bufferSize === 0 || this.unacked < this.bufferSize)) {
      this.#stalled = false;
      this.schedule();
    }
  }

  // ---- noops ------------------------------------------------------------------------------

  #startNoop() {
    this.#stopNoop();
    const every = this.noopIntervalMs;
    this.#noopTimer = setInterval(() => this.#noopTick(), every);
    this.#noopTimer.unref();
  }

  #stopNoop() {
    if (this.#noopTimer) clearInterval(this.#noopTimer);
    this.#noopTimer = undefined;
  }

  #noopTick() {
    if (this.#closed) return;
    const now = Date.now();
    const idle = now - this.session.lastReceived;
    // Current kv_engine drops a noop-enabled consumer silent for dcp_idle_timeout; older ones
    // dropped it when a noop stayed unanswered for a full interval. Both apply here.
    const overdue =
      this.#noopPending &&
      now - this.#noopSentAt >= 2 * this.noopIntervalMs &&
      idle >= 2 * this.noopIntervalMs;
    if (idle >= this.session.ctx.cluster.dcpIdleTimeoutMs || overdue) {
      this.session.ctx.cluster.sessionStats.dcpIdleDrops.inc();
      this.#log.info({ name: this.name, idleMs: idle }, 'DCP consumer silent for too long: disconnecting');
      this.session.destroy();
      return;
    }
    if (this.#noopPending) return;
    this.#noopPending = true;
    this.#noopSentAt = now;
    this.session.out.request(MAGIC_REQ, Op.DcpNoop, 0, this.#noopOpaque++);
    this.session.scheduleFlush();
  }

  // ---- topology ---------------------------------------------------------------------------

  vbucketChanged(vb: number) {
    for (const st of this.streams.values()) {
      if (st.vb.id === vb && st.phase === Phase.Active && st.endReason < 0)
        this.#endStream(st, EndReason.StateChanged);
    }
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopNoop();
    for (const st of [...this.streams.values()]) this.#remove(st);
  }

  // ---- the pump ---------------------------------------------------------------------------

  #endStream(st: Stream, reason: number) {
    st.endReason = reason;
    st.snapshot = undefined;
    this.wake(st);
  }

  #remove(st: Stream) {
    if (st.phase === Phase.Dead) return;
    st.phase = Phase.Dead;
    st.snapshot = undefined;
    st.vb.listeners.delete(st.listener);
    if (this.streams.get(st.key) === st) this.streams.delete(st.key);
    this.session.ctx.cluster.sessionStats.dcpStreams.dec();
  }

  wake(st: Stream) {
    if (st.queued || st.phase !== Phase.Active || this.#closed) return;
    st.queued = true;
    this.#ready.push(st);
    this.schedule();
  }

  schedule() {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  get #windowOpen(): boolean {
    return this.bufferSize === 0 || this.unacked < this.bufferSize;
  }

  #pump() {
    const s = this.session;
    if (this.#closed || s.closed || s.blocked) return;
    const w = s.out;
    const startLen = w.length;
    let messages = 0;
    while (this.#readyHead < this.#ready.length) {
      if (!this.#windowOpen) {
        if (!this.#stalled) s.ctx.cluster.sessionStats.dcpStalls.inc();
        this.#stalled = true;
        break;
      }
      if (w.length - startLen >= PUMP_BYTES) break;
      const st = this.#ready[this.#readyHead++];
      st.queued = false;
      if (st.phase !== Phase.Active) continue;
      messages += this.#run(st);
      if (st.phase === Phase.Active && st.ready && !st.queued) {
        st.queued = true;
        this.#ready.push(st);
      }
    }
    if (this.#readyHead > 1024 && this.#readyHead * 2 > this.#ready.length) {
      this.#ready = this.#ready.slice(this.#readyHead);
      this.#readyHead = 0;
    } else if (this.#readyHead === this.#ready.length) {
      this.#ready.length = 0;
      this.#readyHead = 0;
    }
    const bytes = w.length - startLen;
    if (messages) {
      s.ctx.cluster.sessionStats.dcpMessages.inc(messages);
      s.ctx.cluster.sessionStats.dcpBytes.inc(bytes);
    }
    s.flush();
    if (this.#readyHead < this.#ready.length && !this.#stalled && !s.blocked) this.schedule();
  }

  /** Emits up to one turn of messages for a stream; returns how many. */
  #run(st: Stream): number {
    let n = 0;
    const vb = st.vb;
    while (n < STREAM_TURN && this.#windowOpen) {
      if (st.endReason >= 0) {
        this.#emitEnd(st, st.endReason);
        this.#remove(st);
        return n + 1;
      }
      if (st.snapshot) {
        const items = st.snapshot;
        let i = st.snapIdx;
        const stop = Math.min(items.length, i + STREAM_TURN - n);
        const limited = this.bufferSize > 0;
        while (i < stop) {
          const it = items[i++];
          this.#emitItem(st, it);
          n++;
          if (limited && this.unacked >= this.bufferSize) break;
        }
        if (i > st.snapIdx) st.lastSent = items[i - 1].seqno;
        st.snapIdx = i;
        if (st.snapIdx >= items.length) {
          st.snapshot = undefined;
          this.#snapshotDone(st);
          n++;
        }
        continue;
      }
      if (st.lastSent >= st.endSeqno) {
        st.endReason = EndReason.Ok;
        continue;
      }
      const high = st.high();
      if (st.lastSent >= high) return n;
      // Next snapshot: a disk snapshot while behind the in-memory checkpoints, else bounded by
      // the checkpoint that holds the next seqno.
      const from = st.lastSent;
      const disk = from + 1 < vb.memoryStart;
      let upTo = disk ? high : Math.min(vb.checkpointEndFor(from + 1), high);
      if (upTo > st.endSeqno) upTo = st.endSeqno;
      const raw = st.collect(from, upTo);
      if (raw.length === 0) {
        // Everything in range was superseded later: nothing to say for it.
        st.lastSent = upTo;
        continue;
      }
      const rangeEnd = raw[raw.length - 1].seqno;
      const items = this.#filter(st, raw);
      let flags = disk ? SnapFlag.Disk | SnapFlag.Checkpoint : SnapFlag.Memory;
      if (!disk && vb.isCheckpointStart(from + 1)) flags |= SnapFlag.Checkpoint;
      if (items.length === 0) {
        // Nothing of this range is for the stream. kv_engine (ActiveStream::processItems,
        // MB-47009) still moves a collections client to the end of a backfill, and of its first
        // snapshot, with a marker and a SEQNO_ADVANCED; memory snapshots pass silently.
        if (this.#collections && (disk || st.firstMarker)) {
          this.#emitMarker(st, st.firstMarker ? Math.min(st.snapStart, from + 1) : from + 1, rangeEnd, flags);
          this.#emitSeqnoAdvanced(st, rangeEnd);
          st.firstMarker = false;
          n += 2;
        }
        st.lastSent = upTo;
        if (st.filter.empty) st.endReason = EndReason.FilterEmpty;
        continue;
      }
      const last = items[items.length - 1].seqno;
      // A backfill's marker covers its whole range for collections clients, with a SEQNO_ADVANCED
      // to its end when its last seqnos were filtered out (isSeqnoAdvancedNeededBackFill); memory
      // snapshots end on their last item (ActiveStream::snapshot). Legacy clients never get a
      // SEQNO_ADVANCED, so their markers always end on a delivered item.
      const markerEnd = this.#collections && disk ? rangeEnd : last;
      // kv_engine (ActiveStream::snapshot / markDiskSnapshot): the first marker starts at
      // min(requested snapshot start, first seqno) so a resumed snapshot stays consistent.
      const markerStart = st.firstMarker ? Math.min(st.snapStart, items[0].seqno) : from + 1;
      st.firstMarker = false;
      this.#emitMarker(st, markerStart, markerEnd, flags);
      n++;
      st.snapshot = items;
      st.snapIdx = 0;
      st.advanceTo = markerEnd > last ? markerEnd : 0;
      st.rangeEnd = rangeEnd;
    }
    return n;
  }

  /**
   * The items of a collected range this stream gets: all of them while the bucket never had a
   * collection besides _default (the hot path), else what the stream's filter allows.
   */
  #filter(st: Stream, raw: Item[]): Item[] {
    const c = st.collections;
    if (!c.active && st.filter.kind !== 'collections' && st.filter.kind !== 'scope') return raw;
    const vb = st.vb.id;
    let out: Item[] | undefined;
    for (let i = 0; i < raw.length; i++) {
      const it = raw[i];
      const ok = st.filter.allows(it, c.visible(vb, it));
      if (ok) {
        if (out) out.push(it);
      } else if (!out) out = raw.slice(0, i);
    }
    return out ?? raw;
  }

  /** A snapshot was sent in full: its seqno gap closed, the stream ends if its filter emptied. */
  #snapshotDone(st: Stream): void {
    if (st.advanceTo) {
      this.#emitSeqnoAdvanced(st, st.advanceTo);
      st.advanceTo = 0;
    }
    if (st.rangeEnd > st.lastSent) st.lastSent = st.rangeEnd;
    if (st.filter.empty && st.endReason < 0) st.endReason = EndReason.FilterEmpty;
  }

  #emitSeqnoAdvanced(st: Stream, seqno: number) {
    this.#count(this.#head(st, Op.DcpSeqnoAdvanced, 0, 8, 0, 0, 0n));
    this.session.out.u64n(seqno);
  }

  /** DCP_SYSTEM_EVENT: extras u64 seqno, u32 event, u8 version; key and value (system_event.md). */
  #emitEvent(st: Stream, it: Item) {
    const e = eventView(it);
    const w = this.session.out;
    this.#count(this.#head(st, Op.DcpSystemEvent, e.key.length, 13, 0, e.value.length, 0n));
    w.u64n(it.seqno);
    w.u32(e.event);
    w.u8(e.version);
    if (e.key.length) w.bytes(e.key);
    w.bytes(e.value);
  }

  /** Header for a stream message (plain, or alt with a stream-id frame). */
  #head(
    st: Stream,
    opcode: number,
    keyLen: number,
    extLen: number,
    datatype: number,
    valueLen: number,
    cas: bigint,
  ): number {
    const w = this.session.out;
    if (st.sid) {
      const total = 24 + 3 + extLen + keyLen + valueLen;
      w.reserve(total);
      w.header(
        MAGIC_ALT_REQ,
        opcode,
        0,
        extLen,
        datatype,
        st.vb.id,
        3 + extLen + keyLen + valueLen,
        st.opaque,
        cas,
      );
      w.buf[w.pos - 22] = 3;
      w.buf[w.pos - 21] = keyLen;
      w.u8(0x22);
      w.u16(st.sid);
      return total;
    }
    const total = 24 + extLen + keyLen + valueLen;
    w.reserve(total);
    w.header(
      MAGIC_REQ,
      opcode,
      keyLen,
      extLen,
      datatype,
      st.vb.id,
      extLen + keyLen + valueLen,
      st.opaque,
      cas,
    );
    return total;
  }

  #count(bytes: number) {
    if (this.bufferSize) this.unacked += bytes;
  }

  #emitMarker(st: Stream, start: number, end: number, flags: number) {
    const w = this.session.out;
    this.#count(this.#head(st, Op.DcpSnapshotMarker, 0, 20, 0, 0, 0n));
    w.u64n(start);
    w.u64n(end);
    w.u32(flags);
  }

  #emitEnd(st: Stream, reason: number) {
    // DcpProducer::mapEndStreamStatus: clients without collections know no "filter empty".
    if (reason === EndReason.FilterEmpty && !this.#collections) reason = EndReason.Ok;
    this.#count(this.#head(st, Op.DcpStreamEnd, 0, 4, 0, 0, 0n));
    this.session.out.u32(reason);
  }

  #emitItem(st: Stream, it: Item) {
    const w = this.session.out;
    let keyStr = it.keyStr;
    let coll = this.#collections ? 1 : 0;
    // A key of another collection (or an escaped one) starts with 0xFF + its LEB128 id
    // (collections/doc-key.ts): a collections client gets the id, a legacy one the bare key.
    if (keyStr.charCodeAt(0) === 0xff) {
      if (it.kind === ItemKind.SystemEvent) return this.#emitEvent(st, it);
      keyStr = coll ? keyStr.slice(1) : keyStr.slice(2);
      coll = 0;
    }
    const keyLen = keyStr.length + coll;
    if (it.kind === ItemKind.Mutation) {
      let value = it.value;
      let dt = it.datatype;
      if (dt & DT_XATTR && !this.includeXattrs) {
        value = value.subarray(Math.min(value.length, 4 + value.readUInt32BE(0)));
        dt &= ~DT_XATTR;
      }
      if (!this.#json) dt &= ~DT_JSON;
      if (this.noValue) {
        // kv_engine: no-value with include-xattrs still sends the XATTR section.
        if (this.includeXattrs && it.datatype & DT_XATTR) {
          value = it.value.subarray(0, Math.min(it.value.length, 4 + it.value.readUInt32BE(0)));
          dt = DT_XATTR | (this.noValueKeepDatatype ? dt : 0);
        } else {
          value = EMPTY;
          if (!this.noValueKeepDatatype) dt = 0;
        }
      } else if (this.forceCompression && value.length) {
        value = snappy.compressSync(value) as Buffer;
        dt |= DT_SNAPPY;
      }
      const vlen = value.length;
      if (st.sid) {
        this.#count(this.#head(st, Op.DcpMutation, keyLen, 31, dt, vlen, it.cas));
        w.u64n(it.seqno);
        w.u64n(it.revSeqno);
        w.u32(it.flags);
        w.u32(it.expiry);
        const b = w.buf;
        b.fill(0, w.pos, w.pos + 7);
        let p = w.pos + 7;
        if (coll) b[p++] = 0;
        p += (b as LatinWriter).latin1Write(keyStr, p);
        if (vlen) {
          b.set(value, p);
          p += vlen;
        }
        w.pos = p;
        return;
      }
      // Hot path: the whole message written byte by byte in place. Buffer#writeUInt32BE and
      // latin1Write are calls out of the JIT's reach (~170 ns a message together); these are not.
      const total = 55 + keyLen + vlen;
      w.reserve(total);
      const b = w.buf;
      let p = w.pos;
      const vb = st.vb.id;
      const bodyLen = total - 24;
      const opaque = st.opaque;
      b[p] = MAGIC_REQ;
      b[p + 1] = Op.DcpMutation;
      b[p + 2] = keyLen >>> 8;
      b[p + 3] = keyLen & 0xff;
      b[p + 4] = 31;
      b[p + 5] = dt;
      b[p + 6] = vb >>> 8;
      b[p + 7] = vb & 0xff;
      put32(b, p + 8, bodyLen);
      put32(b, p + 12, opaque);
      put32(b, p + 16, it.casHi);
      put32(b, p + 20, it.casLo);
      put64(b, p + 24, it.seqno);
      put64(b, p + 32, it.revSeqno);
      put32(b, p + 40, it.flags);
      put32(b, p + 44, it.expiry);
      // lock time (u32), nmeta (u16), nru (u8)
      b[p + 48] = 0;
      b[p + 49] = 0;
      b[p + 50] = 0;
      b[p + 51] = 0;
      b[p + 52] = 0;
      b[p + 53] = 0;
      b[p + 54] = 0;
      p += 55;
      if (coll) b[p++] = 0;
      const klen = keyStr.length;
      if (klen <= 64) {
        for (let i = 0; i < klen; i++) b[p + i] = keyStr.charCodeAt(i);
        p += klen;
      } else p += (b as LatinWriter).latin1Write(keyStr, p);
      if (vlen) {
        b.set(value, p);
        p += vlen;
      }
      w.pos = p;
      if (this.bufferSize) this.unacked += total;
      return;
    }
    // A tombstone keeps the system xattrs; consumers that opened with include-xattrs get them
    // as the deletion's value (datatype XATTR), others an empty value.
    const dv = this.includeXattrs && it.datatype & DT_XATTR && !this.noValue ? it.value : EMPTY;
    const ddt = dv.length ? DT_XATTR : 0;
    let withValue = true;
    if (it.kind === ItemKind.Expiration && this.expiryOpcode && this.deleteTimes) {
      withValue = false;
      this.#count(this.#head(st, Op.DcpExpiration, keyLen, 20, 0, 0, it.cas));
      w.u64n(it.seqno);
      w.u64n(it.revSeqno);
      w.u32(it.deleteTime);
    } else if (this.deleteTimes) {
      this.#count(this.#head(st, Op.DcpDeletion, keyLen, 21, ddt, dv.length, it.cas));
      w.u64n(it.seqno);
      w.u64n(it.revSeqno);
      w.u32(it.deleteTime);
      w.u8(0);
    } else {
      this.#count(this.#head(st, Op.DcpDeletion, keyLen, 18, ddt, dv.length, it.cas));
      w.u64n(it.seqno);
      w.u64n(it.revSeqno);
      w.u16(0);
    }
    if (coll) w.u8(0);
    w.pos += (w.buf as LatinWriter).latin1Write(keyStr, w.pos);
    if (withValue && dv.length) w.bytes(dv);
  }
}

/** Big-endian u32 at `at` (v in 0..2^32-1, or any int32 bit pattern). */
function put32(b: Buffer, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/** Big-endian u64 at `at` from a JS number (seqnos ≤ 2^53-1). */
function put64(b: Buffer, at: number, v: number): void {
  const hi = Math.floor(v / 0x100000000);
  put32(b, at, hi);
  put32(b, at + 4, v - hi * 0x100000000);
}

/** Buffer#latin1Write exists in Node but not in its type definitions. */
type LatinWriter = Buffer & { latin1Write(s: string, offset: number): number };

const EMPTY = Buffer.alloc(0);
