import { ErrAuthFailed, type TributaryError } from '@tributary/core';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

export const encode = (s: string): Uint8Array => encoder.encode(s);

/** Hard cap on any SCRAM message; a real one is a few hundred bytes. */
export const MAX_MESSAGE_BYTES = 4096;

export function malformed(what: string): TributaryError {
  return ErrAuthFailed(`malformed ${what}`);
}

export function decode(bytes: Uint8Array, what: string): string {
  if (!(bytes instanceof Uint8Array)) throw malformed(what);
  if (bytes.length === 0 || bytes.length > MAX_MESSAGE_BYTES) throw malformed(what);
  let s: string;
  try {
    s = utf8.decode(bytes);
  } catch {
    throw malformed(what);
  }
  // No control characters anywhere in a SCRAM message.
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) < 0x20 || s.charCodeAt(i) === 0x7f) throw malformed(what);
  }
  return s;
}

/**
 * A nonce is any printable ASCII but the comma (RFC 5802 says %x21-7E; the Couchbase Node SDK
 * also sends spaces, so %x20 is accepted too).
 */
export function isValidNonce(s: string): boolean {
  if (s.length === 0 || s.length > 1024) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x2c) return false;
  }
  return true;
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function decodeBase64(s: string, what: string): Buffer {
  if (s.length === 0 || !B64.test(s)) throw malformed(what);
  return Buffer.from(s, 'base64');
}

/** RFC 5802 saslname: ',' → '=2C', '=' → '=3D'. */
export function escapeSaslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

export function unescapeSaslName(s: string, what: string): string {
  if (/=(?!2C|3D)/.test(s)) throw malformed(what);
  return s.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** Splits "a=1,b=2" into ordered [key, value] pairs; each attribute is one letter. */
export function parseAttributes(s: string, what: string): [string, string][] {
  const out: [string, string][] = [];
  for (const part of s.split(',')) {
    if (part.length < 2 || part[1] !== '=' || !/^[A-Za-z]$/.test(part[0]!)) throw malformed(what);
    out.push([part[0]!, part.slice(2)]);
  }
  return out;
}

export function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}
