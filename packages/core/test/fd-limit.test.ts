import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectionSlots, openFileCount, openFileLimit } from '../src/index.js';

const CHILD = join(__dirname, 'fixtures', 'slots-child.ts');

/** Runs the fixture under `ulimit -n <n>` with the same TypeScript loader as the tests. */
function childUnder(limit: number): Record<string, number> {
  const out = execFileSync(
    '/bin/sh',
    [
      '-c',
      `ulimit -n ${limit} && exec "${process.execPath}" --conditions=@tributary/source --import tsx "${CHILD}"`,
    ],
    { encoding: 'utf8', cwd: __dirname },
  );
  return JSON.parse(out.trim());
}

describe('file-descriptor limit and connection slots', () => {
  it('reads the limit `ulimit -n` reports and counts open descriptors', () => {
    const shell = Number(execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
    expect(openFileLimit()).toBe(shell);
    expect(openFileCount()).toBeGreaterThan(2);
  });

  it('a process under ulimit -n 1024 gets slots within it, less what it had open and the headroom', () => {
    const c = childUnder(1024);
    expect(c.limit).toBe(1024);
    expect(c.capacity).toBe(1024 - c.before - c.headroom - c.refusals);
    expect(c.taken).toBe(c.capacity);
    expect(c.refusalCapacity).toBe(c.refusals);
    expect(c.capacity).toBeGreaterThan(500);
  });

  it('slots are shared by every caller in the process and come back when given', () => {
    const a = connectionSlots();
    expect(connectionSlots()).toBe(a);
    const held = a.held;
    expect(a.tryTake()).toBe(true);
    expect(a.held).toBe(held + 1);
    a.give();
    expect(a.held).toBe(held);
  });
});
