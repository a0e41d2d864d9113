// Session commands: HELLO, SASL_LIST_MECHS / SASL_AUTH / SASL_STEP, SELECT_BUCKET,
// GET_CLUSTER_CONFIG, GET_ERROR_MAP.
import { Magic, Opcode } from './constants.js';
import { ErrBadValue, ErrEncode } from './errors.js';
import {
  bufOf,
  bytes,
  checkPacket,
  expectExtras,
  expectRequest,
  expectResponse,
  request,
  text,
  u16,
} from './internal/wire.js';
import { encodePacket, type Packet } from './packet.js';

export interface Hello {
  opaque: number;
  /** Agent name (often JSON `{"a":"agent","i":"conn-id"}`). */
  agent: string;
  /** HelloFeature codes. */
  features: number[];
}

function encodeFeatures(features: readonly number[]): Buffer {
  const v = Buffer.allocUnsafe(features.length * 2);
  for (let i = 0; i < features.length; i++) v.writeUInt16BE(u16('feature', features[i]), i * 2);
  return v;
}

function decodeFeatures(v: Buffer): number[] {
  if (v.length % 2 !== 0) throw ErrBadValue(`HELLO feature list of ${v.length} bytes is not a multiple of 2`);
  const out: number[] = [];
  for (let o = 0; o < v.length; o += 2) out.push(v.readUInt16BE(o));
  return out;
}

export function encodeHello(f: Hello): Buffer {
  return request(
    {
      opcode: Opcode.Hello,
      opaque: f.opaque,
      key: bytes('agent', f.agent),
      value: encodeFeatures(f.features),
    },
    undefined,
  );
}

export function decodeHello(p: Packet): Hello {
  expectRequest(p, Opcode.Hello, 'HELLO');
  expectExtras(p, 0);
  return { opaque: p.opaque, agent: text(bufOf(p.key)), features: decodeFeatures(bufOf(p.value)) };
}

export interface HelloResponse {
  opaque: number;
  status: number;
  /** Features the server accepted. */
  features: number[];
}

export function encodeHelloResponse(f: HelloResponse): Buffer {
  return encodePacket({
    magic: Magic.Response,
    opcode: Opcode.Hello,
    status: u16('status', f.status),
    opaque: f.opaque,
    value: encodeFeatures(f.features),
  });
}

export function decodeHelloResponse(p: Packet): HelloResponse {
  expectResponse(p, Opcode.Hello, 'HELLO');
  return { opaque: p.opaque, status: p.status, features: decodeFeatures(bufOf(p.value)) };
}

export interface SaslListMechs {
  opaque: number;
}

export function encodeSaslListMechs(f: SaslListMechs): Buffer {
  return request({ opcode: Opcode.SaslListMechs, opaque: f.opaque }, undefined);
}

export function decodeSaslListMechs(p: Packet): SaslListMechs {
  expectRequest(p, Opcode.SaslListMechs, 'SASL_LIST_MECHS');
  expectExtras(p, 0);
  return { opaque: p.opaque };
}

export interface SaslListMechsResponse {
  opaque: number;
  status: number;
  mechanisms: string[];
}

export function encodeSaslListMechsResponse(f: SaslListMechsResponse): Buffer {
  for (const m of f.mechanisms)
    if (/\s/.test(m) || m === '') throw ErrEncode(`bad SASL mechanism name "${m}"`);
  return encodePacket({
    magic: Magic.Response,
    opcode: Opcode.SaslListMechs,
    status: u16('status', f.status),
    opaque: f.opaque,
    value: f.mechanisms.join(' '),
  });
}

export function decodeSaslListMechsResponse(p: Packet): SaslListMechsResponse {
  expectResponse(p, Opcode.SaslListMechs, 'SASL_LIST_MECHS');
  const mechanisms = text(bufOf(p.value))
    .split(/\s+/)
    .filter((m) => m !== '');
  return { opaque: p.opaque, status: p.status, mechanisms };
}

export interface SaslAuth {
  opaque: number;
  mechanism: string;
  /** SASL payload (PLAIN `\0user\0password`, SCRAM client-first, ...). */
  data: Buffer;
}
/** SASL_STEP has the same fields as SASL_AUTH. */
export type SaslStep = SaslAuth;

function encodeSasl(opcode: number, f: SaslAuth): Buffer {
  return request(
    { opcode, opaque: f.opaque, key: bytes('mechanism', f.mechanism), value: bytes('data', f.data) },
    undefined,
  );
}

