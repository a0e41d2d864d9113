// Sub-document request builders for the raw-protocol tests (layouts of kv_engine
// docs/SubDocument.md "Wire Protocol Format").

export interface SpecInput {
  op: number;
  path: string;
  value?: string | Buffer;
  flags?: number;
}

/** Extras of a single-path command: pathlen u16, path flags u8 [, expiry u32] [, doc flags u8]. */
export function singleExtras(
  path: string,
  flags = 0,
  o: { expiry?: number; docFlags?: number } = {},
): Buffer {
  const parts = [Buffer.from([0, 0, flags])];
  parts[0].writeUInt16BE(Buffer.byteLength(path), 0);
  if (o.expiry !== undefined) {
    const e = Buffer.alloc(4);
    e.writeUInt32BE(o.expiry);
    parts.push(e);
  }
  if (o.docFlags !== undefined) parts.push(Buffer.from([o.docFlags]));
  return Buffer.concat(parts);
}

/** Extras of a multi-path command: [expiry u32] [doc flags u8]. */
export function multiExtras(o: { expiry?: number; docFlags?: number } = {}): Buffer {
  const parts: Buffer[] = [];
  if (o.expiry !== undefined) {
    const e = Buffer.alloc(4);
    e.writeUInt32BE(o.expiry);
    parts.push(e);
  }
  if (o.docFlags !== undefined) parts.push(Buffer.from([o.docFlags]));
  return Buffer.concat(parts);
}

/** The value of a multi lookup (opcode, flags, pathlen u16, path) or mutation (+ valuelen u32, value). */
export function multiValue(mutation: boolean, specs: SpecInput[]): Buffer {
  return Buffer.concat(
    specs.map((s) => {
      const path = Buffer.from(s.path);
      const value = s.value === undefined ? Buffer.alloc(0) : Buffer.from(s.value);
      const h = Buffer.alloc(mutation ? 8 : 4);
      h[0] = s.op;
      h[1] = s.flags ?? 0;
      h.writeUInt16BE(path.length, 2);
      if (mutation) h.writeUInt32BE(value.length, 4);
      return Buffer.concat([h, path, mutation ? value : Buffer.alloc(0)]);
    }),
  );
}

/** Multi-lookup results: status u16, length u32, value, per spec. */
export function lookupResults(v: Buffer): { status: number; value: string }[] {
  const out: { status: number; value: string }[] = [];
  for (let i = 0; i < v.length; ) {
    const status = v.readUInt16BE(i);
    const len = v.readUInt32BE(i + 2);
    out.push({ status, value: v.toString('utf8', i + 6, i + 6 + len) });
    i += 6 + len;
  }
  return out;
}

/** Multi-mutation results on success: index u8, status u16, length u32, value. */
export function mutationResults(v: Buffer): { index: number; status: number; value: string }[] {
  const out: { index: number; status: number; value: string }[] = [];
  for (let i = 0; i < v.length; ) {
    const len = v.readUInt32BE(i + 3);
    out.push({ index: v[i], status: v.readUInt16BE(i + 1), value: v.toString('utf8', i + 7, i + 7 + len) });
    i += 7 + len;
  }
  return out;
}
