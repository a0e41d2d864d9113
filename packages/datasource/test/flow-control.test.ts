import { encodePacket, FrameDecoder, Magic, Opcode } from '@tributary/codec';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlowControl, flowControlBytes, isFlowControlled } from '../src/index.js';

function mutation(key: string, value: Buffer): Buffer {
  return encodePacket({
    magic: Magic.Request,
    opcode: Opcode.DcpMutation,
    vbucket: 1,
    opaque: 9,
    key,
    extras: Buffer.alloc(31),
    value,
  });
}

describe('flow control', () => {
  it('counts what the server counts: 24 + body for stream messages, nothing for NOOPs and responses', () => {
    const p = new FrameDecoder().push(mutation('k', Buffer.alloc(100)))[0]!;
    // mutation base 55 = 24 + 31 extras
    expect(flowControlBytes(p.bodyLength)).toBe(55 + 1 + 100);
    for (const op of [
      Opcode.DcpMutation,
      Opcode.DcpDeletion,
      Opcode.DcpExpiration,
      Opcode.DcpSnapshotMarker,
      Opcode.DcpStreamEnd,
      Opcode.DcpSetVbucketState,
      Opcode.DcpSystemEvent,
      Opcode.DcpSeqnoAdvanced,
      Opcode.DcpOsoSnapshot,
    ]) {
      expect(isFlowControlled(op)).toBe(true);
    }
    for (const op of [
      Opcode.DcpNoop,
      Opcode.DcpStreamReq,
      Opcode.DcpBufferAcknowledgement,
      Opcode.Noop,
      Opcode.DcpControl,
    ]) {
      expect(isFlowControlled(op)).toBe(false);
    }
  });

  it('acknowledges at the threshold only what was finished, and everything finished eventually (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1000, max: 1_000_000 }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.array(fc.integer({ min: 25, max: 30_000 }), { minLength: 1, maxLength: 300 }),
        (size, threshold, msgs) => {
          const f = new FlowControl(size, threshold);
          let acked = 0;
          let finished = 0;
          for (const m of msgs) {
            f.received(m);
            const a = f.finished(m);
            finished += m;
            if (a > 0) {
              expect(a).toBeGreaterThanOrEqual(f.ackThreshold);
              expect(acked + a).toBe(finished);
            }
            acked += a;
            expect(acked).toBeLessThanOrEqual(finished);
            expect(finished - acked).toBeLessThan(f.ackThreshold);
          }
          acked += f.takeAck();
          expect(acked).toBe(finished);
          expect(f.outstanding).toBe(0);
        },
      ),
    );
  });

  it('cbdatasource defaults: 20,000,000 bytes, ack after 20 %', () => {
    const f = new FlowControl(20_000_000, 0.2);
    expect(f.ackThreshold).toBe(4_000_000);
    expect(f.finished(3_999_999)).toBe(0);
    expect(f.finished(1)).toBe(4_000_000);
    const off = new FlowControl(0, 0.2);
    expect(off.enabled).toBe(false);
    expect(off.finished(1e9)).toBe(0);
  });
});
