import { createRegistry, isTributaryError, staticCredentials } from '@tributary/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPlainProvider, plugin } from '../src/index.js';

const enc = (s: string) => new TextEncoder().encode(s);
const users = staticCredentials({ alice: 'pencil' });

async function failure(p: () => unknown): Promise<unknown> {
  try {
    await p();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('auth-plain', () => {
  it('sends "\\0user\\0password" as Couchbase expects', () => {
    const c = createPlainProvider().createClient({ username: 'user', password: 'pencil', secure: true });
    expect(Buffer.from(c.start()).toString('hex')).toBe('00757365720070656e63696c');
  });

  it('refuses PLAIN on an insecure connection on both halves unless allowed', async () => {
    const provider = createPlainProvider();
    const clientErr = await failure(() =>
      provider.createClient({ username: 'alice', password: 'pencil', secure: false }),
    );
    expect(isTributaryError(clientErr, 'TRIB_AUTH_FAILED')).toBe(true);
    expect((clientErr as Error).message).toMatch(/allowInsecurePlain/);
    const server = provider.createServer({ credentials: users, secure: false });
    expect(server.mechanisms).toEqual([]);
    const serverErr = await failure(() => server.begin('PLAIN', enc('\0alice\0pencil')));
    expect(isTributaryError(serverErr, 'TRIB_AUTH_FAILED')).toBe(true);

    const allowed = createPlainProvider({ allowInsecurePlain: true });
    const s = allowed.createServer({ credentials: users, secure: false });
    expect(s.mechanisms).toEqual(['PLAIN']);
    const c = allowed.createClient({ username: 'alice', password: 'pencil', secure: false });
    expect(await s.begin('PLAIN', c.start())).toEqual({ done: true, username: 'alice' });
  });

  it('accepts an authzid equal to the user and refuses another one', async () => {
    const provider = createPlainProvider();
    const ok = await provider
      .createServer({ credentials: users, secure: true })
      .begin('PLAIN', enc('alice\0alice\0pencil'));
    expect(ok).toEqual({ done: true, username: 'alice' });
    const err = await failure(() =>
      provider.createServer({ credentials: users, secure: true }).begin('PLAIN', enc('root\0alice\0pencil')),
    );
    expect(isTributaryError(err, 'TRIB_AUTH_FAILED')).toBe(true);
  });

  it('any bytes end in TRIB_AUTH_FAILED unless they carry the right password (property)', async () => {
    const provider = createPlainProvider({ iterations: 1 });
    const cheap = staticCredentials({ alice: 'pencil' }, { iterations: 1 });
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
        const err = await failure(() =>
          provider.createServer({ credentials: cheap, secure: true }).begin('PLAIN', bytes),
        );
        expect(isTributaryError(err, 'TRIB_AUTH_FAILED')).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('registers as the "plain" auth plugin', async () => {
    const registry = createRegistry();
    registry.register(plugin);
    const provider = await registry.create('auth', 'plain', { allowInsecurePlain: true });
    expect(provider.mechanisms).toEqual(['PLAIN']);
    expect(provider.createServer({ credentials: users, secure: false }).mechanisms).toEqual(['PLAIN']);
  });
});
