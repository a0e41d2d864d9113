/** Opcodes the producer counts against the connection buffer (kv_engine §5): every stream message. */
export const FLOW_CONTROLLED_OPCODES: ReadonlySet<number> = new Set([
  0x55, // STREAM_END
  0x56, // SNAPSHOT_MARKER
  0x57, // MUTATION
  0x58, // DELETION
  0x59, // EXPIRATION
  0x5b, // SET_VBUCKET_STATE
  0x5f, // SYSTEM_EVENT
  0x60, // PREPARE
  0x62, // COMMIT
  0x63, // ABORT
  0x64, // SEQNO_ADVANCED
  0x65, // OSO_SNAPSHOT
]);

const COUNTED = new Uint8Array(256);
for (const op of FLOW_CONTROLLED_OPCODES) COUNTED[op] = 1;

/** True when a server→client request with this opcode counts for flow control. */
export function isFlowControlled(opcode: number): boolean {
  return COUNTED[opcode] === 1;
}

/** The size the server charges for a message: the whole packet, 24-byte header + body (flex, extras, key, value). */
export function flowControlBytes(bodyLength: number): number {
  return 24 + bodyLength;
}

/**
 * Connection-level DCP flow-control accounting, counted exactly as the server does. `received`
 * adds a counted message; `finished` marks bytes the receiver is done with; an acknowledgement is
 * due once finished-but-unacked bytes reach `threshold × bufferSize` (cbdatasource: 20 %).
 */
export class FlowControl {
  readonly bufferSize: number;
  readonly ackThreshold: number;
  /** Bytes received and counted, not yet acknowledged (what the server thinks is outstanding). */
  outstanding = 0;
  /** Of those, bytes the receiver finished, waiting for the next acknowledgement. */
  finishedUnacked = 0;
  totalAcked = 0;

  constructor(bufferSize: number, threshold: number) {
    this.bufferSize = bufferSize;
    this.ackThreshold =
      bufferSize > 0 ? Math.max(1, Math.floor(bufferSize * threshold)) : Number.POSITIVE_INFINITY;
  }

  get enabled(): boolean {
    return this.bufferSize > 0;
  }

  received(bytes: number): void {
    this.outstanding += bytes;
  }

  /** Marks bytes finished; returns the number of bytes to acknowledge now (0 when below the threshold). */
  finished(bytes: number): number {
    this.finishedUnacked += bytes;
    if (this.finishedUnacked < this.ackThreshold) return 0;
    return this.takeAck();
  }

  /** Returns and clears everything finished so far (for a final or forced acknowledgement). */
  takeAck(): number {
    const n = this.finishedUnacked;
    this.finishedUnacked = 0;
    this.outstanding = Math.max(0, this.outstanding - n);
    this.totalAcked += n;
    return n;
  }
}
