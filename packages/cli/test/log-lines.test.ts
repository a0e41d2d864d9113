import { createLogger } from '@tributary/core';
import { describe, expect, it } from 'vitest';
import { formatLogLine, humanLogDestination } from '../src/internal/log-lines.js';

describe('human log lines (the CLI never writes pino JSON to the terminal)', () => {
  it('turns each pino record into one line: time, level, [component], message, fields', () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'debug',
      destination: humanLogDestination((t) => lines.push(t)) as unknown as NodeJS.WritableStream,
    });
    const child = logger.child({ component: 'datasource' });
    child.warn({ vbucket: 7, server: '127.0.0.1:11210', why: 'no answer' }, 'reconnecting');
    child.error({ err: new Error('boom') }, 'worker failed');
    logger.debug('plain');
    logger.trace('not shown');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d WARN \[datasource\] reconnecting vbucket=7 server=127\.0\.0\.1:11210 why="no answer"\n$/,
    );
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d ERROR \[datasource\] worker failed err="boom"\n$/);
    expect(lines[2]).toMatch(/^\d\d:\d\d:\d\d DEBUG plain\n$/);
  });

  it('passes a line that is not JSON through unchanged', () => {
    expect(formatLogLine('not json {')).toBe('not json {');
  });
});
