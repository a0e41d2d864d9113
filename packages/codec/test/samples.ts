import { encodeDcpMutation } from '@tributary/codec';

/** DCP_MUTATION number `i` (vbucket, opaque, cas and seqno follow from it) with a value of `valueBytes`. */
export const mutation = (i: number, valueBytes: number): Buffer =>
  encodeDcpMutation({
    vbucket: i % 1024,
    opaque: i,
    cas: BigInt(i) * 1000n,
    datatype: 0,
    bySeqno: i + 1,
    revSeqno: 1,
    flags: 0,
    expiry: 0,
    lockTime: 0,
    key: Buffer.from(`key-${i}`),
    value: Buffer.alloc(valueBytes, i & 0xff),
  });
