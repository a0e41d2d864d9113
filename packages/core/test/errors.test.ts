import { describe, expect, it } from 'vitest';
import {
  defineError,
  ErrConnectRefused,
  ErrPluginNotFound,
  isTributaryError,
  TributaryError,
} from '../src/index.js';

describe('errors', () => {
  it('defineError makes a factory with a stable code, message template and defaults', () => {
    const ErrPoolTimeout = defineError(
      'TRIB_TEST_POOL_TIMEOUT',
      (endpoint: string, ms: number) => `acquire from ${endpoint} timed out after ${ms} ms`,
      { retriable: true },
    );
    const err = ErrPoolTimeout('127.0.0.1:11210', 250);
    expect(err).toBeInstanceOf(TributaryError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('TRIB_TEST_POOL_TIMEOUT');
    expect(ErrPoolTimeout.code).toBe('TRIB_TEST_POOL_TIMEOUT');
    expect(err.message).toBe('acquire from 127.0.0.1:11210 timed out after 250 ms');
    expect(err.retriable).toBe(true);
    expect(err.details).toEqual({});
    expect(err.name).toBe('TributaryError');
    expect(String(err)).toBe(
      'TributaryError [TRIB_TEST_POOL_TIMEOUT]: acquire from 127.0.0.1:11210 timed out after 250 ms',
    );
    expect(ErrPoolTimeout.is(err)).toBe(true);
    expect(ErrPoolTimeout.is(ErrConnectRefused('x'))).toBe(false);
    expect(err.stack).toContain('errors.test.ts');
  });

  it('carries cause and details, and lets a call override retriable', () => {
    const cause = new Error('ECONNREFUSED');
    const err = ErrConnectRefused('db:5432', { cause, details: { attempt: 3 }, retriable: false });
    expect(err.cause).toBe(cause);
    expect(err.details).toEqual({ attempt: 3 });
    expect(err.retriable).toBe(false);
    expect(ErrConnectRefused('db:5432').retriable).toBe(true);
    expect('cause' in ErrConnectRefused('x')).toBe(false);
  });

  it('refuses codes that do not look like TRIB_AREA_WHAT', () => {
    expect(() => defineError('POOL_TIMEOUT', () => 'x')).toThrow(TypeError);
    expect(() => defineError('TRIB_lower', () => 'x')).toThrow(TypeError);
  });

  it('formats list arguments in messages', () => {
    expect(ErrPluginNotFound('store', 'x', []).message).toContain('registered: none');
    expect(ErrPluginNotFound('store', 'x', ['a', 'b']).message).toContain('registered: a, b');
  });

  it('isTributaryError matches by brand and code, never by instanceof', async () => {
    const err = ErrConnectRefused('h:1');
    expect(isTributaryError(err)).toBe(true);
    expect(isTributaryError(err, 'TRIB_CONNECT_REFUSED')).toBe(true);
    expect(isTributaryError(err, 'TRIB_CONNECT_TIMEOUT')).toBe(false);
    expect(isTributaryError(new Error('x'))).toBe(false);
    expect(
      isTributaryError(
        Object.assign(new Error('x'), { code: 'TRIB_CONNECT_REFUSED' }),
        'TRIB_CONNECT_REFUSED',
      ),
    ).toBe(false);
    expect(isTributaryError(null)).toBe(false);
    expect(isTributaryError('TRIB_CONNECT_REFUSED')).toBe(false);

    // A second copy of the module, as when two versions of core are installed side by side.
    // @ts-expect-error -- the query string makes vite load a second, separate instance of the module.
    const copy = (await import('../src/errors.ts?duplicate-install')) as typeof import('../src/errors.js');
    expect(copy.TributaryError).not.toBe(TributaryError);
    const foreign = copy.defineError('TRIB_TEST_FOREIGN', () => 'from another copy')();
    expect(foreign instanceof TributaryError).toBe(false);
    expect(isTributaryError(foreign, 'TRIB_TEST_FOREIGN')).toBe(true);
    expect(copy.isTributaryError(err, 'TRIB_CONNECT_REFUSED')).toBe(true);

    // Anything carrying the global brand counts, e.g. an error serialised-and-rebuilt by a plugin.
    const branded = { [Symbol.for('@tributary/error')]: true, code: 'TRIB_X_Y', message: 'm' };
    expect(isTributaryError(branded, 'TRIB_X_Y')).toBe(true);
  });
});
