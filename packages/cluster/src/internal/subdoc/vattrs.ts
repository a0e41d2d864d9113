// Virtual extended attributes and macros (kv_engine docs/ExtendedAttributes.md "Virtual
// XATTRS"; daemon/subdocument_context.cc get_document_vattr / get_xtoc_vattr /
// get_vbucket_vattr / expand_virtual_document_macro, xattr/utils.h macros).

import crc32c from 'crc-32/crc32c.js';
import { DT_JSON, DT_SNAPPY, DT_XATTR } from '../mcbp.js';

/** What the virtual attributes describe: the document as it was fetched. */
export interface DocumentInfo {
  cas: bigint;
  vbucketUuid: bigint;
  seqno: number;
  revSeqno: number;
  /** Absolute Unix seconds, 0 = never. */
  exptime: number;
  flags: number;
  /** Body length, without the XATTR section. */
  valueBytes: number;
  datatype: number;
  deleted: boolean;
  /** crc32c of the body. */
  valueCrc32c: number;
}

/** cb::to_hex: "0x" and 16 (or 8) lower-case hex digits. */
export function hex64(v: bigint | number): string {
  return `0x${BigInt(v).toString(16).padStart(16, '0')}`;
}
function hex32(v: number): string {
  return `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
}

export function crc32cOf(body: Uint8Array): number {
  return crc32c.buf(body, 0) >>> 0;
}

/** cb::mcbp::datatype::to_string split on ',' ("raw" for none). */
function datatypeNames(dt: number): string[] {
  const out: string[] = [];
  if (dt & DT_JSON) out.push('json');
  if (dt & DT_SNAPPY) out.push('snappy');
  if (dt & DT_XATTR) out.push('xattr');
  return out.length ? out : ['raw'];
}

/** The members of "$document" in nlohmann's (sorted) key order. */
export function documentVattr(d: DocumentInfo): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    CAS: hex64(d.cas),
    datatype: datatypeNames(d.datatype),
    deleted: d.deleted,
    exptime: d.exptime,
    flags: d.flags >>> 0,
    // The CAS is a hybrid logical clock (nanoseconds), so last_modified is its seconds.
    last_modified: String(d.cas / 1_000_000_000n),
    revid: String(d.revSeqno),
    seqno: hex64(d.seqno),
    value_bytes: d.valueBytes,
    value_crc32c: hex32(d.valueCrc32c),
    vbucket_uuid: hex64(d.vbucketUuid),
  };
  return doc;
}

/** The JSON document a lookup of a virtual attribute runs on, or undefined for an unknown one. */
export function virtualDocument(key: string, d: DocumentInfo, userXattrKeys: string[]): Buffer | undefined {
  if (key === '$document') return Buffer.from(JSON.stringify({ $document: documentVattr(d) }));
  // Every user here holds SystemXattrRead, so $XTOC lists system attributes too.
  if (key === '$XTOC') return Buffer.from(JSON.stringify({ $XTOC: userXattrKeys }));
  if (key === '$vbucket') {
    const now = Math.floor(Date.now() / 1000);
    return Buffer.from(JSON.stringify({ $vbucket: { HLC: { mode: 'real', now: String(now) } } }));
  }
  return undefined;
}

/** Macros a mutation may ask to expand (xattr/utils.h cb::xattr::macros), quotes included. */
export const Macro = {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the macros are literally "${...}"
  Cas: '"${Mutation.CAS}"',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: as above
  Seqno: '"${Mutation.seqno}"',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: as above
  ValueCrc32c: '"${Mutation.value_crc32c}"',
} as const;

/** subdoc validate_macro: one of the mutation macros or a "${$document...}" virtual one. */
export function isKnownMacro(value: string): boolean {
  if (value === Macro.Cas || value === Macro.Seqno || value === Macro.ValueCrc32c) return true;
  return value.startsWith('"${$document') && value.endsWith('}"');
}

/** expand_virtual_document_macro: the JSON a "${$document...}" macro stands for (undefined: unknown). */
export function expandDocumentMacro(value: string, d: DocumentInfo): string | undefined {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the macro is literally "${$document}"
  if (value === '"${$document}"') return JSON.stringify(documentVattr(d));
  const member = value.slice(12);
  switch (member) {
    case '.CAS}"':
      return JSON.stringify(hex64(d.cas));
    case '.vbucket_uuid}"':
      return JSON.stringify(hex64(d.vbucketUuid));
    case '.seqno}"':
      return JSON.stringify(hex64(d.seqno));
    case '.revid}"':
      return JSON.stringify(String(d.revSeqno));
    case '.exptime}"':
      return String(d.exptime);
    case '.flags}"':
      return String(d.flags >>> 0);
    case '.value_bytes}"':
      return String(d.valueBytes);
    case '.datatype}"':
      return JSON.stringify(datatypeNames(d.datatype));
    case '.deleted}"':
      return d.deleted ? 'true' : 'false';
    case '.last_modified}"':
      return JSON.stringify(String(d.cas / 1_000_000_000n));
    default:
      return undefined;
  }
}

/**
 * The text a mutation macro expands to once the new CAS and seqno are known. The CAS is
 * written in the byte order kv_engine uses (macroToString(CAS, htonll(cas))): its hex digits
 * are those of the little-endian CAS, which SDKs decode accordingly.
 */
export function expandMutationMacro(macro: string, cas: bigint, seqno: number, bodyCrc: number): string {
  if (macro === Macro.Cas) {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64LE(cas);
    return `"${hex64(b.readBigUInt64BE(0))}"`;
  }
  if (macro === Macro.Seqno) return `"${hex64(seqno)}"`;
  return `"${hex32(bodyCrc)}"`;
}
