// The payload of an error frame: UTF-8 JSON {code, message}. A code that is not one of ours
// (TRIB_…) is replaced, so a peer cannot make this side report arbitrary codes.
export function toBytes(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

const CODE = /^TRIB_[A-Z0-9_]+$/;

export function errorPayload(err: unknown): Buffer {
  const e = err as { code?: string; message?: string };
  const code = typeof e?.code === 'string' && CODE.test(e.code) ? e.code : 'TRIB_TRANSPORT_REMOTE_ERROR';
  return toBytes(JSON.stringify({ code, message: String(e?.message ?? err) }));
}

export function parseErrorPayload(p: Buffer): { code: string; message: string } {
  try {
    const v = JSON.parse(p.toString('utf8')) as { code?: unknown; message?: unknown };
    const code = typeof v.code === 'string' && CODE.test(v.code) ? v.code : 'TRIB_TRANSPORT_REMOTE_ERROR';
    return { code, message: String(v.message ?? '') };
  } catch {
    return { code: 'TRIB_TRANSPORT_REMOTE_ERROR', message: p.toString('utf8', 0, 200) };
  }
}
