import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// fastify-style: every code declared with defineError('TRIB_...') anywhere in the repository's
// sources must be documented in docs/errors.md. Run with UPDATE_ERRORS_DOC=1 to regenerate the
// table between the markers (the prose around it is kept).
const ROOT = resolve(__dirname, '../../..');
const DOC = join(ROOT, 'docs', 'errors.md');
const START =
  '<!-- codes:start (generated: UPDATE_ERRORS_DOC=1 npx vitest run --project core test/errors-doc.test.ts) -->';
const END = '<!-- codes:end -->';

interface Declared {
  code: string;
  pkg: string;
  file: string;
  message: string;
  retriable: boolean;
}

function* sources(dir: string): Generator<string> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (/\.(ts|mts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) yield p;
  }
}

function packageName(dir: string): string {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name;
  } catch {
    return relative(ROOT, dir);
  }
}

function declaredCodes(): Declared[] {
  const out: Declared[] = [];
  const re = /defineError\s*(?:<[^>]*>)?\(\s*(['"`])(TRIB_[A-Z0-9_]+)\1/g;
  for (const group of ['packages', 'plugins', 'tools']) {
    let projects: string[] = [];
    try {
      projects = readdirSync(join(ROOT, group));
    } catch {
      continue;
    }
    for (const project of projects) {
      const dir = join(ROOT, group, project);
      for (const file of sources(join(dir, 'src'))) {
        const text = readFileSync(file, 'utf8');
        for (const m of text.matchAll(re)) {
          // The statement runs to the next defineError or the end of the file.
          const next = text.indexOf('defineError', m.index + m[0].length);
          const stmt = text.slice(m.index + m[0].length, next < 0 ? undefined : next);
          const tpl = /=>\s*(`(?:[^`\\]|\\.)*`|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")/.exec(stmt);
          const message = tpl
            ? tpl[1]!.slice(1, -1).replace(
                /\$\{([^}]*)\}/g,
                (_, e: string) =>
                  `<${
                    e
                      .replace(/[^\w.]/g, '')
                      .split('.')
                      .pop() || 'value'
                  }>`,
              )
            : '';
          out.push({
            code: m[2]!,
            pkg: packageName(dir),
            file: relative(ROOT, file),
            message: message.replace(/\|/g, '\\|').replace(/\s+/g, ' '),
            retriable: /retriable:\s*true/.test(stmt.split(/\n\s*(?:export\s+)?const\s/)[0]!),
          });
        }
      }
    }
  }
  return out.sort((a, b) => a.code.localeCompare(b.code));
}

function table(all: Declared[]): string {
  const byCode = new Map<string, Declared & { pkgs: string[] }>();
  for (const d of all) {
    const e = byCode.get(d.code);
    if (e) {
      if (!e.pkgs.includes(d.pkg)) e.pkgs.push(d.pkg);
    } else byCode.set(d.code, { ...d, pkgs: [d.pkg] });
  }
  const rows = [...byCode.values()].map(
    (d) =>
      `| \`${d.code}\` | ${d.pkgs.map((p) => `\`${p}\``).join(', ')} | ${d.message} | ${d.retriable ? 'yes' : ''} |`,
  );
  return ['| code | thrown by | message | retriable |', '|---|---|---|---|', ...rows].join('\n');
}

describe('docs/errors.md', () => {
  const codes = declaredCodes();

  it('finds the codes core declares (the scan works)', () => {
    const names = codes.map((c) => c.code);
    for (const c of [
      'TRIB_PLUGIN_NOT_FOUND',
      'TRIB_PLUGIN_DUPLICATE',
      'TRIB_PLUGIN_API_VERSION',
      'TRIB_CONNECT_REFUSED',
    ]) {
      expect(names).toContain(c);
    }
    expect(codes.find((c) => c.code === 'TRIB_CONNECT_REFUSED')!.retriable).toBe(true);
    expect(codes.find((c) => c.code === 'TRIB_PLUGIN_DUPLICATE')!.retriable).toBe(false);
  });

  it('gives each code one meaning (shared codes belong in @tributary/core)', () => {
    // Copies of the same declaration (same message) are tolerated; one code with two meanings is not.
    const seen = new Map<string, Declared>();
    const clashes: string[] = [];
    for (const d of codes) {
      const first = seen.get(d.code);
      if (first && first.message !== d.message) clashes.push(`${d.code}: ${first.file} and ${d.file} differ`);
      if (!first) seen.set(d.code, d);
    }
    expect(clashes, 'one code declared with two meanings; import the existing factory instead').toEqual([]);
  });

  it('documents every TRIB_ code declared in the sources', () => {
    let doc = readFileSync(DOC, 'utf8');
    if (process.env.UPDATE_ERRORS_DOC) {
      const a = doc.indexOf(START);
      const b = doc.indexOf(END);
      expect(a, `docs/errors.md needs the markers ${START} ... ${END}`).toBeGreaterThanOrEqual(0);
      doc = `${doc.slice(0, a + START.length)}\n\n${table(codes)}\n\n${doc.slice(b)}`;
      writeFileSync(DOC, doc);
    }
    const missing = codes.filter((d) => !doc.includes(`\`${d.code}\``)).map((d) => `${d.code} (${d.file})`);
    expect(missing, 'add these to docs/errors.md (UPDATE_ERRORS_DOC=1 regenerates the table)').toEqual([]);
  });
});
