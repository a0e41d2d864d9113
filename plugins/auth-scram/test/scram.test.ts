import { createRegistry, deriveCredential, isTributaryError, staticCredentials } from '@tributary/core';
import { exchange } from '@tributary/core/conformance';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createScramProvider, plugin, scramHashFor } from '../src/index.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const users = staticCredentials({ alice: 'pencil' });

async function failure(p: () => unknown): Promise<unknown> {
  try {
    await p();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('auth-scram', () => {
  it('offers Couchbase spellings strongest first and accepts the IANA aliases', async () => {
    const provider = createScramProvider();
    expect(provider.mechanisms).toEqual(['SCRAM-SHA512', 'SCRAM-SHA256', 'SCRAM-SHA1']);
    for (const m of ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'SCRAM-SHA512', 'scram-sha256']) {
      expect(
        await exchange(provider, m, { username: 'alice', password: 'pencil' }, { alice: 'pencil' }),
      ).toBe('alice');
    }
    expect(scramHashFor('SCRAM-SHA-512')).toBe('SHA-512');
  });

  it('a client and server on different spellings interoperate', async () => {
    const provider = createScramProvider();
    const client = provider.createClient({
      mechanism: 'SCRAM-SHA-512',
      username: 'alice',
      password: 'pencil',
      secure: false,
    });
    const server = provider.createServer({ credentials: users, secure: false });
    const s1 = await server.begin('SCRAM-SHA512', client.start());
    if (s1.done) throw new Error('expected a challenge');
    const s2 = await server.step(client.step(s1.challenge));
    expect(s2.done && s2.username).toBe('alice');
    if (s2.done && s2.final) client.finish(s2.final);
  });

  it('accepts a client nonce with spaces (Couchbase Node SDK)', async () => {
    const provider = createScramProvider({ nonce: () => 'a b c d e f' });
    expect(
      await exchange(
        provider,
        'SCRAM-SHA512',
        { username: 'alice', password: 'pencil' },
        { alice: 'pencil' },
      ),
    ).toBe('alice');
  });

  it('offers only the configured hashes', async () => {
    const provider = createScramProvider({ hashes: ['SHA-256'] });
    expect(provider.mechanisms).toEqual(['SCRAM-SHA256']);
    const server = provider.createServer({ credentials: users, secure: true });
    expect(
      isTributaryError(
        await failure(() => server.begin('SCRAM-SHA512', enc('n,,n=alice,r=abc'))),
        'TRIB_AUTH_MECHANISM',
      ),
    ).toBe(true);
  });

  it('an unknown user gets a stable salt and the real iteration count, like a real user', async () => {
    const provider = createScramProvider({ iterations: 4096 });
    const first = async (username: string) => {
      const server = provider.createServer({ credentials: users, secure: true });
      const s = await server.begin('SCRAM-SHA256', enc(`n,,n=${username},r=abcdef`));
      if (s.done) throw new Error('expected a challenge');
      const attrs = Object.fromEntries(
        dec(s.challenge)
          .split(',')
          .map((kv) => [kv[0], kv.slice(2)]),
      );
      return attrs as { r: string; s: string; i: string };
    };
    const a = await first('mallory');
    const b = await first('mallory');
    const real = await first('alice');
    expect(a.s).toBe(b.s);
    expect(a.i).toBe('4096');
    expect(real.i).toBe('4096');
    expect(Buffer.from(a.s, 'base64').length).toBe(Buffer.from(real.s, 'base64').length);
    expect(a.r).not.toBe(b.r); // fresh server nonce every time
  });

  it('a user without a key for the chosen hash fails like a wrong password', async () => {
    const provider = createScramProvider();
    const onlySha512 = {
      lookup: (u: string) =>
        u === 'alice' ? deriveCredential('alice', 'pencil', { hashes: ['SHA-512'] }) : undefined,
    };
    const client = provider.createClient({
      mechanism: 'SCRAM-SHA1',
      username: 'alice',
      password: 'pencil',
      secure: true,
    });
    const server = provider.createServer({ credentials: onlySha512, secure: true });
    const err = await failure(async () => {
      const s = await server.begin('SCRAM-SHA1', client.start());
      if (!s.done) await server.step(client.step(s.challenge));
    });
    expect(isTributaryError(err, 'TRIB_AUTH_FAILED')).toBe(true);
    expect((err as Error).message).toBe('authentication failed: invalid username or password');
  });

  it('the client refuses a challenge that does not extend its nonce, too few iterations, or a server error', () => {
    const provider = createScramProvider({ nonce: () => 'clientnonce' });
    const mk = () =>
      provider.createClient({
        mechanism: 'SCRAM-SHA256',
        username: 'alice',
        password: 'pencil',
        secure: true,
      });
    const cases = [
      'r=othernonceXYZ,s=QSXCR+Q6sek8bf92,i=4096', // replaced nonce
      'r=clientnonce,s=QSXCR+Q6sek8bf92,i=4096', // not extended
      'r=clientnonceXYZ,s=QSXCR+Q6sek8bf92,i=100', // weak
      'r=clientnonceXYZ,s=QSXCR+Q6sek8bf92,i=99999999', // absurd
      'r=clientnonceXYZ,s=***,i=4096',
      'r=clientnonceXYZ,i=4096',
      'm=ext,r=clientnonceXYZ,s=QSXCR+Q6sek8bf92,i=4096',
      'e=other-error',
    ];
    for (const challenge of cases) {
      const c = mk();
      c.start();
      let err: unknown;
      try {
        c.step(enc(challenge));
      } catch (e) {
        err = e;
      }
      expect(isTributaryError(err, 'TRIB_AUTH_FAILED'), challenge).toBe(true);
    }
  });

  it('the client refuses finish() without a step and a server-final error', () => {
    const provider = createScramProvider();
    const c = provider.createClient({ username: 'alice', password: 'pencil', secure: true });
    expect(c.mechanism).toBe('SCRAM-SHA512');
    c.start();
    expect(() => c.finish(enc('v=AAAA'))).toThrow(/authentication failed/);
  });

  it('any bytes as a first message end in a challenge or TRIB_AUTH_FAILED (property)', async () => {
    const provider = createScramProvider();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
        const server = provider.createServer({ credentials: users, secure: true });
        try {
          const s = await server.begin('SCRAM-SHA256', bytes);
          expect(s.done).toBe(false);
        } catch (err) {
          expect(isTributaryError(err, 'TRIB_AUTH_FAILED')).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('any final message after a real first message is TRIB_AUTH_FAILED (property)', async () => {
    const provider = createScramProvider();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc
            .string({ maxLength: 200 })
            .map((s) => enc(`c=biws,r=${s},p=${Buffer.from(s).toString('base64')}`)),
        ),
        async (bytes) => {
          const server = provider.createServer({ credentials: users, secure: true });
          await server.begin('SCRAM-SHA256', enc('n,,n=alice,r=abcdef'));
          const err = await failure(() => server.step(bytes));
          expect(isTributaryError(err, 'TRIB_AUTH_FAILED')).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('registers as the "scram" auth plugin', async () => {
    const registry = createRegistry();
    registry.register(plugin);
    const provider = await registry.create('auth', 'scram', {
      hashes: ['SHA-512'],
      serverSecret: 'c2VjcmV0',
    });
    expect(provider.mechanisms).toEqual(['SCRAM-SHA512']);
    expect(
      isTributaryError(
        await failure(() => registry.create('auth', 'scram', { iterations: 0 })),
        'TRIB_PLUGIN_OPTIONS',
      ),
    ).toBe(true);
  });
});
