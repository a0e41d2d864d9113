// An auth plugin in one file: one message, `\0user\0password` (as SASL PLAIN), checked against
// the salted credentials core derives. Only on secure connections: it sends the password.
import { randomBytes } from 'node:crypto';
import {
  type AuthProvider,
  definePlugin,
  deriveCredential,
  ErrAuthFailed,
  ErrAuthMechanism,
  optionsParser,
  type SaslServerStep,
  verifyPassword,
} from '@tributary/core';
import { z } from 'zod';

const MECHANISM = 'X-SECRET';
// Unknown users are checked against this, so they cost the same time as a wrong password.
const NOBODY = deriveCredential('', randomBytes(16).toString('hex'));

export function createSecretProvider(): AuthProvider {
  const mechanisms = [MECHANISM] as const;
  return {
    name: 'secret',
    mechanisms,
    createClient({ mechanism = MECHANISM, username, password, secure }) {
      if (mechanism !== MECHANISM) throw ErrAuthMechanism(mechanism, mechanisms);
      if (!secure) throw ErrAuthFailed(`${MECHANISM} needs a secure connection`);
      return {
        mechanism,
        start: () => new TextEncoder().encode(`\0${username}\0${password}`),
        step: () => {
          throw ErrAuthFailed(`${MECHANISM} has no challenges`);
        },
        finish: () => {},
      };
    },
    createServer({ credentials, secure }) {
      let used = false; // one exchange per server half
      return {
        mechanisms,
        async begin(mechanism, initial): Promise<SaslServerStep> {
          if (mechanism !== MECHANISM) throw ErrAuthMechanism(mechanism, mechanisms);
          if (used) throw ErrAuthFailed('the exchange is over');
          used = true;
          if (!secure) throw ErrAuthFailed(`${MECHANISM} needs a secure connection`);
          const parts = new TextDecoder().decode(initial).split('\0');
          if (parts.length !== 3) throw ErrAuthFailed('malformed message');
          const [, username, password] = parts as [string, string, string];
          const credential = await credentials.lookup(username);
          // Every failure is the same error: no telling an unknown user from a wrong password.
          if (!verifyPassword(credential ?? NOBODY, password) || !credential)
            throw ErrAuthFailed('bad username or password');
          return { done: true, username };
        },
        async step() {
          used = true;
          throw ErrAuthFailed(`${MECHANISM} has no second step`);
        },
      };
    },
  };
}

export const plugin = definePlugin<'auth', Record<string, never>>({
  kind: 'auth',
  name: 'secret',
  apiVersion: 1,
  parseOptions: optionsParser('secret', z.object({}).strict()),
  create: () => createSecretProvider(),
});

export const plugins = [plugin];
