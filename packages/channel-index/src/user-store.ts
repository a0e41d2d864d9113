import { createHmac, randomBytes } from 'node:crypto';
import {
  deriveCredential,
  ErrInvalidArgument,
  type Store,
  type UserCredential,
  verifyPassword,
} from '@tributary/core';
import { validateChannelName } from './channel-index.js';
import { ErrUnknownUser } from './errors.js';
import { Lru } from './internal/lru.js';

export interface User {
  name: string;
  /** Channels granted; "*" makes the user an admin who sees every channel. */
  channels: string[];
}

export interface UserStoreOptions {
  store: Store;
  /** Key prefix of the user records (default "users:"). */
  prefix?: string;
  /** PBKDF2 iterations of the salted password hash (default 4096). */
  iterations?: number;
}

interface StoredUser {
  name: string;
  channels: string[];
  salt: string;
  iterations: number;
  storedKey: string;
  serverKey: string;
}

export function validateUserName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 128)
    throw ErrInvalidArgument('name', 'must be 1 to 128 characters');
  if (/[:\u0000-\u001f\u007f]/.test(name))
    throw ErrInvalidArgument('name', 'must not contain ":" or control characters');
  return name;
}

/**
 * Users and their channel grants, kept in a store (so every process serving the same index sees
 * them). Passwords are kept only as salted SCRAM-SHA-256 keys.
 */
export class UserStore {
  readonly #store: Store;
  readonly #prefix: string;
  readonly #iterations: number;
  // Verified (user, password) pairs, keyed by a keyed hash of the password, valid while the stored
  // key is unchanged: PBKDF2 once per user and password, not once per request.
  readonly #verified = new Lru<string, string>(10_000);
  readonly #hmacKey = randomBytes(32);

  constructor(options: UserStoreOptions) {
    if (!options?.store) throw ErrInvalidArgument('store', 'required');
    this.#store = options.store;
    this.#prefix = options.prefix ?? 'users:';
    this.#iterations = options.iterations ?? 4096;
  }

  #key(name: string): Buffer {
    return Buffer.from(`${this.#prefix}${name}`);
  }

  async #read(name: string): Promise<StoredUser | undefined> {
    const v = await this.#store.get(this.#key(name));
    return v ? (JSON.parse(Buffer.from(v).toString('utf8')) as StoredUser) : undefined;
  }

  /** Creates or updates a user. A new user needs a password; channels replace the old grants. */
  async put(
    name: string,
    options: { password?: string; channels?: readonly string[] },
  ): Promise<{ created: boolean }> {
    validateUserName(name);
    const channels = [...new Set((options.channels ?? []).map((c) => validateChannelName(c)))].sort();
    const old = await this.#read(name);
    if (!old && typeof options.password !== 'string')
      throw ErrInvalidArgument('password', 'required for a new user');
    let rec: StoredUser;
    if (typeof options.password === 'string') {
      if (options.password.length === 0) throw ErrInvalidArgument('password', 'must not be empty');
      const c = deriveCredential(name, options.password, {
        hashes: ['SHA-256'],
        iterations: this.#iterations,
      }).scram['SHA-256']!;
      rec = {
        name,
        channels,
        salt: Buffer.from(c.salt).toString('base64'),
        iterations: c.iterations,
        storedKey: Buffer.from(c.storedKey).toString('base64'),
        serverKey: Buffer.from(c.serverKey).toString('base64'),
      };
    } else {
      rec = { ...old!, channels: options.channels ? channels : old!.channels };
    }
    await this.#store.batch([{ type: 'put', key: this.#key(name), value: Buffer.from(JSON.stringify(rec)) }]);
    return { created: !old };
  }

  async get(name: string): Promise<User | undefined> {
    const r = await this.#read(name);
    return r ? { name: r.name, channels: [...r.channels] } : undefined;
  }

  async delete(name: string): Promise<void> {
    if (!(await this.#read(name))) throw ErrUnknownUser(name);
    await this.#store.batch([{ type: 'del', key: this.#key(name) }]);
  }

  async list(): Promise<string[]> {
    const out: string[] = [];
    for await (const { key } of this.#store.scan({ prefix: Buffer.from(this.#prefix) })) {
      out.push(Buffer.from(key).toString('utf8').slice(this.#prefix.length));
    }
    return out;
  }

  /** The user when the password is right, else undefined (no difference between unknown user and wrong password). */
  async authenticate(name: string, password: string): Promise<User | undefined> {
    const r = await this.#read(name);
    if (!r) return undefined;
    const tag = `${name}\u0000${createHmac('sha256', this.#hmacKey).update(password).digest('base64')}`;
    if (this.#verified.get(tag) === r.storedKey) return { name: r.name, channels: [...r.channels] };
    const credential: UserCredential = {
      username: name,
      scram: {
        'SHA-256': {
          salt: Buffer.from(r.salt, 'base64'),
          iterations: r.iterations,
          storedKey: Buffer.from(r.storedKey, 'base64'),
          serverKey: Buffer.from(r.serverKey, 'base64'),
        },
      },
    };
    if (!verifyPassword(credential, password)) return undefined;
    this.#verified.set(tag, r.storedKey);
    return { name: r.name, channels: [...r.channels] };
  }
}

export function createUserStore(options: UserStoreOptions): UserStore {
  return new UserStore(options);
}
