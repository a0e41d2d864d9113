// `tributary serve --allow-plain`: clients that speak only SASL PLAIN (Go cbdatasource) can log in
// over plain TCP; without the flag PLAIN is refused there, and the log says how to allow it.
import net from 'node:net';
import { createPlainProvider } from '@tributary/auth-plain';
import { encodeSaslAuth, encodeSaslListMechs, FrameDecoder, type Packet } from '@tributary/codec';
import { describe, expect, it } from 'vitest';
import { run } from '../src/index.js';

function start(args: string[], signal: AbortSignal) {
  let out = '';
  let err = '';
  const done = run(['node', 'tributary', ...args], {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    isTTY: false,
    signal,
  });
  return { done, out: () => out, err: () => err };
}

async function until<T>(f: () => T | undefined, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** LIST_MECHS and a PLAIN SASL_AUTH, pipelined; the two replies. */
function plainLogin(port: number): Promise<Packet[]> {
  const client = createPlainProvider({ allowInsecurePlain: true }).createClient({
    mechanism: 'PLAIN',
    username: 'Administrator',
    password: 'password',
    secure: false,
  });
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.write(
        Buffer.concat([
          encodeSaslListMechs({ opaque: 1 }),
          encodeSaslAuth({ opaque: 2, mechanism: 'PLAIN', data: Buffer.from(client.start()) }),
        ]),
      );
    });
    const dec = new FrameDecoder();
    const got: Packet[] = [];
    s.on('data', (c) => {
      got.push(...dec.push(c));
      if (got.length >= 2) {
        s.destroy();
        resolve(got);
      }
    });
    s.once('error', reject);
  });
}

const ARGS = [
  'serve',
  '--port',
  '0',
  '--kv-port',
  '0',
  '--vbuckets',
  '4',
  '--user',
  'Administrator:password',
];

describe('serve --allow-plain', () => {
  for (const allow of [false, true]) {
    it(allow
      ? 'with the flag, PLAIN logs in over plain TCP'
      : 'without it, PLAIN is refused and the log says how to allow it', {
      timeout: 60_000,
    }, async () => {
      const stop = new AbortController();
      const serve = start(allow ? [...ARGS, '--allow-plain'] : ARGS, stop.signal);
      try {
        const kv = await until(() => / kv \S+:(\d+)/.exec(serve.out())?.[1], 'serve to listen');
        const [mechs, auth] = await plainLogin(Number(kv));
        expect(mechs.value.toString().split(' ').includes('PLAIN')).toBe(allow);
        expect(auth.status).toBe(allow ? 0 : 0x20);
        if (allow) expect(serve.out()).toMatch(/--allow-plain/);
        else await until(() => (/--allow-plain/.test(serve.err()) ? true : undefined), 'the refusal log');
      } finally {
        stop.abort();
        expect(await serve.done).toBe(130);
      }
    });
  }
});
