// Running the specs of a sub-document request on one fetched document, phase by phase as
// kv_engine's daemon/subdocument_context.cc does: first the XATTR specs on the JSON object of
// the document's extended attributes (rebuilt into the XATTR section if one changed it), then,
// for a whole-document delete, the user attributes are dropped, then the body specs on the body.
// Lookups go on after a failed spec; mutations stop at the first one (and change nothing).

import { randomBytes } from 'node:crypto';
import { DT_JSON, DT_SNAPPY, DT_XATTR } from '../mcbp.js';
import { runOperation } from './operations.js';
import type { Spec, SubdocRequest } from './request.js';
import { PathFlag, SubdocOp, SubdocStatus } from './status.js';
import { Response, Scope } from './traits.js';
import {
  crc32cOf,
  type DocumentInfo,
  expandDocumentMacro,
  expandMutationMacro,
  Macro,
  virtualDocument,
} from './vattrs.js';
import {
  bodyOf,
  encodeXattrs,
  isSystemKey,
  parseXattrs,
  type Xattr,
  xattrsAsJson,
  xattrsFromJson,
} from './xattrs.js';

export interface SpecResult {
  status: number;
  /** The value answered (specs whose command answers with one). */
  value?: Buffer;
}

export interface Input {
  /** The whole stored value (XATTR section included), or the template of a new document. */
  value: Buffer;
  datatype: number;
  /** The fetched document is a tombstone (or a tombstone is being created). */
  deleted: boolean;
  info: DocumentInfo;
}

export interface Outcome {
  /** SUCCESS, or the failing spec's status (single path), or MULTI_PATH_FAILURE. */
  overall: number;
  /** Per spec, in request order (which is phase order: XATTR specs come first). */
  results: SpecResult[];
  /** For a mutation that succeeded: the new value and datatype. */
  value?: Buffer;
  datatype?: number;
  /** A whole-document delete ran. */
  deleteDoc: boolean;
  /** After the delete, no system xattr is left: the document is removed outright. */
  noSystemXattrs: boolean;
  /** Macro expansion once the new CAS and seqno are known. */
  prelink?: (value: Buffer, cas: bigint, seqno: number) => Buffer;
}

interface Placeholders {
  cas: string;
  seqno: string;
  crc: string;
}

function makePlaceholders(avoid: string[]): Placeholders {
  const pick = (bytes: number): string => {
    for (;;) {
      const c = `"0x${randomBytes(bytes).toString('hex')}"`;
      if (!avoid.some((a) => a.includes(c))) return c;
    }
  };
  return { cas: pick(8), seqno: pick(8), crc: pick(4) };
}

/** Runs `spec` on `doc` (the xattr object or the body), vattrs and macros resolved. */
function runSpec(
  spec: Spec,
  doc: Buffer,
  docDatatype: number,
  xattrPhase: boolean,
  input: Input,
  xattrKeys: () => string[],
  ph: Placeholders | undefined,
): { status: number; doc?: Buffer; value?: Buffer } {
  let value = spec.value;
  if (spec.flags & PathFlag.ExpandMacros) {
    const m = value.toString('latin1');
    const padded =
      m === Macro.Cas
        ? ph?.cas
        : m === Macro.Seqno
          ? ph?.seqno
          : m === Macro.ValueCrc32c
            ? ph?.crc
            : undefined;
    const expanded = padded ?? expandDocumentMacro(m, input.info);
    if (expanded === undefined) return { status: SubdocStatus.XattrUnknownVattrMacro };
    value = Buffer.from(expanded);
  }
  if (xattrPhase && spec.path[0] === 0x24) {
    let end = spec.path.findIndex((c) => c === 0x2e || c === 0x5b);
    if (end < 0) end = spec.path.length;
    const v = virtualDocument(spec.path.toString('utf8', 0, end), input.info, xattrKeys());
    if (!v) return { status: SubdocStatus.XattrUnknownVattr };
    doc = v;
  }
  if (!(docDatatype & DT_JSON)) return { status: SubdocStatus.DocNotJson };
  return runOperation(spec.op, (spec.flags & PathFlag.MkdirP) !== 0, doc, spec.path, value);
}

