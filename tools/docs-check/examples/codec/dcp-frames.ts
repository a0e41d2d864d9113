import {
  decodeDcpMutation,
  decodeDocumentValue,
  encodeDcpMutation,
  encodeDcpSnapshotMarker,
  FrameDecoder,
  Opcode,
  vbucketForKey,
} from '@tributary/codec';

const key = 'airline_10';
const vbucket = vbucketForKey(key, 1024); // 361
const wire = Buffer.concat([
  encodeDcpSnapshotMarker({ vbucket, opaque: 7, startSeqno: 0, endSeqno: 1, flags: 0x02, version: 1 }),
  encodeDcpMutation({
    vbucket,
    opaque: 7,
    cas: 1n,
    datatype: 1,
    bySeqno: 1,
    revSeqno: 1,
    flags: 0,
    expiry: 0,
    lockTime: 0,
    key: Buffer.from(key),
    value: Buffer.from('{"id":10}'),
  }),
]);

// Feed the bytes in awkward pieces, as TCP would.
const decoder = new FrameDecoder();
for (let i = 0; i < wire.length; i += 5) {
  for (const packet of decoder.push(wire.subarray(i, i + 5))) {
    if (packet.opcode === Opcode.DcpMutation) {
      const m = decodeDcpMutation(packet);
      const doc = decodeDocumentValue(m);
      console.log(m.vbucket, m.bySeqno, m.key.toString(), doc.body.toString());
    }
  }
}
// → 361 1 airline_10 {"id":10}
