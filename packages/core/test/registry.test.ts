import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createRegistry, definePlugin, isTributaryError, optionsParser } from '../src/index.js';

const memoryish = definePlugin({
  kind: 'store',
  name: 'fake',
  apiVersion: 1,
  parseOptions: optionsParser('fake', z.object({ size: z.number().int().positive() })),
  create: (o) => ({ size: o.size }) as never,
});

describe('registry', () => {
  it('registers, gets, lists and creates with validated options', async () => {
    const r = createRegistry();
    r.register(memoryish);
    expect(r.get('store', 'fake')).toBe(memoryish);
    expect(r.list('store').map((m) => m.name)).toEqual(['fake']);
    expect(await r.create('store', 'fake', { size: 3 })).toEqual({ size: 3 });
    const err = await r.create('store', 'fake', { size: -1 }).catch((e) => e);
    expect(isTributaryError(err, 'TRIB_PLUGIN_OPTIONS')).toBe(true);
    expect(err.message).toContain('"size"');
  });
});
