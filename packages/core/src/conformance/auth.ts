import { describe, expect, it } from 'vitest';
import type { AuthProvider } from '../contracts/auth.js';
import { staticCredentials } from '../credentials.js';

export interface AuthConformanceOptions {
  create: () => Promise<AuthProvider>;
  /** Whether the provider's mechanisms need a secure connection (PLAIN). */
  secure?: boolean;
}

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

/** The cases every auth plugin must pass. */
export function runAuthConformance(name: string, options: AuthConformanceOptions): void {
  describe(`auth conformance: ${name}`, () => {
    it('authenticates a known user with the right password on every mechanism', async () => {
      const provider = await options.create();
      for (const mechanism of provider.mechanisms) {
        const who = await exchange(provider, mechanism, { username: 'alice', password: 'pencil' }, { alice: 'pencil' }, options.secure ?? true);
        expect(who).toBe('alice');
      }
    });
  });
}
