import { describe, expect, it } from 'vitest';
import type { AuthProvider, SaslServerStep } from '../contracts/auth.js';
import { staticCredentials } from '../credentials.js';
import { isTributaryError } from '../errors.js';

export interface AuthConformanceOptions {
  create: () => Promise<AuthProvider>;
  /** Whether the provider's mechanisms need a secure connection (PLAIN). */
  secure?: boolean;
  /**
   * For SCRAM providers: makes a provider whose nonces come from `nonce` (client and server halves
   * each call it once per exchange), so the RFC 5802 (SCRAM-SHA-1) and RFC 7677 (SCRAM-SHA-256)
   * test vectors can be replayed byte for byte. Omit for non-SCRAM providers.
   */
  createWithNonce?: (nonce: () => string) => Promise<AuthProvider>;
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Runs a full client/server exchange, as a data node or the transport handshake would. */
export async function exchange(
  provider: AuthProvider,
  mechanism: string,
  client: { username: string; password: string },
  users: Record<string, string>,
  secure = true,
): Promise<string> {
  const server = provider.createServer({ credentials: staticCredentials(users), secure });
  const c = provider.createClient({ mechanism, ...client, secure });
  let step = await server.begin(mechanism, c.start());
  while (!step.done) step = await server.step(c.step(step.challenge));
  if (step.final) c.finish(step.final);
  return step.username;
}

/** A recorded exchange: every client message and the last server step. */
async function recordExchange(
  provider: AuthProvider,
  mechanism: string,
  credentials: ReturnType<typeof staticCredentials>,
  client: { username: string; password: string },
  secure: boolean,
): Promise<{ messages: Uint8Array[]; last: SaslServerStep; challenges: number }> {
  const server = provider.createServer({ credentials, secure });
  const c = provider.createClient({ mechanism, ...client, secure });
  const messages = [c.start()];
  let step = await server.begin(mechanism, messages[0]!);
  let challenges = 0;
  while (!step.done) {
    challenges++;
    const m = c.step(step.challenge);
    messages.push(m);
    step = await server.step(m);
  }
  if (step.final) c.finish(step.final);
  return { messages, last: step, challenges };
}

/** Runs the server side with these client messages; resolves to the error (or undefined on success). */
async function serverOutcome(
  provider: AuthProvider,
  mechanism: string,
  credentials: ReturnType<typeof staticCredentials>,
  respond: (challenge: Uint8Array | undefined, i: number) => Uint8Array,
  secure: boolean,
): Promise<unknown> {
  const server = provider.createServer({ credentials, secure });
  try {
    let step = await server.begin(mechanism, respond(undefined, 0));
    let i = 1;
    while (!step.done) {
      if (i > 10) throw new Error('exchange does not end');
      step = await server.step(respond(step.challenge, i++));
    }
    return undefined;
  } catch (err) {
    return err;
  }
}

async function failure(p: () => Promise<unknown>): Promise<unknown> {
  try {
    await p();
  } catch (err) {
    return err;
  }
  return undefined;
}

function expectCode(err: unknown, code: string): void {
  expect(isTributaryError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** RFC 5802 §5 and RFC 7677 §3: user "user", password "pencil". */
const VECTORS = [
  {
    mechanism: 'SCRAM-SHA1',
    hash: 'SHA-1' as const,
    clientNonce: 'fyko+d2lbbFgONRv9qkxdawL',
    serverNonce: '3rfcNHYJY1ZVvWVs7j',
    salt: 'QSXCR+Q6sek8bf92',
    clientFirst: 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL',
    serverFirst: 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096',
    clientFinal: 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
    serverFinal: 'v=rmF9pqV8S7suAoZWja4dJRkFsKQ=',
  },
  {
    mechanism: 'SCRAM-SHA256',
    hash: 'SHA-256' as const,
    clientNonce: 'rOprNGfwEbeRWgbNEkqO',
    serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
    salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
    clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
    serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    clientFinal:
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
  },
];

/** The cases every auth plugin must pass. */
export function runAuthConformance(name: string, options: AuthConformanceOptions): void {
  const secure = options.secure ?? true;
  const alice = staticCredentials({ alice: 'pencil' });

  describe(`auth conformance: ${name}`, () => {
    it('has a name and offers at least one mechanism', async () => {
      const provider = await options.create();
      expect(provider.name.length).toBeGreaterThan(0);
      expect(provider.mechanisms.length).toBeGreaterThan(0);
      const server = provider.createServer({ credentials: alice, secure });
      for (const m of server.mechanisms) expect(provider.mechanisms).toContain(m);
    });

    it('authenticates a known user with the right password on every mechanism', async () => {
      const provider = await options.create();
      for (const mechanism of provider.mechanisms) {
        const who = await exchange(
          provider,
          mechanism,
          { username: 'alice', password: 'pencil' },
          { alice: 'pencil' },
          secure,
        );
        expect(who).toBe('alice');
      }
    });

    it('handles names and passwords with commas, equals signs and non-ASCII', async () => {
      const provider = await options.create();
      const username = 'bob,=the builder';
      const password = 'p=ss,wörd ✓';
      for (const mechanism of provider.mechanisms) {
        expect(
          await exchange(provider, mechanism, { username, password }, { [username]: password }, secure),
        ).toBe(username);
      }
    });

    it('rejects a wrong password with TRIB_AUTH_FAILED on every mechanism', async () => {
      const provider = await options.create();
      for (const mechanism of provider.mechanisms) {
        const err = await failure(() =>
          exchange(provider, mechanism, { username: 'alice', password: 'pen' }, { alice: 'pencil' }, secure),
        );
        expectCode(err, 'TRIB_AUTH_FAILED');
      }
    });

    it('rejects an unknown user exactly like a wrong password (same code and message)', async () => {
      const provider = await options.create();
      for (const mechanism of provider.mechanisms) {
        const wrong = await failure(() =>
          exchange(provider, mechanism, { username: 'alice', password: 'nope' }, { alice: 'pencil' }, secure),
        );
        const unknown = await failure(() =>
          exchange(
            provider,
            mechanism,
            { username: 'mallory', password: 'nope' },
            { alice: 'pencil' },
            secure,
          ),
        );
        expectCode(wrong, 'TRIB_AUTH_FAILED');
        expectCode(unknown, 'TRIB_AUTH_FAILED');
        expect((unknown as Error).message).toBe((wrong as Error).message);
        expect((unknown as Error).message).not.toMatch(/mallory|unknown|no such|not found/i);
      }
    });

    it('takes as long for an unknown user as for a wrong password (server side)', {
      timeout: 60_000,
    }, async () => {
      const provider = await options.create();
      const credentials = staticCredentials({ alice: 'pencil' });
      for (const mechanism of provider.mechanisms) {
        // Client messages are prepared outside the timed region; only the server's work is timed.
        const prepare = (username: string) => {
          const c = provider.createClient({ mechanism, username, password: 'wrong', secure });
          return c;
        };
        const time = async (username: string) => {
          const c = prepare(username);
          const server = provider.createServer({ credentials, secure });
          const first = c.start();
          let t = process.hrtime.bigint();
          let step: SaslServerStep | undefined;
          let elapsed = 0n;
          try {
            step = await server.begin(mechanism, first);
            elapsed += process.hrtime.bigint() - t;
            while (!step.done) {
              const next = c.step(step.challenge);
              t = process.hrtime.bigint();
              step = await server.step(next);
              elapsed += process.hrtime.bigint() - t;
            }
          } catch {
            elapsed += process.hrtime.bigint() - t;
          }
          return Number(elapsed) / 1e6;
        };
        const wrong: number[] = [];
        const unknown: number[] = [];
        for (let i = 0; i < 3; i++) await time('alice'); // warm-up
        for (let i = 0; i < 21; i++) {
          wrong.push(await time('alice'));
          unknown.push(await time(`nobody-${i}`));
        }
        const a = median(wrong);
        const b = median(unknown);
        // Loose on purpose (shared machines): catches a skipped key derivation or an early return,
        // which differ by whole milliseconds or by orders of magnitude.
        const close = Math.abs(a - b) < 1 || (b / a < 3 && a / b < 3);
        expect(
          close,
          `${mechanism}: wrong password median ${a.toFixed(3)} ms vs unknown user ${b.toFixed(3)} ms`,
        ).toBe(true);
      }
    });

    it('rejects malformed first messages with TRIB_AUTH_FAILED, never another error', async () => {
      const provider = await options.create();
      const bad: Uint8Array[] = [
        new Uint8Array(0),
        enc(','),
        enc('garbage'),
        new Uint8Array([0xff, 0xfe, 0xfd, 0x00, 0xc3]),
        enc('\0\0'),
        enc('n,,'),
        enc('n,,n=,r='),
        enc('p=tls-unique,,n=alice,r=abc'),
        enc('n,,r=abc,n=alice'),
        enc('n,,n=alice,r=a,b'),
        enc('n,,n=al=ice,r=abc'),
        enc('n,,m=ext,n=alice,r=abc'),
        enc(`n,,n=alice,r=${'x'.repeat(70_000)}`),
        new Uint8Array(1024 * 1024).fill(0x41),
      ];
      for (const mechanism of provider.mechanisms) {
        for (const initial of bad) {
          const server = provider.createServer({ credentials: alice, secure });
          const err = await failure(async () => {
            let step = await server.begin(mechanism, initial);
            // Some garbage might parse as a first message; then the exchange must still fail.
            for (let i = 0; !step.done && i < 5; i++) step = await server.step(enc('c=biws,r=x,p=AAAA'));
            if (step.done) throw new Error(`accepted malformed input as ${step.username}`);
          });
          expectCode(err, 'TRIB_AUTH_FAILED');
        }
      }
    });

    it('rejects malformed later messages with TRIB_AUTH_FAILED', async () => {
      const provider = await options.create();
      const badFinals = [
        new Uint8Array(0),
        enc('garbage'),
        new Uint8Array([0xff, 0x00]),
        enc('c=biws'),
        enc('c=biws,p=AAAA'),
        enc('c=bm90LWJpd3M=,r=x,p=AAAA'),
        enc('c=biws,r=x,p=not*base64'),
        enc('r=x,c=biws,p=AAAA'),
        new Uint8Array(1024 * 1024).fill(0x41),
      ];
      for (const mechanism of provider.mechanisms) {
        const c = provider.createClient({ mechanism, username: 'alice', password: 'pencil', secure });
        const probe = provider.createServer({ credentials: alice, secure });
        const first = c.start();
        const step = await probe.begin(mechanism, first);
        if (step.done) continue; // single-step mechanism: nothing later to malform
        for (const final of badFinals) {
          const server = provider.createServer({ credentials: alice, secure });
          const s = await server.begin(mechanism, first);
          expect(s.done).toBe(false);
          expectCode(await failure(() => server.step(final)), 'TRIB_AUTH_FAILED');
          // A failed exchange stays failed.
          expectCode(await failure(() => server.step(final)), 'TRIB_AUTH_FAILED');
        }
      }
    });

    it('refuses a replayed exchange (client messages recorded from a successful run)', async () => {
      const provider = await options.create();
      for (const mechanism of provider.mechanisms) {
        const recorded = await recordExchange(
          provider,
          mechanism,
          alice,
          { username: 'alice', password: 'pencil' },
          secure,
        );
        expect(recorded.last.done).toBe(true);
        if (recorded.challenges === 0) continue; // no server nonce in a single-step mechanism (PLAIN)
        const err = await serverOutcome(provider, mechanism, alice, (_c, i) => recorded.messages[i]!, secure);
        expectCode(err, 'TRIB_AUTH_FAILED');
      }
    });

    it('refuses to step a server after it finished or before it began', async () => {
      const provider = await options.create();
      for (const mechanism of provider.mechanisms) {
        const fresh = provider.createServer({ credentials: alice, secure });
        expectCode(await failure(() => fresh.step(enc('c=biws,r=x,p=AAAA'))), 'TRIB_AUTH_FAILED');
        const server = provider.createServer({ credentials: alice, secure });
        const c = provider.createClient({ mechanism, username: 'alice', password: 'pencil', secure });
        let step = await server.begin(mechanism, c.start());
        let last: Uint8Array = new Uint8Array(0);
        while (!step.done) {
          last = c.step(step.challenge);
          step = await server.step(last);
        }
        expectCode(await failure(() => server.step(last)), 'TRIB_AUTH_FAILED');
        expectCode(await failure(() => server.begin(mechanism, c.start())), 'TRIB_AUTH_FAILED');
      }
    });

    it('refuses a mechanism it does not offer with TRIB_AUTH_MECHANISM (server and client)', async () => {
      const provider = await options.create();
      for (const m of ['GSSAPI', 'SCRAM-SHA-999', '', 'OAUTHBEARER']) {
        const server = provider.createServer({ credentials: alice, secure });
        const err = await failure(() => server.begin(m, enc('n,,n=alice,r=abc')));
        expectCode(err, 'TRIB_AUTH_MECHANISM');
      }
      expectCode(
        await failure(async () =>
          provider.createClient({ mechanism: 'GSSAPI', username: 'alice', password: 'x', secure }),
        ),
        'TRIB_AUTH_MECHANISM',
      );
    });

    it('the client rejects a server final message that does not prove the credential', async () => {
      const provider = await options.create();
      for (const mechanism of provider.mechanisms) {
        const server = provider.createServer({ credentials: alice, secure });
        const c = provider.createClient({ mechanism, username: 'alice', password: 'pencil', secure });
        let step = await server.begin(mechanism, c.start());
        while (!step.done) step = await server.step(c.step(step.challenge));
        if (!step.final) continue; // nothing to verify (PLAIN)
        const forged = Buffer.from(step.final);
        const text = dec(forged);
        // Change one character early in the signature (all six of its bits are data; the last
        // character before the padding is not), keeping it valid base64.
        const i = Math.min(4, text.length - 1);
        const flipped = text.slice(0, i) + (text[i] === 'A' ? 'g' : 'A') + text.slice(i + 1);
        expectCode(await failure(async () => c.finish(enc(flipped))), 'TRIB_AUTH_FAILED');
      }
    });

    if (options.createWithNonce) {
      const createWithNonce = options.createWithNonce;
      for (const v of VECTORS) {
        it(`reproduces the ${v.hash === 'SHA-1' ? 'RFC 5802' : 'RFC 7677'} test vector (${v.mechanism})`, async () => {
          const clientSide = await createWithNonce(() => v.clientNonce);
          const serverSide = await createWithNonce(() => v.serverNonce);
          const credentials = staticCredentials(
            { user: 'pencil' },
            { salt: Buffer.from(v.salt, 'base64'), iterations: 4096, hashes: [v.hash] },
          );
          const client = clientSide.createClient({
            mechanism: v.mechanism,
            username: 'user',
            password: 'pencil',
            secure,
          });
          const server = serverSide.createServer({ credentials, secure });
          const first = client.start();
          expect(dec(first)).toBe(v.clientFirst);
          const s1 = await server.begin(v.mechanism, first);
          expect(s1.done).toBe(false);
          const challenge = (s1 as { challenge: Uint8Array }).challenge;
          expect(dec(challenge)).toBe(v.serverFirst);
          const final = client.step(challenge);
          expect(dec(final)).toBe(v.clientFinal);
          const s2 = await server.step(final);
          expect(s2).toMatchObject({ done: true, username: 'user' });
          expect(dec((s2 as { final: Uint8Array }).final)).toBe(v.serverFinal);
          client.finish((s2 as { final: Uint8Array }).final);
        });
      }
    }
  });
}
