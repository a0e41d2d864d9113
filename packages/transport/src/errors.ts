import { defineError, type TributaryError } from '@tributary/core';

// Transport (lower layer).
export const ErrTransportVersionMismatch = defineError(
  'TRIB_TRANSPORT_VERSION_MISMATCH',
  (local: string, remote: string) => `transport version mismatch: local ${local}, peer ${remote}`,
);
export const ErrTransportSettingsMismatch = defineError(
  'TRIB_TRANSPORT_SETTINGS_MISMATCH',
  (setting: string, why: string) => `transport setting "${setting}" does not agree with the peer: ${why}`,
);
export const ErrTransportHandshakeFailed = defineError(
  'TRIB_TRANSPORT_HANDSHAKE_FAILED',
  (why: string) => `transport handshake failed: ${why}`,
);
export const ErrTransportNotReady = defineError(
  'TRIB_TRANSPORT_NOT_READY',
  (what: string) => `${what} before the handshake completed`,
);
export const ErrTransportClosed = defineError(
  'TRIB_TRANSPORT_CLOSED',
  (name: string) => `transport ${name} is closed`,
);
export const ErrTransportConnectionLost = defineError(
  'TRIB_TRANSPORT_CONNECTION_LOST',
  (name: string, why: string) => `transport ${name} lost its connection: ${why}`,
  { retriable: true },
);
export const ErrTransportProtocol = defineError(
  'TRIB_TRANSPORT_PROTOCOL',
  (why: string) => `peer violated the transport protocol: ${why}`,
);
export const ErrTransportStreamIdRange = defineError(
  'TRIB_TRANSPORT_STREAM_ID_RANGE',
  (what: string, id: number, start: number, end: number) =>
    `peer sent a ${what} with id ${id}, outside the range [${start}, ${end}) it announced`,
);
export const ErrTransportTooManyStreams = defineError(
  'TRIB_TRANSPORT_TOO_MANY_STREAMS',
  (max: number) => `peer opened more than the ${max} concurrent streams this side accepts`,
);

export const ErrTransportTooManyRequests = defineError(
  'TRIB_TRANSPORT_TOO_MANY_REQUESTS',
  (max: number) =>
    `peer has more than the ${max} unanswered requests its id pool allows (maxStreams this side announced)`,
);

const STREAM_LIMIT_CODES = new Set([
  ErrTransportStreamIdRange.code,
  ErrTransportTooManyStreams.code,
  ErrTransportTooManyRequests.code,
]);

/** The peer broke the id range or stream limit it was told: that connection is closed. */
export function isStreamLimitViolation(err: TributaryError): boolean {
  return STREAM_LIMIT_CODES.has(err.code);
}

/** An error that means the peer sent bytes it must not (malformed frame, protocol or limit violation). */
export function isPeerViolation(err: TributaryError): boolean {
  return /^TRIB_(BAD_|FRAME_TOO_LARGE|TRANSPORT_PROTOCOL)/.test(err.code) || STREAM_LIMIT_CODES.has(err.code);
}

export const ErrTransportNoHandler = defineError(
  'TRIB_TRANSPORT_NO_HANDLER',
  (messageId: number) => `no handler for message id ${messageId}`,
);
export const ErrTransportQueueFull = defineError(
  'TRIB_TRANSPORT_QUEUE_FULL',
  (waiters: number) => `transport outgoing queue is full and ${waiters} senders are already waiting`,
  { retriable: true },
);
export const ErrTransportRequestTimeout = defineError(
  'TRIB_TRANSPORT_REQUEST_TIMEOUT',
  (ms: number) => `request got no reply within ${ms} ms`,
  { retriable: true },
);
export const ErrTransportRemote = defineError(
  'TRIB_TRANSPORT_REMOTE_ERROR',
  (code: string, message: string) => `peer handler failed (${code}): ${message}`,
);
export const ErrStreamsExhausted = defineError(
  'TRIB_STREAMS_EXHAUSTED',
  (start: number, end: number) => `all stream ids in the opaque range [${start}, ${end}) are in use`,
  { retriable: true },
);
export const ErrPeerDead = defineError(
  'TRIB_PEER_DEAD',
  (silentMs: number, heartbeats: number) =>
    `peer silent for ${silentMs} ms (more than ${heartbeats} heartbeats)`,
  { retriable: true },
);
export const ErrStreamClosed = defineError(
  'TRIB_STREAM_CLOSED',
  (id: number) => `stream ${id} is closed on this side`,
);
export const ErrMessageType = defineError(
  'TRIB_TRANSPORT_MESSAGE_TYPE',
  (why: string) => `bad message type: ${why}`,
);

// Mutation stream (upper layer).
export const ErrMutationGap = defineError(
  'TRIB_MSTREAM_GAP',
  (vbucket: number, expected: number, got: number) =>
    `vbucket ${vbucket}: sequence gap, server has up to ${expected} but the mutation follows ${got}`,
);
export const ErrVbucketNotBegun = defineError(
  'TRIB_MSTREAM_NOT_BEGUN',
  (vbucket: number) => `vbucket ${vbucket}: mutation or control message before beginVbucket`,
);
export const ErrMutationOrder = defineError(
  'TRIB_MSTREAM_ORDER',
  (vbucket: number, last: number, got: number) => `vbucket ${vbucket}: seqno ${got} does not follow ${last}`,
);
export const ErrMutationStreamConnectionLost = defineError(
  'TRIB_MSTREAM_CONNECTION_LOST',
  (peer: string, why: string) => `mutation stream connection from ${peer} lost: ${why}`,
  { retriable: true },
);
export const ErrMutationStreamHandshake = defineError(
  'TRIB_MSTREAM_HANDSHAKE_FAILED',
  (peer: string, why: string) => `mutation stream handshake with ${peer} failed: ${why}`,
);
export const ErrMutationStreamBadFrame = defineError(
  'TRIB_MSTREAM_BAD_FRAME',
  (peer: string, why: string) => `malformed frame from ${peer}, connection closed: ${why}`,
);
export const ErrMutationStreamClosed = defineError(
  'TRIB_MSTREAM_CLOSED',
  (what: string) => `mutation stream ${what} is closed`,
);
export const ErrTlsRejected = defineError(
  'TRIB_TLS_REJECTED',
  (peer: string, tlsCode: string, why: string) =>
    `TLS handshake with ${peer} refused (${tlsCode}): ${why}; a certificate problem, not an outage`,
);
