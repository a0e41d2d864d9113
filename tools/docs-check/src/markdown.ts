import { readFileSync } from 'node:fs';

/** A fenced code block of a markdown file, with the marker comment right above it (if any). */
export interface CodeBlock {
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  code: string;
  /** `<!-- example: path -->`: the repository-relative file the block must equal. */
  example?: string;
  /** `<!-- not-run: why -->`: a block that is deliberately not an example (docs/ only). */
  notRun?: string;
}

const MARKER = /^<!--\s*(example|not-run):\s*(.+?)\s*-->$/;

/** Every fenced block (``` or ~~~) of a markdown text, in order. */
export function codeBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    // Fences may be indented (inside a list item).
    const open = /^\s*(```+|~~~+)\s*([\w+-]*)/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    const start = i;
    const body: string[] = [];
    const indent = /^\s*/.exec(lines[i]!)![0].length;
    for (i++; i < lines.length && !lines[i]!.trimStart().startsWith(fence); i++)
      body.push(lines[i]!.slice(Math.min(indent, /^\s*/.exec(lines[i]!)![0].length)));
    const marker = start > 0 ? MARKER.exec(lines[start - 1]!.trim()) : null;
    blocks.push({
      line: start + 1,
      lang: open[2] ?? '',
      code: `${body.join('\n')}\n`,
      example: marker?.[1] === 'example' ? marker[2] : undefined,
      notRun: marker?.[1] === 'not-run' ? marker[2] : undefined,
    });
  }
  return blocks;
}

export function codeBlocksOf(path: string): CodeBlock[] {
  return codeBlocks(readFileSync(path, 'utf8'));
}

/** TypeScript or JavaScript: the blocks that must be runnable examples. */
export function isCode(lang: string): boolean {
  return ['ts', 'typescript', 'js', 'javascript', 'mjs', 'tsx'].includes(lang);
}
