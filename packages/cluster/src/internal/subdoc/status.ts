// Sub-document status codes and flags (kv_engine docs/BinaryProtocol.md "Response Status",
// docs/SubDocument.md "Flags"; values as in include/mcbp/protocol/status.h).

export const SubdocStatus = {
  Success: 0x00,
  PathEnoent: 0xc0,
  PathMismatch: 0xc1,
  PathEinval: 0xc2,
  PathE2big: 0xc3,
  DocE2deep: 0xc4,
  ValueCantinsert: 0xc5,
  DocNotJson: 0xc6,
  NumErange: 0xc7,
  DeltaEinval: 0xc8,
  PathEexists: 0xc9,
  ValueEtoodeep: 0xca,
  InvalidCombo: 0xcb,
  MultiPathFailure: 0xcc,
  SuccessDeleted: 0xcd,
  XattrInvalidFlagCombo: 0xce,
  XattrInvalidKeyCombo: 0xcf,
  XattrUnknownMacro: 0xd0,
  XattrUnknownVattr: 0xd1,
  XattrCantModifyVattr: 0xd2,
  MultiPathFailureDeleted: 0xd3,
  InvalidXattrOrder: 0xd4,
  XattrUnknownVattrMacro: 0xd5,
  CanOnlyReviveDeletedDocuments: 0xd6,
  DeletedDocumentCantHaveValue: 0xd7,
} as const;

/** Path flags (per path). */
export const PathFlag = {
  MkdirP: 0x01,
  XattrPath: 0x04,
  ExpandMacros: 0x10,
} as const;

/** Document flags (per command). */
export const DocFlag = {
  Mkdoc: 0x01,
  Add: 0x02,
  AccessDeleted: 0x04,
  CreateAsDeleted: 0x08,
  ReviveDocument: 0x10,
  ReplicaRead: 0x20,
} as const;

/** Sub-document opcodes (docs/BinaryProtocol.md "Command Opcodes"). */
export const SubdocOp = {
  WholeGet: 0x00,
  WholeSet: 0x01,
  WholeDelete: 0x04,
  Get: 0xc5,
  Exists: 0xc6,
  DictAdd: 0xc7,
  DictUpsert: 0xc8,
  Delete: 0xc9,
  Replace: 0xca,
  ArrayPushLast: 0xcb,
  ArrayPushFirst: 0xcc,
  ArrayInsert: 0xcd,
  ArrayAddUnique: 0xce,
  Counter: 0xcf,
  MultiLookup: 0xd0,
  MultiMutation: 0xd1,
  GetCount: 0xd2,
  ReplaceBodyWithXattr: 0xd3,
} as const;

/** kv_engine PROTOCOL_BINARY_SUBDOC_MULTI_MAX_PATHS. */
export const MULTI_MAX_PATHS = 16;
