// The handshake hello: what each side announces, and the checks a peer's hello must pass before
// any of it is used. The hello is JSON from the network, so every field is checked for its JSON
// type and range here (a string "5" is not the number 5, 1e15 ms is no heartbeat) and a bad one
// fails the handshake with a typed error instead of being coerced.
import { TRANSPORT_MAX_FRAME_LIMIT } from '@tributary/codec';
import { ErrAuthFailed } from '@tributary/core';
import {
  ErrTransportProtocol,
  ErrTransportSettingsMismatch,
  ErrTransportVersionMismatch,
} from '../errors.js';

/** Longest heartbeat interval either side may use (1 hour); a longer one would disable liveness. */
export const MAX_HEARTBEAT_MS = 3_600_000;
/** Most heartbeat intervals of silence a side may wait before declaring its peer dead. */
export const MAX_DEAD_AFTER_HEARTBEATS = 1000;
/** Smallest frame limit a side may announce. */
export const MIN_FRAME = 4096;
/** Longest version string and peer name accepted in a hello. */
const MAX_TEXT = 256;

export interface PeerSettings {
  opaqueStart: number;
  opaqueEnd: number;
  maxFrameBytes: number;
  heartbeatMs: number;
  deadAfterHeartbeats: number;
  compression: 'none';
  maxStreams?: number;
}

export interface PeerHello {
  name: string;
  /** As configured: a JSON number and a JSON string are different versions. */
  version: number | string;
  settings: PeerSettings;
  auth?: { server?: { mechanisms: string[] }; client?: boolean };
}

/** A configured protocol version: a safe non-negative integer, or 1..256 characters. */
export function isValidVersion(v: unknown): v is number | string {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0;
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_TEXT;
}

/** A heartbeat interval: an integer number of ms, 0 (none) up to MAX_HEARTBEAT_MS. */
export function isValidHeartbeat(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_HEARTBEAT_MS;
}

/** Heartbeat intervals of silence before a peer is dead: an integer 1..MAX_DEAD_AFTER_HEARTBEATS. */
export function isValidDeadAfter(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_DEAD_AFTER_HEARTBEATS;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 64 ? `${s.slice(0, 64)}…` : s;
}

/**
 * Parses and checks a peer's hello payload against this side's version and compression.
 * Throws TRIB_TRANSPORT_PROTOCOL (not a hello), TRIB_TRANSPORT_VERSION_MISMATCH,
 * TRIB_TRANSPORT_SETTINGS_MISMATCH (a setting of the wrong type or out of range) or
 * TRIB_AUTH_FAILED (a malformed auth offer).
 */
export function parsePeerHello(
  payload: Buffer,
  local: { version: number | string; compression: string },
): PeerHello {
  let hello: unknown;
  try {
    hello = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw ErrTransportProtocol('hello is not JSON', { cause: err });
  }
  if (typeof hello !== 'object' || hello === null || Array.isArray(hello))
    throw ErrTransportProtocol('hello is not a JSON object');
  const h = hello as Record<string, unknown>;
  const ps = h.settings as Record<string, unknown> | null | undefined;
  if (typeof ps !== 'object' || ps === null || Array.isArray(ps))
    throw ErrTransportProtocol('hello without settings');
  if (h.name !== undefined && (typeof h.name !== 'string' || h.name.length > MAX_TEXT))
    throw ErrTransportProtocol(`hello name must be a string of at most ${MAX_TEXT} characters`);
  // Same JSON type and value: a peer announcing "1" does not speak version 1.
  if (!isValidVersion(h.version) || h.version !== local.version)
    throw ErrTransportVersionMismatch(show(local.version), show(h.version));
  if (ps.compression !== local.compression)
    throw ErrTransportSettingsMismatch(
      'compression',
      `local ${local.compression}, peer ${show(ps.compression)}`,
    );
  if (
    typeof ps.maxFrameBytes !== 'number' ||
    !Number.isInteger(ps.maxFrameBytes) ||
    ps.maxFrameBytes < MIN_FRAME ||
    ps.maxFrameBytes > TRANSPORT_MAX_FRAME_LIMIT
  )
    throw ErrTransportSettingsMismatch(
      'maxFrameBytes',
      `peer accepts ${show(ps.maxFrameBytes)}, ${MIN_FRAME}..${TRANSPORT_MAX_FRAME_LIMIT} needed`,
    );
  if (!isValidHeartbeat(ps.heartbeatMs))
    throw ErrTransportSettingsMismatch(
      'heartbeatMs',
      `peer sent ${show(ps.heartbeatMs)}, an integer 0..${MAX_HEARTBEAT_MS} needed`,
    );
  if (!isValidDeadAfter(ps.deadAfterHeartbeats))
    throw ErrTransportSettingsMismatch(
      'deadAfterHeartbeats',
      `peer sent ${show(ps.deadAfterHeartbeats)}, an integer 1..${MAX_DEAD_AFTER_HEARTBEATS} needed`,
    );
  // The peer's ids are checked against this range on every request and stream open.
  if (
    !Number.isInteger(ps.opaqueStart) ||
    !Number.isInteger(ps.opaqueEnd) ||
    (ps.opaqueStart as number) < 1 ||
    (ps.opaqueEnd as number) <= (ps.opaqueStart as number) ||
    (ps.opaqueEnd as number) > 0x100000000
  )
    throw ErrTransportSettingsMismatch(
      'opaqueStart',
      `peer announced the id range [${show(ps.opaqueStart)}, ${show(ps.opaqueEnd)})`,
    );
  if (
    ps.maxStreams !== undefined &&
    (!Number.isInteger(ps.maxStreams) ||
      (ps.maxStreams as number) < 1 ||
      (ps.maxStreams as number) > 0xffffffff)
  )
    throw ErrTransportSettingsMismatch('maxStreams', `peer announced ${show(ps.maxStreams)}`);
  const auth = h.auth as PeerHello['auth'] | null | undefined;
  if (auth !== undefined) {
    if (typeof auth !== 'object' || auth === null)
      throw ErrAuthFailed('the peer sent a malformed auth offer');
    const mechs = auth.server?.mechanisms;
    if (
      auth.server !== undefined &&
      (!Array.isArray(mechs) ||
        mechs.length > 64 ||
        !mechs.every((m) => typeof m === 'string' && m.length <= 64))
    )
      throw ErrAuthFailed('the peer sent a malformed mechanism list');
    if (auth.client !== undefined && typeof auth.client !== 'boolean')
      throw ErrAuthFailed('the peer sent a malformed auth offer');
  }
  return {
    name: typeof h.name === 'string' ? h.name : '',
    version: h.version,
    settings: ps as unknown as PeerSettings,
    auth,
  };
}
