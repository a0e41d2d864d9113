// System events as items of a vbucket's history. kv_engine writes each collection or scope change
// into every vbucket as an item of its reserved system collection, with its own seqno, and a later
// event of the same collection (a flush, the drop) replaces the earlier one as a newer version of
// the same key would (engines/ep/src/collections/system_event_types.h; kv_engine's ActiveStream
// reads the event type from the item's flags). Here the item's key is the system collection's
// prefix, 'c' or 's', and the collection or scope id; `flags` holds the event id; the value holds
// what DCP sends: u8 version, u16 key length, the key, then the event's value bytes, as
// @tributary/codec encodes them (kv_engine docs/dcp/documentation/commands/system_event.md).
import { encodeSystemEventData, type SystemEventData } from '@tributary/codec';
import { Item, ItemKind } from '../vbucket.js';
import { leb128, SYSTEM_COLLECTION } from './doc-key.js';

const PREFIX = String.fromCharCode(0xff, SYSTEM_COLLECTION);

/** The key of the events of collection `cid` ('c') or scope `sid` ('s'). */
export function eventKey(kind: 'c' | 's', id: number): string {
  return PREFIX + kind + String.fromCharCode(...leb128(id));
}

export function isEventKey(keyStr: string): boolean {
  return keyStr.charCodeAt(0) === 0xff && keyStr.charCodeAt(1) === SYSTEM_COLLECTION;
}

/** A new event item (the caller appends it to a vbucket, which assigns its seqno). */
export function eventItem(d: SystemEventData, cas: bigint, revSeqno: number): Item {
  const p = encodeSystemEventData(d);
  const value = Buffer.allocUnsafe(3 + p.key.length + p.value.length);
  value[0] = p.version;
  value.writeUInt16BE(p.key.length, 1);
  p.key.copy(value, 3);
  p.value.copy(value, 3 + p.key.length);
  const key =
    d.type === 'scope-created' || d.type === 'scope-dropped'
      ? eventKey('s', d.scopeId)
      : eventKey('c', d.collectionId);
  return new Item(key, value, 0, p.event, 0, cas, revSeqno, ItemKind.SystemEvent, 0);
}

/** What an event item sends: version, key and value bytes, and the ids the filters look at. */
export interface EventView {
  event: number;
  version: number;
  key: Buffer;
  value: Buffer;
  scopeId: number;
  /** Collection events only (-1 for scope events). */
  collectionId: number;
}

export function eventView(it: Item): EventView {
  const v = it.value;
  const klen = v.readUInt16BE(1);
  const key = v.subarray(3, 3 + klen);
  const value = v.subarray(3 + klen);
  const collectionEvent = it.flags === 0 || it.flags === 1 || it.flags === 5;
  return {
    event: it.flags,
    version: v[0],
    key,
    value,
    scopeId: value.readUInt32BE(8),
    collectionId: collectionEvent ? value.readUInt32BE(12) : -1,
  };
}
