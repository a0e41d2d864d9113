import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Rewrites every block that follows an `<!-- example: path -->` marker with that file's text
 * (keeping the block's indentation). Returns whether the markdown changed.
 */
export function syncExamples(markdownPath: string, root: string): boolean {
  const before = readFileSync(markdownPath, 'utf8');
  const lines = before.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    out.push(line);
    const marker = /^(\s*)<!--\s*example:\s*(.+?)\s*-->$/.exec(line);
    const open = lines[i + 1] !== undefined ? /^(\s*)(```+)/.exec(lines[i + 1]!) : null;
    if (!marker || !open) continue;
    const indent = open[1]!;
    const fence = open[2]!;
    let end = i + 2;
    while (end < lines.length && !lines[end]!.trimStart().startsWith(fence)) end++;
    const code = readFileSync(join(root, marker[2]!), 'utf8').replace(/\n$/, '').split('\n');
    out.push(lines[i + 1]!, ...code.map((l) => (l ? indent + l : l)), lines[end] ?? `${indent}${fence}`);
    i = end;
  }
  const after = out.join('\n');
  if (after !== before) writeFileSync(markdownPath, after);
  return after !== before;
}
