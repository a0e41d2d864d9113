export {
  Datatype,
  DcpOpenFlag,
  DcpOsoSnapshotFlag,
  DcpSnapshotFlag,
  DcpStreamEndReason,
  DcpStreamReqFlag,
  DcpSystemEventId,
  DEFAULT_MAX_FRAME_BYTES,
  HEADER_BYTES,
  HelloFeature,
  MAX_ITEM_BYTES,
  Magic,
  Opcode,
  RequestFrameInfoId,
  ResponseFrameInfoId,
  SEQNO_FOREVER,
  ServerOpcode,
  Status,
  VbucketState,
} from './constants.js';
export {
  ErrBadExtras,
  ErrBadFrame,
  ErrBadMagic,
  ErrBadValue,
  ErrEncode,
  ErrFrameTooLarge,
  ErrTruncatedFrame,
  ErrUnexpectedPacket,
} from './errors.js';
export { FrameDecoder, type FrameDecoderOptions } from './frame-decoder.js';
export {
  encodeFrameInfos,
  encodeStreamIdFrame,
  type FrameInfo,
  parseFrameInfos,
  streamIdOf,
} from './frame-info.js';
export {
  decodeHeader,
  encodeHeader,
  type HeaderInput,
  isAltMagic,
  isKnownMagic,
  isRequestMagic,
  isResponseMagic,
  type PacketHeader,
} from './header.js';
export { allowedRequestExtras } from './internal/extras-rules.js';
export { decodePacket, encodePacket, type Packet, type PacketInput, WirePacket } from './packet.js';
export * from './transport-frame.js';
export { vbucketForKey } from './vbucket.js';
