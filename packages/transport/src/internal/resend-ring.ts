// The mutation stream client's send buffer, which is also its resend buffer: messages are
// encoded as complete transport frames straight into one ring of bytes, written to the socket
// from there (views, no copy) and kept until the server acknowledges them; after a reconnect
// the unacknowledged span is written again as it is. Bounded in bytes (the ring) and in
// messages (the msn index); a full ring makes senders wait.
//
// Positions are absolute byte counts (numbers, exact up to 2^53); the physical offset is
// position % capacity. A frame never wraps: when one does not fit before the end of the ring,
// the rest of that lap is padding. At most one padding span lies between head and tail (a new
// one cannot be made before the previous lap's is freed), so one pair of fields describes it.

export class ResendRing {
  readonly buf: Buffer;
  readonly view: DataView;
  readonly capacity: number;
  /** Oldest unacknowledged byte. */
  head = 0;
  /** Bytes handed to the current connection end here. */
  sent = 0;
  /** End of the encoded frames. */
  tail = 0;
  /** Padding [padFrom, padTo) before a lap boundary; padFrom = -1 when none is in the ring. */
  padFrom = -1;
  padTo = -1;
  /** End position of message msn at ends[msn % ends.length]. */
  readonly #ends: Float64Array;
  /** Oldest unacknowledged msn; next to hand out. */
  firstMsn = 1;
  nextMsn = 1;

  constructor(capacity: number, maxMessages: number) {
    this.buf = Buffer.allocUnsafeSlow(capacity);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.capacity = capacity;
    this.#ends = new Float64Array(maxMessages);
  }

  /** Messages not acknowledged yet. */
  get messages(): number {
    return this.nextMsn - this.firstMsn;
  }
  /** Bytes held (frames not acknowledged, plus padding). */
  get bytes(): number {
    return this.tail - this.head;
  }
  /** Bytes encoded but not handed to the connection yet. */
  get unsent(): number {
    return this.tail - this.sent;
  }

  /**
   * Room for one frame of `size` bytes: its physical offset, or -1 when the ring (bytes or
   * messages) is full. The caller writes the frame there and calls commit(size).
   */
  reserve(size: number): number {
    if (this.nextMsn - this.firstMsn >= this.#ends.length) return -1;
    const cap = this.capacity;
    const phys = this.tail % cap;
    if (phys + size <= cap) return this.tail + size - this.head <= cap ? phys : -1;
    // Pad to the lap boundary, then start at 0.
    const boundary = this.tail + (cap - phys);
    if (boundary + size - this.head > cap) return -1;
    this.padFrom = this.tail;
    this.padTo = boundary;
    this.tail = boundary;
    return 0;
  }

  /** The frame just written at reserve()'s offset is `size` bytes; returns its msn. */
  commit(size: number): number {
    this.tail += size;
    const msn = this.nextMsn++;
    this.#ends[msn % this.#ends.length] = this.tail;
    return msn;
  }

  /** Frees everything through `msn` (cumulative). Returns how many messages that freed. */
  ack(msn: number): number {
    if (msn < this.firstMsn) return 0;
    const last = Math.min(msn, this.nextMsn - 1);
    const freed = last - this.firstMsn + 1;
    this.head = this.#ends[last % this.#ends.length] as number;
    this.firstMsn = last + 1;
    if (this.padFrom >= 0 && this.head >= this.padFrom) {
      // Nothing lies in the padding: an end at padFrom is an end at the boundary.
      if (this.head === this.padFrom || this.head >= this.padTo) {
        if (this.head < this.padTo) this.head = this.padTo;
        this.padFrom = this.padTo = -1;
      }
    }
    if (this.sent < this.head) this.sent = this.head;
    return freed;
  }

  /**
   * The next contiguous span of encoded, unsent bytes as a view (advancing `sent`), or
   * undefined when everything is sent. Call until undefined.
   */
  nextUnsent(): Buffer | undefined {
    if (this.sent >= this.tail) return undefined;
    if (this.padFrom >= 0 && this.sent >= this.padFrom && this.sent < this.padTo) this.sent = this.padTo;
    const cap = this.capacity;
    const from = this.sent;
    let to = this.tail;
    if (this.padFrom >= from && this.padFrom < to) to = this.padFrom;
    if (to <= from) return undefined;
    const phys = from % cap;
    // A frame that ended exactly at the end of the ring: the next one starts the lap at 0.
    if (phys + (to - from) > cap) to = from + (cap - phys);
    this.sent = to;
    return this.buf.subarray(phys, phys + (to - from));
  }

  /** A new connection: everything unacknowledged goes again. */
  rewind(): void {
    this.sent = this.head;
  }

  /** Forgets everything (the lane failed for good or closed). */
  clear(): void {
    this.head = this.sent = this.tail;
    this.padFrom = this.padTo = -1;
    this.firstMsn = this.nextMsn;
  }
}
