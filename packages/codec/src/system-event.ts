// The key and value of a DCP_SYSTEM_EVENT (0x5f), per event and version, as kv_engine's
// docs/dcp/documentation/commands/system_event.md defines them:
//   0 begin collection (created or flushed): key = name; v0 value = u64 manifest uid, u32 scope id,
//     u32 collection id; v1 adds u32 max TTL (seconds)
//   1 end collection (dropped): no key; v0 value = u64 manifest uid, u32 scope id, u32 collection id
//   3 create scope: key = name; v0 value = u64 manifest uid, u32 scope id
//   4 drop scope: no key; v0 value = u64 manifest uid, u32 scope id
//   5 modify collection: only sent as FlatBuffers (version 2, `flatbuffers_system_events`)
// All integers network order. (The doc's example lists the collection id before the scope id;
// its struct definitions and the server captures put the scope id first, as here.)
// Version 2 (FlatBuffers) payloads are refused with TRIB_BAD_VALUE: a client that does not
// enable `flatbuffers_system_events` never receives them.
import { DcpSystemEventId } from './constants.js';
import { ErrBadValue, ErrEncode } from './errors.js';

/** What a system event says, decoded from its key and value. */
export type SystemEventData =
  | {
      type: 'collection-created';
      manifestUid: number;
      scopeId: number;
      collectionId: number;
      name: string;
      /** Seconds; present in version 1 payloads (collections with a max TTL). */
      maxTtl?: number;
    }
  | { type: 'collection-dropped'; manifestUid: number; scopeId: number; collectionId: number }
  | { type: 'scope-created'; manifestUid: number; scopeId: number; name: string }
  | { type: 'scope-dropped'; manifestUid: number; scopeId: number };

/** The wire fields of a system event (what encodeDcpSystemEvent takes besides vbucket/opaque/seqno). */
export interface SystemEventPayload {
  event: number;
  version: number;
  key: Buffer;
  value: Buffer;
}

/** Longest scope or collection name kv_engine accepts (ns_server: 251 characters). */
export const MAX_COLLECTION_NAME_BYTES = 251;

function readUid(v: Uint8Array): number {
  const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  const uid = b.readBigUInt64BE(0);
  if (uid > BigInt(Number.MAX_SAFE_INTEGER)) throw ErrBadValue('manifest uid above 2^53-1');
  return Number(uid);
}

function name(key: Uint8Array, what: string): string {
  if (key.length === 0) throw ErrBadValue(`${what} event without a name`);
  if (key.length > MAX_COLLECTION_NAME_BYTES) throw ErrBadValue(`${what} name longer than 251 bytes`);
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8');
}

