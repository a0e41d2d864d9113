// Opcode → handler for the command families that live in their own files (sub-document,
// counters, append/prepend, locks, replica reads, metadata). The session's own switch keeps the
// session-level and core KV commands; anything it does not know is looked up here.

import type { Frame } from './mcbp.js';
import type { Session } from './session.js';

export type CommandHandler = (s: Session, f: Frame) => void;

export class CommandTable {
  readonly #handlers = new Map<number, CommandHandler>();

  register(opcode: number, handler: CommandHandler): void {
    if (this.#handlers.has(opcode)) throw new Error(`opcode 0x${opcode.toString(16)} registered twice`);
    this.#handlers.set(opcode, handler);
  }

  get(opcode: number): CommandHandler | undefined {
    return this.#handlers.get(opcode);
  }
}
