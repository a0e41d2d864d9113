import { createUserStore } from '@tributary/channel-index';
import { isTributaryError } from '@tributary/core';
import { createMemoryStore } from '@tributary/store-memory';
import { describe, expect, it } from 'vitest';

const invalid = (field: string) => (e: unknown) =>
  isTributaryError(e, 'TRIB_INVALID_ARGUMENT') && String((e as Error).message).includes(field);

describe('user store', () => {
  it('refuses bad names and passwords with typed errors, and stores nothing for them', async () => {
    const store = createMemoryStore();
    const users = createUserStore({ store, iterations: 16 });
    for (const name of ['', 'x'.repeat(129), 'a:b', 'tab\there', 'del\u007f']) {
      await expect(users.put(name, { password: 'pw' })).rejects.toSatisfy(invalid('name'));
    }
    await expect(users.put('u', { password: '' })).rejects.toSatisfy(invalid('password'));
    await expect(users.put('u', { channels: ['a'] })).rejects.toSatisfy(invalid('password'));
    expect(await users.list()).toEqual([]);
    // the longest name allowed, with every other character
    const longest = `é${'x'.repeat(127)}`;
    expect(await users.put(longest, { password: 'pw', channels: ['b', 'a', 'b'] })).toEqual({
      created: true,
    });
    expect(await users.get(longest)).toEqual({ name: longest, channels: ['a', 'b'] });
    expect((await users.authenticate(longest, 'pw'))?.channels).toEqual(['a', 'b']);
    expect(await users.authenticate(longest, 'wrong')).toBeUndefined();
    await expect(users.delete('nobody')).rejects.toSatisfy((e) =>
      isTributaryError(e, 'TRIB_CHANGES_UNKNOWN_USER'),
    );
    await users.delete(longest);
    expect(await users.list()).toEqual([]);
  });

  it('needs a store', () => {
    expect(() => createUserStore({} as never)).toThrow(
      expect.objectContaining({ code: 'TRIB_INVALID_ARGUMENT' }),
    );
  });
});