export function encodeSaslAuth(f: SaslAuth): Buffer {
  return encodeSasl(Opcode.SaslAuth, f);
}
export function decodeSaslAuth(p: Packet): SaslAuth {
  expectRequest(p, Opcode.SaslAuth, 'SASL_AUTH');
  expectExtras(p, 0);
  return { opaque: p.opaque, mechanism: text(bufOf(p.key)), data: bufOf(p.value) };
}
export function encodeSaslStep(f: SaslStep): Buffer {
  return encodeSasl(Opcode.SaslStep, f);
}
export function decodeSaslStep(p: Packet): SaslStep {
  expectRequest(p, Opcode.SaslStep, 'SASL_STEP');
  expectExtras(p, 0);
  return { opaque: p.opaque, mechanism: text(bufOf(p.key)), data: bufOf(p.value) };
}

/** Reply to SASL_AUTH / SASL_STEP: AuthContinue (0x21) carries the challenge, Success the final data. */
export interface SaslResponse {
  opcode: number;
  opaque: number;
  status: number;
  data: Buffer;
}

export function encodeSaslResponse(f: SaslResponse): Buffer {
  if (f.opcode !== Opcode.SaslAuth && f.opcode !== Opcode.SaslStep)
    throw ErrEncode('opcode must be SaslAuth or SaslStep');
  return encodePacket({
    magic: Magic.Response,
    opcode: f.opcode,
    status: u16('status', f.status),
    opaque: f.opaque,
    value: bytes('data', f.data),
  });
}

export function decodeSaslResponse(p: Packet): SaslResponse {
  checkPacket(p);
  if (p.opcode !== Opcode.SaslStep) expectResponse(p, Opcode.SaslAuth, 'SASL_AUTH/SASL_STEP');
  else expectResponse(p, Opcode.SaslStep, 'SASL_STEP');
  return { opcode: p.opcode, opaque: p.opaque, status: p.status, data: bufOf(p.value) };
}

export interface SelectBucket {
  opaque: number;
  bucket: string;
}

export function encodeSelectBucket(f: SelectBucket): Buffer {
  return request(
    { opcode: Opcode.SelectBucket, opaque: f.opaque, key: bytes('bucket', f.bucket) },
    undefined,
  );
}

export function decodeSelectBucket(p: Packet): SelectBucket {
  expectRequest(p, Opcode.SelectBucket, 'SELECT_BUCKET');
  expectExtras(p, 0);
  return { opaque: p.opaque, bucket: text(bufOf(p.key)) };
}

export interface GetClusterConfig {
  opaque: number;
  /** Known config epoch (with `revision`: the server may answer without a body if not newer). */
  epoch?: number;
  revision?: number;
}

export function encodeGetClusterConfig(f: GetClusterConfig): Buffer {
  let extras: Buffer | undefined;
  if (f.epoch !== undefined || f.revision !== undefined) {
    extras = Buffer.allocUnsafe(16);
    extras.writeBigInt64BE(i64('epoch', f.epoch ?? 0), 0);
    extras.writeBigInt64BE(i64('revision', f.revision ?? 0), 8);
  }
  return request({ opcode: Opcode.GetClusterConfig, opaque: f.opaque, extras }, undefined);
}

export function decodeGetClusterConfig(p: Packet): GetClusterConfig {
  expectRequest(p, Opcode.GetClusterConfig, 'GET_CLUSTER_CONFIG');
  const e = expectExtras(p, 0, 16);
  const out: GetClusterConfig = { opaque: p.opaque };
  if (e.length === 16) {
    out.epoch = safe('epoch', e.readBigInt64BE(0));
    out.revision = safe('revision', e.readBigInt64BE(8));
  }
  return out;
}

function i64(name: string, v: number): bigint {
  if (!Number.isSafeInteger(v)) throw ErrEncode(`${name} ${String(v)} is not a safe integer`);
  return BigInt(v);
}
function safe(name: string, v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw ErrBadValue(`${name} ${v} is outside the safe integer range`);
  }
  return Number(v);
}

export interface GetErrorMap {
  opaque: number;
  /** Highest error-map version the client understands (clients send 2). */
  version: number;
}

export function encodeGetErrorMap(f: GetErrorMap): Buffer {
  const value = Buffer.allocUnsafe(2);
  value.writeUInt16BE(u16('version', f.version), 0);
  return request({ opcode: Opcode.GetErrorMap, opaque: f.opaque, value }, undefined);
}

export function decodeGetErrorMap(p: Packet): GetErrorMap {
  expectRequest(p, Opcode.GetErrorMap, 'GET_ERROR_MAP');
  expectExtras(p, 0);
  const v = bufOf(p.value);
  if (v.length !== 2) throw ErrBadValue(`GET_ERROR_MAP value of ${v.length} bytes, expected 2`);
  return { opaque: p.opaque, version: v.readUInt16BE(0) };
}
