// Keeps the README example true: runs its code block and checks the output it promises.
import { readFileSync } from 'node:fs';
import * as codec from '@tributary/codec';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it('the example runs and prints what it says', async () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const body = (block as string).replace(
      /import \{([\s\S]*?)\} from '@tributary\/codec';/,
      'const {$1} = codec;',
    );
    const lines: string[] = [];
    const log = (...args: unknown[]) => lines.push(args.map(String).join(' '));
    new Function('codec', 'console', 'Buffer', body)(codec, { log }, Buffer);
    const promised = /\/\/ → (.*)/.exec(block as string)?.[1];
    expect(lines).toEqual([promised]);
  });
});
