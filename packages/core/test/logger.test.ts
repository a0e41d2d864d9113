import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { componentLogger, createLogger, silentLogger } from '../src/index.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { lines, stream };
}

describe('logger', () => {
  it('is silent by default under a test runner', () => {
    expect(process.env.VITEST).toBeTruthy();
    const log = createLogger();
    expect(log.level).toBe('silent');
    expect(log.isLevelEnabled('error')).toBe(false);
    expect(silentLogger.isLevelEnabled('fatal')).toBe(false);
  });

  it('honours an explicit level and TRIBUTARY_LOG_LEVEL', () => {
    expect(createLogger({ level: 'debug' }).level).toBe('debug');
    const before = process.env.TRIBUTARY_LOG_LEVEL;
    process.env.TRIBUTARY_LOG_LEVEL = 'warn';
    try {
      expect(createLogger().level).toBe('warn');
    } finally {
      if (before === undefined) delete process.env.TRIBUTARY_LOG_LEVEL;
      else process.env.TRIBUTARY_LOG_LEVEL = before;
    }
  });

  it('gives each component a child that carries `component` (and extra bindings) on every line', () => {
    const { lines, stream } = capture();
    const root = createLogger({ level: 'info', destination: stream, name: 'app' });
    const ds = componentLogger(root, 'datasource', { bucket: 'beer' });
    ds.info({ vb: 3 }, 'stream open');
    componentLogger(ds, 'worker').warn('slow');
    root.info('plain');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      component: 'datasource',
      bucket: 'beer',
      vb: 3,
      msg: 'stream open',
      name: 'app',
    });
    expect(lines[1]).toMatchObject({ component: 'worker', bucket: 'beer', msg: 'slow', level: 40 });
    expect(lines[2]).not.toHaveProperty('component');
    // No pid/hostname noise unless asked for.
    expect(lines[2]).not.toHaveProperty('pid');
  });

  it('falls back to the silent logger when a component gets none', () => {
    const log = componentLogger(undefined, 'pool');
    expect(log.isLevelEnabled('error')).toBe(false);
    expect(log.bindings()).toMatchObject({ component: 'pool' });
  });
});