/** Executes `req` on `input`; `mkdirImplied` adds MKDIR_P to every spec (MKDOC / ADD). */
export function execute(req: SubdocRequest, input: Input, mkdirImplied: boolean): Outcome {
  const results: SpecResult[] = req.specs.map(() => ({ status: SubdocStatus.Success }));
  const hadXattrs = (input.datatype & DT_XATTR) !== 0;
  let pairs: Xattr[] = hadXattrs ? (parseXattrs(input.value) ?? []) : [];
  let body: Buffer = hadXattrs ? bodyOf(input.value) : input.value;
  let bodyDatatype = input.datatype & ~(DT_XATTR | DT_SNAPPY);
  let overall: number = SubdocStatus.Success;
  let deleteDoc = false;
  let noSystemXattrs = false;
  const xattrKeys = () => pairs.map((p) => p.key.toString('utf8'));
  const specs = req.specs.map((s) => (mkdirImplied ? { ...s, flags: s.flags | PathFlag.MkdirP } : s));
  const macros = specs.some((s) => s.flags & PathFlag.ExpandMacros);
  const ph = macros
    ? makePlaceholders([
        xattrsAsJson(pairs).toString('latin1'),
        ...specs.map((s) => s.value.toString('latin1')),
      ])
    : undefined;

  const fail = (i: number, status: number): boolean => {
    results[i].status = status;
    if (!req.multi) {
      overall = status;
      return true;
    }
    overall = SubdocStatus.MultiPathFailure;
    return req.mutator;
  };

  // 1. XATTR phase.
  const xattrIdx = specs.flatMap((s, i) => (s.xattr ? [i] : []));
  if (xattrIdx.length) {
    let xdoc = xattrsAsJson(pairs);
    let modified = false;
    for (const i of xattrIdx) {
      const s = specs[i];
      if (s.traits.scope === Scope.AttributesAndBody) {
        // SubdocReplaceBodyWithXattr: the body becomes the attribute's value.
        const r = runOperation(SubdocOp.Get, false, xdoc, s.path, Buffer.alloc(0));
        if (r.status !== SubdocStatus.Success) {
          if (fail(i, r.status)) break;
          continue;
        }
        body = Buffer.from(r.value!);
        bodyDatatype = body.length ? bodyDatatype | DT_JSON : bodyDatatype & ~DT_JSON;
        modified = true;
        continue;
      }
      const r = runSpec(s, xdoc, DT_JSON, true, input, xattrKeys, ph);
      if (r.status !== SubdocStatus.Success) {
        if (fail(i, r.status)) break;
        continue;
      }
      if (s.traits.response !== Response.None) results[i].value = r.value;
      if (req.mutator && r.doc) {
        xdoc = r.doc;
        modified = true;
      }
    }
    if (modified && overall === SubdocStatus.Success && req.mutator) {
      pairs = xattrsFromJson(xdoc);
      if (pairs.length === 0) noSystemXattrs = true;
    }
  }

  // 2. A whole-document delete keeps only the system xattrs.
  if (req.mutator && overall === SubdocStatus.Success && specs.some((s) => s.op === SubdocOp.WholeDelete)) {
    deleteDoc = true;
    if (hadXattrs || pairs.length) {
      pairs = pairs.filter((p) => isSystemKey(p.key));
      if (pairs.length === 0) noSystemXattrs = true;
    }
  }

  // 3. Body phase.
  if (!(req.mutator && overall !== SubdocStatus.Success)) {
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i];
      if (s.xattr) continue;
      let r: { status: number; doc?: Buffer; value?: Buffer };
      if (s.traits.scope === Scope.WholeDoc) {
        if (s.op === SubdocOp.WholeGet)
          r = body.length
            ? { status: SubdocStatus.Success, value: body }
            : { status: SubdocStatus.PathEnoent };
        else if (s.op === SubdocOp.WholeSet) r = { status: SubdocStatus.Success, doc: Buffer.from(s.value) };
        else r = { status: SubdocStatus.Success, doc: Buffer.alloc(0) };
      } else r = runSpec(s, body, bodyDatatype, false, input, xattrKeys, ph);
      if (r.status !== SubdocStatus.Success) {
        if (fail(i, r.status)) break;
        continue;
      }
      if (s.traits.response !== Response.None) results[i].value = r.value;
      if (req.mutator && r.doc) {
        body = r.doc;
        if (s.op === SubdocOp.WholeDelete) bodyDatatype &= ~(DT_JSON | DT_SNAPPY);
        else if (s.traits.scope === Scope.WholeDoc) {
          // The whole body was replaced: its JSON bit follows what it now is.
          bodyDatatype = isJson(body) ? bodyDatatype | DT_JSON : bodyDatatype & ~DT_JSON;
        }
      }
    }
  }

  const out: Outcome = { overall, results, deleteDoc, noSystemXattrs };
  if (!req.mutator || overall !== SubdocStatus.Success) return out;
  const section = encodeXattrs(pairs);
  out.value = Buffer.concat([section, body]);
  out.datatype = bodyDatatype | (section.length ? DT_XATTR : 0);
  if (ph) {
    const sectionLength = section.length;
    out.prelink = (value, cas, seqno) => {
      const v = Buffer.from(value);
      const crc = crc32cOf(v.subarray(sectionLength));
      const swap = (needle: string, by: string) => {
        const n = Buffer.from(needle);
        const b = Buffer.from(by);
        for (let at = v.indexOf(n); at >= 0 && at < sectionLength; at = v.indexOf(n, at + b.length))
          b.copy(v, at);
      };
      swap(ph.cas, expandMutationMacro(Macro.Cas, cas, seqno, crc));
      swap(ph.seqno, expandMutationMacro(Macro.Seqno, cas, seqno, crc));
      swap(ph.crc, expandMutationMacro(Macro.ValueCrc32c, cas, seqno, crc));
      return v;
    };
  }
  return out;
}

function isJson(b: Buffer): boolean {
  if (b.length === 0) return false;
  try {
    JSON.parse(b.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}
