// The `req` handed to dataUpdate/dataDelete: fields are read from the packet on first access, so a
// receiver that ignores them costs one small object per message.
import { decompressValue, parseXattrs, type WirePacket } from '@tributary/codec';
import type { DcpRequest } from '../receiver.js';

const SNAPPY = 0x02;
const XATTR = 0x04;
const EMPTY_XATTRS: Readonly<Record<string, string>> = Object.freeze({});

export class LazyDcpRequest implements DcpRequest {
  readonly kind: 'mutation' | 'deletion' | 'expiration';
  readonly vbucketUuid: bigint;
  readonly collectionId: number | undefined;
  readonly scope: string | undefined;
  readonly collection: string | undefined;
  readonly #p: WirePacket;
  readonly #withXattrs: boolean;
  #value: Buffer | undefined;
  #xattrs: Readonly<Record<string, string>> | undefined;

  constructor(
    kind: 'mutation' | 'deletion' | 'expiration',
    p: WirePacket,
    vbucketUuid: bigint,
    withXattrs: boolean,
    collectionId: number | undefined,
    scope?: string,
    collection?: string,
  ) {
    this.kind = kind;
    this.scope = scope;
    this.collection = collection;
    this.#p = p;
    this.vbucketUuid = vbucketUuid;
    this.#withXattrs = withXattrs;
    this.collectionId = collectionId;
  }

  get cas(): bigint {
    return this.#p.cas;
  }
  get datatype(): number {
    return this.#p.datatype;
  }
  get revSeqno(): number {
    return this.#p.readExtrasU64(8);
  }
  get flags(): number {
    return this.kind === 'mutation' ? this.#p.extras.readUInt32BE(16) : 0;
  }
  get expiry(): number {
    return this.kind === 'mutation' ? this.#p.extras.readUInt32BE(20) : 0;
  }
  get lockTime(): number {
    return this.kind === 'mutation' ? this.#p.extras.readUInt32BE(24) : 0;
  }
  get deleteTime(): number | undefined {
    const ex = this.#p.extras;
    // deletion v2 (21 bytes) and expiration (20 bytes) carry a u32 delete time at +16
    if (this.kind !== 'mutation' && ex.length >= 20) return ex.readUInt32BE(16);
    return undefined;
  }
  get value(): Buffer {
    if (this.#value === undefined) this.#decodeValue();
    return this.#value as Buffer;
  }
  get xattrs(): Readonly<Record<string, string>> | undefined {
    if (this.#value === undefined) this.#decodeValue();
    return this.#xattrs;
  }

  #decodeValue(): void {
    const p = this.#p;
    let v: Buffer = (p.datatype & SNAPPY) !== 0 ? (decompressValue(p) as Buffer) : p.value;
    if ((p.datatype & XATTR) !== 0 && v.length >= 4) {
      const parsed = parseXattrs(v);
      v = parsed.body as Buffer;
      this.#xattrs = this.#withXattrs ? Object.freeze(parsed.xattrs) : undefined;
    } else if (this.#withXattrs) this.#xattrs = EMPTY_XATTRS;
    this.#value = v;
  }

  toJSON(): Record<string, unknown> {
    return {
      kind: this.kind,
      cas: this.cas.toString(),
      flags: this.flags,
      expiry: this.expiry,
      revSeqno: this.revSeqno,
      datatype: this.datatype,
      deleteTime: this.deleteTime,
      vbucketUuid: this.vbucketUuid.toString(),
      collectionId: this.collectionId,
      scope: this.scope,
      collection: this.collection,
      value: this.value.toString('base64'),
      xattrs: this.xattrs,
    };
  }
}
