import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeBlocks, codeBlocksOf, isCode } from '../src/markdown.js';
import { ROOT } from '../src/run-example.js';
import { syncExamples } from '../src/sync.js';
import { EXAMPLES } from './examples.js';

/** Every package and plugin README: each code block is an example file, verbatim. */
const READMES = ['packages', 'plugins'].flatMap((dir) =>
  readdirSync(join(ROOT, dir))
    .map((name) => join(ROOT, dir, name, 'README.md'))
    .filter((p) => existsSync(p)),
);
/** docs/ (but the generated pages) and the top-level README: a block may opt out with a reason. */
const DOCS = [
  join(ROOT, 'README.md'),
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md') && f !== 'benchmarks.md' && f !== 'errors.md')
    .map((f) => join(ROOT, 'docs', f)),
];

const rel = (p: string) => relative(ROOT, p);

// UPDATE_DOCS_EXAMPLES=1 copies each example file into the blocks that embed it, then checks.
if (process.env.UPDATE_DOCS_EXAMPLES === '1') for (const p of [...READMES, ...DOCS]) syncExamples(p, ROOT);

describe('README and docs code blocks are the example files the tests run', () => {
  for (const path of [...READMES, ...DOCS]) {
    it(rel(path), () => {
      const blocks = codeBlocksOf(path).filter((b) => isCode(b.lang));
      for (const b of blocks) {
        const where = `${rel(path)}:${b.line}`;
        if (b.notRun !== undefined) {
          expect(DOCS.includes(path), `${where}: only docs/ may have not-run blocks`).toBe(true);
          continue;
        }
        expect(b.example, `${where}: a code block needs <!-- example: path --> right above it`).toBeDefined();
        const file = join(ROOT, b.example!);
        expect(existsSync(file), `${where}: ${b.example} does not exist`).toBe(true);
        expect(b.code, `${where} differs from ${b.example}`).toBe(readFileSync(file, 'utf8'));
      }
    });
  }

  it('every example file is embedded somewhere and run by examples.test.ts', () => {
    const files = readdirSync(join(ROOT, 'tools/docs-check/examples'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `tools/docs-check/examples/${f.split('\\').join('/')}`)
      .sort();
    const embedded = new Set(
      [...READMES, ...DOCS].flatMap((p) => codeBlocksOf(p).flatMap((b) => (b.example ? [b.example] : []))),
    );
    expect(files.filter((f) => !embedded.has(f))).toEqual([]);
    const run = new Set(EXAMPLES.map((e) => e.file));
    run.add('tools/docs-check/examples/getting-started/print-changes.ts'); // getting-started.test.ts
    // `x.test.ts` examples are vitest files of this project; they run the module `x.ts`.
    const byVitest = (f: string) => f.endsWith('.test.ts') || files.includes(f.replace(/\.ts$/, '.test.ts'));
    expect(files.filter((f) => !run.has(f) && !byVitest(f))).toEqual([]);
  });
});

describe('codeBlocks', () => {
  it('reads fences, languages and the marker right above', () => {
    const md = [
      '# t',
      '<!-- example: a/b.ts -->',
      '```ts',
      'const x = 1;',
      '```',
      '',
      '```sh',
      'npm test',
      '```',
      '<!-- not-run: a fragment -->',
      '```ts',
      'x',
      '```',
      '- in a list:',
      '  <!-- example: c.ts -->',
      '  ```ts',
      '  if (a) {',
      '    b();',
      '  }',
      '  ```',
    ].join('\n');
    expect(codeBlocks(md)).toEqual([
      { line: 3, lang: 'ts', code: 'const x = 1;\n', example: 'a/b.ts', notRun: undefined },
      { line: 7, lang: 'sh', code: 'npm test\n', example: undefined, notRun: undefined },
      { line: 11, lang: 'ts', code: 'x\n', example: undefined, notRun: 'a fragment' },
      { line: 16, lang: 'ts', code: 'if (a) {\n  b();\n}\n', example: 'c.ts', notRun: undefined },
    ]);
  });
});
