// Decoding and validating sub-document requests, check for check in the order of kv_engine's
// daemon/subdocument_validators.cc (the first failing check decides the answer).
//
// Single path (docs/SubDocument.md "Single-Path Commands"): extras are pathlen u16, path flags
// u8, then optionally expiry u32 (mutations) and/or doc flags u8: 3, 4, 7 or 8 bytes; the value
// is the path followed by the operation's value.
// Multi path ("Multi-Path Commands"): extras are optionally expiry u32 (mutations) and/or doc
// flags u8; the value holds up to 16 specs: opcode u8, path flags u8, pathlen u16, [valuelen u32
// for mutations], path, [value].

import { St } from '../mcbp.js';
import { MAX_PATH_BYTES } from './path.js';
import { DocFlag, MULTI_MAX_PATHS, PathFlag, SubdocOp, SubdocStatus } from './status.js';
import { Scope, type Traits, traitsOf } from './traits.js';
import { isKnownMacro } from './vattrs.js';
import { xattrKeyLength } from './xattrs.js';

const XATTR_EINVAL = 0x87;

export interface Spec {
  readonly op: number;
  readonly traits: Traits;
  readonly flags: number;
  readonly path: Buffer;
  readonly value: Buffer;
  readonly xattr: boolean;
}

export interface SubdocRequest {
  readonly multi: boolean;
  readonly mutator: boolean;
  readonly specs: Spec[];
  readonly docFlags: number;
  /** Memcached expiry as sent (0 = none). */
  readonly expiry: number;
}

export type Parsed = { ok: true; req: SubdocRequest } | { ok: false; status: number; context: string };

function fail(status: number, context: string): Parsed {
  return { ok: false, status, context };
}

function has(flags: number, f: number): boolean {
  return (flags & f) !== 0;
}

/** validate_xattr_section. */
function checkXattr(mutator: boolean, flags: number, path: Buffer, value: Buffer, xattrEnabled: boolean) {
  if (!has(flags, PathFlag.XattrPath)) {
    if (has(flags, PathFlag.ExpandMacros))
      return fail(SubdocStatus.XattrInvalidFlagCombo, 'EXPAND_MACROS flag requires XATTR flag to be set');
    return undefined;
  }
  if (!xattrEnabled) return fail(St.NotSupported, 'Connection not XATTR enabled');
  if (xattrKeyLength(path) === undefined) return fail(XATTR_EINVAL, 'Request XATTR key invalid');
  if (path[0] === 0x24 && mutator)
    return fail(SubdocStatus.XattrCantModifyVattr, 'Can not modify virtual attributes');
  if (has(flags, PathFlag.ExpandMacros) && !isKnownMacro(value.toString('latin1')))
    return fail(SubdocStatus.XattrUnknownMacro, 'Unknown macro');
  return undefined;
}

/** Parses a single-path command (`op` one of the 0xc5..0xd3 opcodes). */
export function parseSingle(
  op: number,
  extras: Buffer,
  value: Buffer,
  cas: bigint,
  xattrEnabled: boolean,
): Parsed {
  const traits = traitsOf(op)!;
  if (![3, 4, 7, 8].includes(extras.length)) return fail(St.Einval, 'Invalid extras section');
  const pathlen = extras.readUInt16BE(0);
  const flags = extras[2];
  const expiry = extras.length >= 7 ? extras.readUInt32BE(3) : 0;
  const docFlags = extras.length === 4 ? extras[3] : extras.length === 8 ? extras[7] : 0;
  if (pathlen > MAX_PATH_BYTES) return fail(St.Einval, 'Request path length exceeds maximum');
  if (pathlen > value.length) return fail(St.Einval, "Path length can't exceed value");
  const path = value.subarray(0, pathlen);
  const v = value.subarray(pathlen);
  if (traits.hasValue ? v.length === 0 : v.length !== 0)
    return fail(St.Einval, traits.hasValue ? 'Request must include value' : 'Request must not include value');
  if (flags & ~traits.validFlags) return fail(St.Einval, 'Request flags invalid');
  if ((flags & traits.mandatoryFlags) !== traits.mandatoryFlags)
    return fail(St.Einval, 'Request missing mandatory flags');
  if (docFlags & ~traits.validDocFlags) return fail(St.Einval, 'Request document flags invalid');
  if (has(docFlags, DocFlag.CreateAsDeleted)) {
    if (!has(docFlags, DocFlag.Add | DocFlag.Mkdoc))
      return fail(St.Einval, 'CreateAsDeleted requires Mkdoc or Add');
    if (!has(flags, PathFlag.XattrPath)) return fail(St.Einval, 'CreateAsDeleted does not support body path');
  }
  if (has(docFlags, DocFlag.ReplicaRead) && has(docFlags, DocFlag.AccessDeleted))
    return fail(St.Einval, "Can't access deleted documents on replicas");
  if (has(docFlags, DocFlag.Add) && cas !== 0n)
    return fail(St.Einval, 'Request with add flag must have CAS 0');
  if (has(docFlags, DocFlag.Add) && has(docFlags, DocFlag.Mkdoc))
    return fail(St.Einval, 'Request must not contain both add and mkdoc flags');
  const x = checkXattr(traits.mutator, flags, path, v, xattrEnabled);
  if (x) return x;
  if (!traits.emptyPath && pathlen === 0) return fail(St.Einval, 'Request must include path');
  if (!traits.mutator && extras.length !== 3 && extras.length !== 4)
    return fail(St.Einval, 'Request extras invalid');
  return {
    ok: true,
    req: {
      multi: false,
      mutator: traits.mutator,
      specs: [{ op, traits, flags, path, value: v, xattr: has(flags, PathFlag.XattrPath) }],
      docFlags,
      expiry,
    },
  };
}