function expectLen(value: Uint8Array, len: number, what: string): Buffer {
  if (value.length !== len) throw ErrBadValue(`${what} value must be ${len} bytes, got ${value.length}`);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * Decodes a system event's key and value (from `decodeDcpSystemEvent`). Throws TRIB_BAD_VALUE
 * for an unknown event, a version it does not know (2 = FlatBuffers) or a malformed payload.
 */
export function decodeSystemEventData(
  event: number,
  version: number,
  key: Uint8Array,
  value: Uint8Array,
): SystemEventData {
  if (version === 2) throw ErrBadValue('FlatBuffers system events (version 2) are not decoded');
  switch (event) {
    case DcpSystemEventId.CollectionCreate: {
      if (version > 1) throw ErrBadValue(`collection event version ${version}`);
      const v = expectLen(value, version === 1 ? 20 : 16, 'collection-created');
      const out: SystemEventData = {
        type: 'collection-created',
        manifestUid: readUid(v),
        scopeId: v.readUInt32BE(8),
        collectionId: v.readUInt32BE(12),
        name: name(key, 'collection-created'),
      };
      if (version === 1) out.maxTtl = v.readUInt32BE(16);
      return out;
    }
    case DcpSystemEventId.CollectionDrop: {
      if (version !== 0) throw ErrBadValue(`collection-dropped event version ${version}`);
      if (key.length) throw ErrBadValue('collection-dropped event with a key');
      const v = expectLen(value, 16, 'collection-dropped');
      return {
        type: 'collection-dropped',
        manifestUid: readUid(v),
        scopeId: v.readUInt32BE(8),
        collectionId: v.readUInt32BE(12),
      };
    }
    case DcpSystemEventId.ScopeCreate: {
      if (version !== 0) throw ErrBadValue(`scope-created event version ${version}`);
      const v = expectLen(value, 12, 'scope-created');
      return {
        type: 'scope-created',
        manifestUid: readUid(v),
        scopeId: v.readUInt32BE(8),
        name: name(key, 'scope-created'),
      };
    }
    case DcpSystemEventId.ScopeDrop: {
      if (version !== 0) throw ErrBadValue(`scope-dropped event version ${version}`);
      if (key.length) throw ErrBadValue('scope-dropped event with a key');
      const v = expectLen(value, 12, 'scope-dropped');
      return { type: 'scope-dropped', manifestUid: readUid(v), scopeId: v.readUInt32BE(8) };
    }
    case DcpSystemEventId.CollectionModify:
      throw ErrBadValue('collection-modified events are only sent as FlatBuffers');
    default:
      throw ErrBadValue(`unknown system event ${event}`);
  }
}

function u32(what: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw ErrEncode(`${what} ${String(v)} is not a u32`);
  return v;
}

function head(uid: number, len: number): Buffer {
  if (!Number.isSafeInteger(uid) || uid < 0) throw ErrEncode(`manifest uid ${String(uid)} is not a u64`);
  const b = Buffer.alloc(len);
  b.writeBigUInt64BE(BigInt(uid), 0);
  return b;
}

function nameBytes(n: string): Buffer {
  const b = Buffer.from(n, 'utf8');
  if (b.length === 0 || b.length > MAX_COLLECTION_NAME_BYTES)
    throw ErrEncode(`a scope or collection name must be 1..251 bytes, got ${b.length}`);
  return b;
}

/**
 * Encodes a system event's key and value, in the version kv_engine picks: a created collection
 * with a max TTL is version 1 (the TTL appended), every other event version 0.
 */
export function encodeSystemEventData(d: SystemEventData): SystemEventPayload {
  switch (d.type) {
    case 'collection-created': {
      const ttl = d.maxTtl !== undefined && d.maxTtl !== 0;
      const v = head(d.manifestUid, ttl ? 20 : 16);
      v.writeUInt32BE(u32('scopeId', d.scopeId), 8);
      v.writeUInt32BE(u32('collectionId', d.collectionId), 12);
      if (ttl) v.writeUInt32BE(u32('maxTtl', d.maxTtl!), 16);
      return {
        event: DcpSystemEventId.CollectionCreate,
        version: ttl ? 1 : 0,
        key: nameBytes(d.name),
        value: v,
      };
    }
    case 'collection-dropped': {
      const v = head(d.manifestUid, 16);
      v.writeUInt32BE(u32('scopeId', d.scopeId), 8);
      v.writeUInt32BE(u32('collectionId', d.collectionId), 12);
      return { event: DcpSystemEventId.CollectionDrop, version: 0, key: Buffer.alloc(0), value: v };
    }
    case 'scope-created': {
      const v = head(d.manifestUid, 12);
      v.writeUInt32BE(u32('scopeId', d.scopeId), 8);
      return { event: DcpSystemEventId.ScopeCreate, version: 0, key: nameBytes(d.name), value: v };
    }
    case 'scope-dropped': {
      const v = head(d.manifestUid, 12);
      v.writeUInt32BE(u32('scopeId', d.scopeId), 8);
      return { event: DcpSystemEventId.ScopeDrop, version: 0, key: Buffer.alloc(0), value: v };
    }
    default:
      throw ErrEncode(`unknown system event ${(d as { type?: unknown }).type as string}`);
  }
}
