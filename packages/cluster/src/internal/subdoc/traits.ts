// Per-command traits of the sub-document commands, as kv_engine's daemon/subdocument_traits.h
// lists them: which path and document flags each accepts, whether it takes a value, may have an
// empty path, answers with a value, mutates.

import { DocFlag, PathFlag, SubdocOp } from './status.js';

export const Scope = { SubJson: 0, WholeDoc: 1, AttributesAndBody: 2 } as const;
export const Response = { None: 0, Json: 1, FromDocument: 2 } as const;

export interface Traits {
  readonly scope: number;
  readonly validFlags: number;
  readonly mandatoryFlags: number;
  readonly validDocFlags: number;
  readonly hasValue: boolean;
  readonly emptyPath: boolean;
  readonly response: number;
  readonly mutator: boolean;
}

const AD = DocFlag.AccessDeleted;
const RV = DocFlag.ReviveDocument;
const RR = DocFlag.ReplicaRead;
const CREATE = DocFlag.Mkdoc | AD | RV | DocFlag.Add | DocFlag.CreateAsDeleted;
const X = PathFlag.XattrPath;
const MX = PathFlag.MkdirP | PathFlag.XattrPath | PathFlag.ExpandMacros;

function t(
  scope: number,
  validFlags: number,
  validDocFlags: number,
  hasValue: boolean,
  emptyPath: boolean,
  response: number,
  mutator: boolean,
  mandatoryFlags = 0,
): Traits {
  return { scope, validFlags, mandatoryFlags, validDocFlags, hasValue, emptyPath, response, mutator };
}

const TRAITS = new Map<number, Traits>([
  [SubdocOp.WholeGet, t(Scope.WholeDoc, 0, AD | RV | RR, false, true, Response.FromDocument, false)],
  [SubdocOp.WholeSet, t(Scope.WholeDoc, 0, DocFlag.Mkdoc | DocFlag.Add, true, true, Response.None, true)],
  [SubdocOp.WholeDelete, t(Scope.WholeDoc, 0, AD | RV, false, true, Response.None, true)],
  [SubdocOp.Get, t(Scope.SubJson, X, AD | RV | RR, false, false, Response.Json, false)],
  [SubdocOp.Exists, t(Scope.SubJson, X, AD | RV | RR, false, false, Response.None, false)],
  [SubdocOp.DictAdd, t(Scope.SubJson, MX, CREATE, true, false, Response.None, true)],
  [SubdocOp.DictUpsert, t(Scope.SubJson, MX, CREATE, true, false, Response.None, true)],
  [SubdocOp.Delete, t(Scope.SubJson, X, AD | RV, false, false, Response.None, true)],
  [
    SubdocOp.Replace,
    t(Scope.SubJson, X | PathFlag.ExpandMacros, AD | RV | DocFlag.Add, true, false, Response.None, true),
  ],
  [SubdocOp.ArrayPushLast, t(Scope.SubJson, MX, CREATE, true, true, Response.None, true)],
  [SubdocOp.ArrayPushFirst, t(Scope.SubJson, MX, CREATE, true, true, Response.None, true)],
  [
    SubdocOp.ArrayInsert,
    t(
      Scope.SubJson,
      X | PathFlag.ExpandMacros,
      AD | RV | DocFlag.Add | DocFlag.CreateAsDeleted,
      true,
      false,
      Response.None,
      true,
    ),
  ],
  [SubdocOp.ArrayAddUnique, t(Scope.SubJson, PathFlag.MkdirP | X, CREATE, true, true, Response.None, true)],
  [SubdocOp.Counter, t(Scope.SubJson, PathFlag.MkdirP | X, CREATE, true, false, Response.Json, true)],
  [SubdocOp.GetCount, t(Scope.SubJson, X, AD | RV | RR, false, true, Response.Json, false)],
  [
    SubdocOp.ReplaceBodyWithXattr,
    t(Scope.AttributesAndBody, X, AD | RV, false, false, Response.None, true, X),
  ],
]);

/** Traits of a command that may appear in a spec (undefined: not a sub-document command). */
export function traitsOf(op: number): Traits | undefined {
  return TRAITS.get(op);
}

/** Single-path commands: the sub-document opcodes other than the multi-path ones. */
export const SINGLE_PATH_OPS = [
  SubdocOp.Get,
  SubdocOp.Exists,
  SubdocOp.DictAdd,
  SubdocOp.DictUpsert,
  SubdocOp.Delete,
  SubdocOp.Replace,
  SubdocOp.ArrayPushLast,
  SubdocOp.ArrayPushFirst,
  SubdocOp.ArrayInsert,
  SubdocOp.ArrayAddUnique,
  SubdocOp.Counter,
  SubdocOp.GetCount,
  SubdocOp.ReplaceBodyWithXattr,
] as const;