/** Parses SUBDOC_MULTI_LOOKUP (0xd0) or SUBDOC_MULTI_MUTATION (0xd1). */
export function parseMulti(
  op: number,
  extras: Buffer,
  value: Buffer,
  cas: bigint,
  xattrEnabled: boolean,
): Parsed {
  const mutator = op === SubdocOp.MultiMutation;
  if (![0, 1, 4, 5].includes(extras.length)) return fail(St.Einval, 'Request extras invalid');
  if (!mutator && extras.length > 1) return fail(St.Einval, 'Request extras invalid');
  const expiry = extras.length >= 4 ? extras.readUInt32BE(0) : 0;
  const docFlags = extras.length === 1 ? extras[0] : extras.length === 5 ? extras[4] : 0;
  if (has(docFlags, DocFlag.Add) && cas !== 0n)
    return fail(St.Einval, 'Request with add flag must have CAS 0');
  if (has(docFlags, DocFlag.Add) && has(docFlags, DocFlag.Mkdoc))
    return fail(St.Einval, 'Request must not contain both add and mkdoc flags');
  if (has(docFlags, DocFlag.ReviveDocument)) {
    if (!has(docFlags, DocFlag.AccessDeleted))
      return fail(St.Einval, "ReviveDocument can't be used without AccessDeleted");
    if (has(docFlags, DocFlag.CreateAsDeleted))
      return fail(St.Einval, "ReviveDocument can't be used with CreateAsDeleted");
  }
  if (has(docFlags, DocFlag.ReplicaRead) && has(docFlags, DocFlag.AccessDeleted))
    return fail(St.Einval, "Can't access deleted documents on replicas");
  const specs: Spec[] = [];
  let off = 0;
  let xattrsAllowed = true;
  let bodyAllowed = true;
  while (specs.length < MULTI_MAX_PATHS && off < value.length) {
    if (!bodyAllowed)
      return fail(SubdocStatus.InvalidCombo, 'Request contains an invalid combination of commands');
    const head = mutator ? 8 : 4;
    if (off + head > value.length)
      return fail(St.Einval, mutator ? 'Multi mutation spec truncated' : 'Multi lookup spec truncated');
    const sop = value[off];
    const flags = value[off + 1];
    const pathlen = value.readUInt16BE(off + 2);
    const valuelen = mutator ? value.readUInt32BE(off + 4) : 0;
    if (off + head + pathlen + valuelen > value.length)
      return fail(
        St.Einval,
        mutator ? 'Multi mutation path and value truncated' : 'Multi lookup path truncated',
      );
    const traits = traitsOf(sop);
    if (!traits) return fail(SubdocStatus.InvalidCombo, 'Subdoc and MCBP command must not both be invalid');
    if (traits.mutator !== mutator)
      return fail(SubdocStatus.InvalidCombo, 'Mutation opcodes only permitted for mutation commands');
    if (flags & ~traits.validFlags) return fail(St.Einval, 'Request flags invalid');
    if ((flags & traits.mandatoryFlags) !== traits.mandatoryFlags)
      return fail(St.Einval, 'Request missing mandatory flags');
    if (docFlags & ~traits.validDocFlags) return fail(St.Einval, 'Request document flags invalid');
    if (pathlen > MAX_PATH_BYTES) return fail(St.Einval, 'Request path length exceeds maximum');
    if (traits.scope === Scope.WholeDoc && pathlen > 0)
      return fail(St.Einval, 'Request must not include path for wholedoc operations');
    const path = value.subarray(off + head, off + head + pathlen);
    const v = value.subarray(off + head + pathlen, off + head + pathlen + valuelen);
    const x = checkXattr(mutator, flags, path, v, xattrEnabled);
    if (x) return x;
    const xattr = has(flags, PathFlag.XattrPath);
    if (!xattr && !traits.emptyPath && pathlen === 0) return fail(St.Einval, 'Request must include path');
    if (traits.hasValue ? valuelen === 0 : valuelen !== 0)
      return fail(
        St.Einval,
        traits.hasValue ? 'Request must include value' : 'Request must not include value',
      );
    // XATTR specs come first; a whole-document delete is the last spec.
    const isolationist = sop === SubdocOp.WholeDelete;
    if (xattrsAllowed) xattrsAllowed = xattr;
    else if (xattr)
      return fail(SubdocStatus.InvalidXattrOrder, 'Invalid XATTR order (xattrs should come first)');
    else if (isolationist)
      return fail(SubdocStatus.InvalidCombo, 'Request contains an invalid combination of commands');
    if (isolationist) bodyAllowed = false;
    specs.push({ op: sop, traits, flags, path, value: v, xattr });
    off += head + pathlen + valuelen;
  }
  if (specs.length === 0) return fail(SubdocStatus.InvalidCombo, 'Request must contain at least one path');
  if (off !== value.length)
    return fail(SubdocStatus.InvalidCombo, `Request must contain at most ${MULTI_MAX_PATHS} paths`);
  return { ok: true, req: { multi: true, mutator, specs, docFlags, expiry } };
}
