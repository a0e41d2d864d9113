// Tells a refused TLS handshake (a certificate that does not verify, or the peer's alert that it
// refused ours) from an outage, with core's classifier; this file only words the error.
import { findTlsRejection, type TributaryError } from '@tributary/core';
import { ErrTlsRejected } from '../errors.js';

/** The TRIB_TLS_REJECTED error for `err` (searched along its `cause` chain), or undefined. */
export function tlsRejection(err: unknown, peer: string): TributaryError | undefined {
  const found = findTlsRejection(err);
  if (!found) return undefined;
  const { code, error } = found;
  const reason = String(error.message ?? code).replace(/^[0-9A-F]+:error:[0-9A-F]+:/, '');
  return ErrTlsRejected(peer, code, reason, { cause: err, details: { tlsCode: code } });
}
