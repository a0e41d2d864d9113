import { ErrMessageType } from './errors.js';

/**
 * A message type: an id unique on the connection (1..2^32-1) and its own encode/decode. Register
 * it on both ends with `transport.subscribe(type, handler?)`.
 */
export interface MessageType<T> {
  readonly id: number;
  readonly name?: string;
  encode(message: T): Uint8Array;
  /** `payload` is a view into the receive buffer: copy what you keep past the handler. */
  decode(payload: Buffer): T;
}

/** What a handler sees for a message whose id has no registered type (defaultHandler). */
export interface BinMessage {
  id: number;
  data: Buffer;
}

export function checkMessageType(type: MessageType<unknown>): void {
  if (!Number.isInteger(type.id) || type.id < 1 || type.id > 0xffffffff)
    throw ErrMessageType(`id ${type.id} of ${type.name ?? 'message type'} must be an integer in 1..2^32-1`);
  if (typeof type.encode !== 'function' || typeof type.decode !== 'function')
    throw ErrMessageType(`${type.name ?? type.id} needs encode and decode`);
}

/** A message type whose messages are raw bytes (no copy on encode; decode is a view). */
export function bytesMessage(id: number, name?: string): MessageType<Buffer> {
  return { id, name, encode: (m) => m, decode: (p) => p };
}

/** A message type carrying JSON (handy for control messages; not for hot paths). */
export function jsonMessage<T>(id: number, name?: string): MessageType<T> {
  return {
    id,
    name,
    encode: (m) => Buffer.from(JSON.stringify(m)),
    decode: (p) => JSON.parse(p.toString('utf8')) as T,
  };
}
