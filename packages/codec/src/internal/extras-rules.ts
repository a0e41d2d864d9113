// Extras lengths each request opcode may carry (kv_engine's request validators). Opcodes not listed
// are not checked, so unknown or newer commands pass through to whoever handles them.
import { Opcode } from '../constants.js';
import { ErrBadExtras } from '../errors.js';

const RULES: (readonly number[] | undefined)[] = new Array(256).fill(undefined);
const rule = (lengths: readonly number[], ...ops: number[]): void => {
  for (const op of ops) RULES[op] = lengths;
};
rule(
  [0],
  Opcode.Get,
  Opcode.GetQ,
  Opcode.GetK,
  Opcode.GetKQ,
  Opcode.Delete,
  Opcode.DeleteQ,
  Opcode.Noop,
  Opcode.Version,
  Opcode.Hello,
  Opcode.SaslListMechs,
  Opcode.SaslAuth,
  Opcode.SaslStep,
  Opcode.SelectBucket,
  Opcode.GetErrorMap,
  Opcode.GetCollectionsManifest,
  Opcode.DcpCloseStream,
  Opcode.DcpGetFailoverLog,
  Opcode.DcpNoop,
  Opcode.DcpControl,
);
rule([8], Opcode.Set, Opcode.Add, Opcode.Replace, Opcode.SetQ, Opcode.AddQ, Opcode.ReplaceQ, Opcode.DcpOpen);
rule([4], Opcode.Touch, Opcode.Gat, Opcode.GatQ, Opcode.DcpAddStream, Opcode.DcpStreamEnd);
rule([4], Opcode.DcpBufferAcknowledgement, Opcode.DcpOsoSnapshot);
rule([0, 4, 8], Opcode.GetAllVbSeqnos);
rule([0, 16], Opcode.GetClusterConfig);
rule([48], Opcode.DcpStreamReq);
rule([20, 1], Opcode.DcpSnapshotMarker);
rule([31], Opcode.DcpMutation);
rule([18, 21], Opcode.DcpDeletion);
rule([20], Opcode.DcpExpiration);
rule([1], Opcode.DcpSetVbucketState);
rule([13], Opcode.DcpSystemEvent);
rule([8], Opcode.DcpSeqnoAdvanced);

/** Throws TRIB_BAD_EXTRAS when a (0x80/0x08) request's extras length does not fit its opcode. */
export function checkRequestExtras(opcode: number, extrasLength: number): void {
  const r = RULES[opcode];
  if (r === undefined || r[0] === extrasLength) return;
  for (let i = 1; i < r.length; i++) if (r[i] === extrasLength) return;
  throw ErrBadExtras(opcode, extrasLength, r.join(' or '));
}

/** The extras lengths a request opcode may carry, or undefined when it is not checked. */
export function allowedRequestExtras(opcode: number): readonly number[] | undefined {
  return RULES[opcode];
}
