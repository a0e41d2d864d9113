// Streaming decoder: bytes in arbitrary chunks → whole packets.
import { DEFAULT_MAX_FRAME_BYTES, HEADER_BYTES } from './constants.js';
import { ErrBadFrame, ErrTruncatedFrame } from './errors.js';
import { asBuffer, checkHeaderAt } from './header.js';
import { WirePacket } from './packet.js';

const MAX_PIECES = 16;

export interface FrameDecoderOptions {
  /** Largest whole frame (24-byte header + body) accepted; default 20 MiB + 24. */
  maxFrameBytes?: number;
}

/**
 * Reassembles memcached-binary packets from a byte stream split at any boundary. `push` returns
 * every packet completed by the chunk (possibly none). Packets are views into the pushed chunks
 * (a packet that straddled chunks is copied once into its own buffer), so never mutate a chunk
 * after pushing it. At most one partial frame is held between pushes, so the decoder buffers no
 * more than one frame plus one chunk. After a decode error the decoder stays failed and every
 * later `push` throws the same TributaryError: close the connection.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  #pieces: Buffer[] = [];
  #pending = 0;
  /** Length of the pending frame once its header is complete; 0 before. */
  #need = 0;
  /** The pending frame's own buffer once it arrived in too many pieces. */
  #fill: Buffer | undefined = undefined;
  #failed: unknown = undefined;

  constructor(options: FrameDecoderOptions = {}) {
    const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isSafeInteger(max) || max < HEADER_BYTES) {
      throw ErrBadFrame(`maxFrameBytes must be an integer ≥ ${HEADER_BYTES}, got ${String(max)}`);
    }
    this.maxFrameBytes = max;
  }

  /** Bytes held for a frame not yet complete. */
  get bufferedBytes(): number {
    return this.#pending;
  }

  /** True once a push has failed; the decoder then refuses all input. */
  get failed(): boolean {
    return this.#failed !== undefined;
  }

  /** Feeds one chunk; returns the packets it completed, in order. */
  push(chunk: Uint8Array): WirePacket[] {
    if (this.#failed !== undefined) throw this.#failed;
    try {
      return this.#push(asBuffer(chunk));
    } catch (err) {
      this.#failed = err;
      this.#clear();
      throw err;
    }
  }

  /** Call at end of stream: throws TRIB_TRUNCATED_FRAME when a partial frame is left over. */
  end(): void {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#pending > 0) {
      const have = this.#pending;
      const need = this.#need === 0 ? HEADER_BYTES : this.#need;
      this.reset();
      throw ErrTruncatedFrame(have, need);
    }
  }

  /** Drops any partial frame and clears a failure. */
  reset(): void {
    this.#clear();
    this.#failed = undefined;
  }

  #push(buf: Buffer): WirePacket[] {
    const out: WirePacket[] = [];
    const len = buf.length;
    if (len === 0) return out;
    let off = 0;
    if (this.#pending > 0) {
      off = this.#completePending(buf, out);
      if (off < 0) return out;
    }
    const max = this.maxFrameBytes;
    while (len - off >= HEADER_BYTES) {
      const frame = checkHeaderAt(buf, off, max);
      if (frame > len - off) {
        this.#need = frame;
        break;
      }
      out.push(new WirePacket(buf, off));
      off += frame;
    }
    if (off < len) this.#append(off === 0 ? buf : buf.subarray(off));
    return out;
  }

  /** Holds `d` as part of the pending frame (views while few, one frame-sized buffer after). */
  #append(d: Buffer): void {
    const fill = this.#fill;
    if (fill !== undefined) {
      fill.set(d, this.#pending);
    } else if (this.#need > 0 && this.#pieces.length >= MAX_PIECES) {
      // Many small chunks: stop keeping one view per chunk and copy into the frame's own buffer.
      const f = Buffer.allocUnsafe(this.#need);
      let o = 0;
      for (const p of this.#pieces) {
        f.set(p, o);
        o += p.length;
      }
      f.set(d, o);
      this.#fill = f;
      this.#pieces = [];
    } else {
      this.#pieces.push(d);
    }
    this.#pending += d.length;
  }

  /** Completes the pending frame from `buf`; returns the offset after it, or -1 if `buf` ran out. */
  #completePending(buf: Buffer, out: WirePacket[]): number {
    if (this.#need === 0) {
      const missing = HEADER_BYTES - this.#pending;
      if (buf.length < missing) {
        this.#append(buf);
        return -1;
      }
      const header = Buffer.concat([...this.#pieces, buf.subarray(0, missing)], HEADER_BYTES);
      this.#need = checkHeaderAt(header, 0, this.maxFrameBytes);
    }
    const missing = this.#need - this.#pending;
    if (buf.length < missing) {
      this.#append(buf);
      return -1;
    }
    let frame: Buffer;
    if (this.#fill !== undefined) {
      frame = this.#fill;
      frame.set(buf.subarray(0, missing), this.#pending);
    } else {
      this.#pieces.push(buf.subarray(0, missing));
      frame = Buffer.concat(this.#pieces, this.#need);
    }
    this.#clear();
    out.push(new WirePacket(frame, 0));
    return missing;
  }

  #clear(): void {
    this.#pieces = [];
    this.#fill = undefined;
    this.#pending = 0;
    this.#need = 0;
  }
}
