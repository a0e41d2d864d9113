import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createLmdbStore } from '../src/index.js';

it('a second store on the same path in this process reads what the first committed, at once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lmdb-two-'));
  const writer = createLmdbStore({ path: join(dir, 'db') });
  const reader = createLmdbStore({ path: join(dir, 'db') });
  try {
    const key = Buffer.from('k');
    const stale: number[] = [];
    for (let i = 0; i < 50; i++) {
      // The reader's snapshot is taken before the write, in the same event turn as its reads after it.
      await reader.get(key);
      await writer.batch([{ type: 'put', key, value: Buffer.from(String(i)) }]);
      const got = await reader.get(key);
      const [many] = await reader.getMany([key]);
      const rows = [];
      for await (const e of reader.scan({ prefix: key })) rows.push(Buffer.from(e.value).toString());
      if (
        Buffer.from(got ?? []).toString() !== String(i) ||
        Buffer.from(many ?? []).toString() !== String(i) ||
        rows[0] !== String(i)
      )
        stale.push(i);
    }
    expect(stale).toEqual([]);
  } finally {
    await writer.close();
    await reader.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
