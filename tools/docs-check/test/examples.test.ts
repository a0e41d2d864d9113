import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appDir, ROOT, runExample } from '../src/run-example.js';
import { EXAMPLES } from './examples.js';

// Each README example runs as an application would run it (its own process, in a fresh
// directory, against real servers), must finish by itself with exit code 0, print what its
// comments say, and write nothing to stderr.
describe('README examples run and print what they say', () => {
  for (const e of EXAMPLES) {
    it.concurrent(e.file.replace('tools/docs-check/examples/', ''), { timeout: 60_000 }, async () => {
      const cwd = appDir();
      try {
        e.prepare?.(cwd);
        const r = await runExample(join(ROOT, e.file), { cwd, timeoutMs: 45_000 });
        const report = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
        expect(r.code, report).toBe(0);
        expect(r.stderr, report).toBe('');
        let at = 0;
        for (const re of e.prints) {
          const m = new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`);
          m.lastIndex = at;
          const found = m.exec(r.stdout);
          expect(found, `${re} (after offset ${at})\n${report}`).not.toBeNull();
          at = found!.index + found![0].length;
        }
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    });
  }
});
