/** What a receiver method may return: nothing (done) or a promise that holds that vbucket until it settles. */
export type MaybePromise<T = void> = T | Promise<T>;

/** The decoded DCP message behind a dataUpdate / dataDelete call (cbdatasource passes the MCRequest). */
export interface DcpRequest {
  /** 'mutation', 'deletion' or 'expiration'. */
  readonly kind: 'mutation' | 'deletion' | 'expiration';
  readonly cas: bigint;
  /** Document flags (mutations; 0 otherwise). */
  readonly flags: number;
  /** Absolute expiry in Unix seconds, 0 for none (mutations). */
  readonly expiry: number;
  readonly revSeqno: number;
  /** Datatype bits as sent (0x01 JSON, 0x02 Snappy, 0x04 XATTR). `value` is always decompressed. */
  readonly datatype: number;
  /** Document body, decompressed, without the xattr section. A view: copy it to keep it. */
  readonly value: Buffer;
  /** Extended attributes, when `includeXAttrs` is on and the document has some. */
  readonly xattrs?: Readonly<Record<string, string>>;
  /** Deletion/expiration time (Unix seconds) when the server sends it. */
  readonly deleteTime?: number;
  /** The vbucket UUID of the stream this came from (newest failover-log entry). */
  readonly vbucketUuid: bigint;
  /** The document's collection ID when `options.collections` is set (the key comes without its prefix). */
  readonly collectionId?: number;
  /** Its scope's name, from the collections manifest (when `options.collections` is set). */
  readonly scope?: string;
  /** Its collection's name, from the collections manifest (when `options.collections` is set). */
  readonly collection?: string;
}

/**
 * A collection or scope changed (a DCP system event of the stream). `collection-created` is also
 * what a flush looks like: a new begin event of a collection this vbucket's stream had already
 * begun (`flushed` is then true; documents of it received before are gone on the server).
 */
export interface CollectionEvent {
  readonly type: 'collection-created' | 'collection-dropped' | 'scope-created' | 'scope-dropped';
  /** The manifest uid this event brings the vbucket to. */
  readonly manifestUid: number;
  readonly scopeId: number;
  readonly collectionId?: number;
  /** Names, from the event or the manifest (undefined when neither knows them). */
  readonly scope?: string;
  readonly collection?: string;
  /** Seconds, for a created collection with a max TTL. */
  readonly maxTtl?: number;
  /** A begin event of a collection this stream already saw begin: a flush. */
  readonly flushed?: boolean;
}

export interface MetaDataResult {
  /** The bytes last given to setMetaData, or undefined for a brand-new receiver. */
  value?: Uint8Array;
  /** The last seqno received and persisted through dataUpdate / dataDelete (0 when none). */
  lastSeq: number;
}

/**
 * Implemented by the application, as cbdatasource's Receiver/ReceiverEx. Methods are called in
 * order per vbucket and concurrently across vbuckets. Any method may return a promise: a pending
 * promise holds that vbucket (its later messages and its flow-control acknowledgement) until it
 * settles; other vbuckets keep flowing. A thrown error or a rejection is reported to onError and
 * the vbucket is re-requested from its last metadata. `key` and `req.value` are views into a
 * network buffer: copy them to keep them past the call.
 */
export interface Receiver {
  /** Advisory: the datasource keeps healing. Calling close() here is a valid reaction. */
  onError(err: Error): void;
  dataUpdate(vbucketId: number, key: Buffer, seq: number, req: DcpRequest): MaybePromise;
  /** Deletions and expirations (`req.kind` tells which). */
  dataDelete(vbucketId: number, key: Buffer, seq: number, req: DcpRequest): MaybePromise;
  snapshotStart(vbucketId: number, snapStart: number, snapEnd: number, snapType: number): MaybePromise;
  /** Persist `value` as this vbucket's metadata; it is "in-stream": a rollback rolls it back too. */
  setMetaData(vbucketId: number, value: Uint8Array): MaybePromise;
  getMetaData(vbucketId: number): MaybePromise<MetaDataResult>;
  /** Roll data and metadata of this vbucket back to `rollbackSeq` (0 = everything). */
  rollback(vbucketId: number, rollbackSeq: number): MaybePromise;
  /**
   * Collections streams: a collection or scope was created, flushed or dropped at `seq`. Only
   * events of what the stream delivers (its filter) arrive. A dropped collection's documents are
   * gone on the server: what the application kept of them is its to drop.
   */
  collectionEvent?(vbucketId: number, seq: number, event: CollectionEvent): MaybePromise;
  /**
   * Collections streams: the vbucket reached `seq` though what lay between was not for this
   * stream (SEQNO_ADVANCED; other collections' changes). Counts as finished like a data call.
   */
  seqnoAdvanced?(vbucketId: number, seq: number): MaybePromise;
  /** Preferred over rollback when present: also gives the vbucket UUID the stream resumes on. */
  rollbackEx?(vbucketId: number, vbucketUuid: bigint, rollbackSeq: number): MaybePromise;
}
