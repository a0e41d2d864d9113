// Tells a refused TLS handshake from an outage. connection-tls reports both as TRIB_CONNECT_FAILED
// (a certificate failure with retriable: false); core's classifier finds the OpenSSL verification
// code, Node's host name check or the peer's certificate alert on the cause chain.
import { findTlsRejection, type TributaryError } from '@tributary/core';
import { ErrTlsCertificate } from '../errors.js';

/** TRIB_DATASOURCE_TLS_CERTIFICATE for `err` (searched along its `cause` chain), or undefined. */
export function certificateError(err: unknown, server: string): TributaryError | undefined {
  const found = findTlsRejection(err);
  if (!found) return undefined;
  const { code, error } = found;
  const why = String(error.message ?? code);
  return ErrTlsCertificate(server, code, why, { cause: err, details: { server, tlsCode: code } });
}
