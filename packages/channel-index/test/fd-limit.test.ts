// Issue #22: at `ulimit -n 1024`, 705 of 1,500 clients of the `_changes` server were reset with
// nothing logged (accept failed with EMFILE and libuv shed the backlog). The connection cap now
// stays within the process's file-descriptor limit: each client gets an answer, 200 or 503.
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

const AUTH = `Basic ${Buffer.from('admin:admin-pw').toString('base64')}`;

/** One request on a new connection; resolves with the status, or how it ended without one. */
function ask(port: number): Promise<{ status: number | string; socket: net.Socket }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    let done = false;
    const finish = (status: number | string) => {
      if (done) return;
      done = true;
      resolve({ status, socket });
    };
    socket.on('connect', () =>
      socket.write(`GET /db/_changes?limit=1 HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\n\r\n`),
    );
    socket.on('data', (d) => {
      got += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m && got.includes('\r\n\r\n')) finish(Number(m[1]));
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish(String(err.code)));
    socket.on('close', () => finish('closed unanswered'));
  });
}

describe('_changes server under ulimit -n 1024 (#22)', () => {
  it('1,500 clients: each is answered 200 or 503 (none reset), the refusals counted and logged once', {
    timeout: 60_000,
  }, async () => {
    const fixture = join(__dirname, 'fixtures', 'changes-child.ts');
    const child: ChildProcess = spawn(
      '/bin/sh',
      [
        '-c',
        `ulimit -n 1024 && exec "${process.execPath}" --import tsx --conditions=@tributary/source "${fixture}"`,
      ],
      { cwd: __dirname, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    cleanups.push(() => child.kill('SIGKILL'));
    const lines: Record<string, unknown>[] = [];
    let wake: (() => void) | undefined;
    createInterface({ input: child.stdout! }).on('line', (l) => {
      lines.push(JSON.parse(l));
      wake?.();
    });
    const next = async (key: string) => {
      for (;;) {
        const found = lines.find((l) => key in l);
        if (found) return found;
        await new Promise<void>((r) => (wake = r));
      }
    };
    const { port } = (await next('port')) as { port: number };
    const statuses: (number | string)[] = [];
    const held: net.Socket[] = [];
    cleanups.push(() => {
      for (const s of held) s.destroy();
    });
    // 30 waves of 50 clients at once; every admitted one stays connected (keep-alive).
    for (let wave = 0; wave < 30; wave++) {
      for (const r of await Promise.all(Array.from({ length: 50 }, () => ask(port)))) {
        statuses.push(r.status);
        if (r.status === 200) held.push(r.socket);
        else r.socket.destroy();
      }
    }
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    const admitted = statuses.filter((s) => s === 200).length;
    const refused = statuses.length - admitted;
    expect(admitted).toBeGreaterThan(500);
    expect(refused).toBeGreaterThan(0);
    child.stdin!.write('stats\n');
    const { stats } = (await next('stats')) as {
      stats: { connections: number; counters: Record<string, number> };
    };
    expect(stats.connections).toBe(admitted);
    expect(stats.counters.refused_too_many_connections).toBe(refused);
    const warned = lines.filter((l) => l.msg === 'connection refused');
    expect(warned.length).toBeGreaterThanOrEqual(1);
    expect(warned.length).toBeLessThanOrEqual(3); // once, then one summary per 10 s window
  });
});
