// How a document maps to channels: the hook's type and the default (Sync Gateway's default sync
// function, reduced to its `channels` field).

/** What channelsOf sees besides the key and the parsed body. */
export interface DocMeta {
  vbucket: number;
  seqno: number;
  cas: bigint;
  flags: number;
  expiry: number;
  revSeqno?: number | undefined;
  datatype?: number | undefined;
  xattrs?: Record<string, string> | undefined;
  /** The raw value bytes (the body channelsOf gets is this parsed as JSON, or undefined). */
  value: Buffer;
}

/** Maps a document to the channels it belongs to (Sync Gateway's sync function, reduced). */
export type ChannelsOf = (
  key: string,
  doc: unknown,
  meta: DocMeta,
) => string | readonly string[] | undefined | null;

/** The default mapping: the document's `channels` field, a string or an array of strings. */
export const defaultChannelsOf: ChannelsOf = (_key, doc) => {
  if (doc === null || typeof doc !== 'object') return undefined;
  const c = (doc as { channels?: unknown }).channels;
  if (typeof c === 'string') return [c];
  // (the document's own array when it holds only strings, as it nearly always does: no copy)
  if (Array.isArray(c))
    return c.every((x) => typeof x === 'string') ? c : c.filter((x) => typeof x === 'string');
  return undefined;
};
