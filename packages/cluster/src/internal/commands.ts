// The command families registered beside the session's own switch, one file each.

import { CommandTable } from './command-table.js';
import { registerAppendPrependCommands } from './kv/append-prepend.js';
import { registerCounterCommands } from './kv/counters.js';
import { registerGetMetaCommands } from './kv/get-meta.js';
import { registerLockCommands } from './kv/lock-commands.js';
import { registerReplicaReadCommands } from './kv/replica-read.js';
import { registerSubdocCommands } from './subdoc/commands.js';

export function createCommandTable(): CommandTable {
  const t = new CommandTable();
  registerSubdocCommands(t);
  registerCounterCommands(t);
  registerAppendPrependCommands(t);
  registerGetMetaCommands(t);
  registerLockCommands(t);
  registerReplicaReadCommands(t);
  return t;
}
