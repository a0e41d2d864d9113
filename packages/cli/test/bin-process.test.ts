import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cluster, startCluster } from '@tributary/cluster';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIN_NODE_VERSION, nodeVersionProblem } from '../src/node-version.js';

// The `tributary` executable as a shell runs it: its own process, its stdout a pipe.
const ROOT = join(__dirname, '..', '..', '..');
const BIN = ['--conditions=@tributary/source', '--import', 'tsx', join('packages', 'cli', 'src', 'bin.ts')];

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts the bin; with `closeStdout` the reading end of its stdout is closed at once, as `| head`
 * does once it has its lines, so the program's first write meets EPIPE.
 */
function bin(
  args: string[],
  o: { closeStdout?: boolean; env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {},
): { child: ReturnType<typeof spawn>; ended: Promise<Ended> } {
  const env = { ...process.env, ...o.env };
  delete env.TRIBUTARY_LOG_LEVEL;
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), ...BIN, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  if (o.closeStdout) child.stdout!.destroy();
  else child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const ended = new Promise<Ended>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, ended };
}

/** What the demo left in its TMPDIR (tsx keeps its own cache there too). */
const demoFolders = (tmp: string) => readdirSync(tmp).filter((f) => f.startsWith('tributary-demo-'));

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({
    vbuckets: 8,
    buckets: ['default'],
    users: { Administrator: 'password' },
    basePort: 0,
    kvBasePort: 0,
  });
  for (let i = 0; i < 50; i++) cluster.bucket('default').upsert(`doc-${i}`, { i });
});
afterAll(async () => {
  await cluster?.close();
});

describe('a closed stdout (| head) ends the command quietly', () => {
  it('plugins: exit 0, nothing on stderr', { timeout: 60_000 }, async () => {
    const r = await bin(['plugins'], { closeStdout: true }).ended;
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, signal: null });
  });

  it('tail: stops streaming, exit 0, nothing on stderr', { timeout: 60_000 }, async () => {
    const r = await bin(['tail', '--cluster', cluster.managementUrl, '--user', 'Administrator:password'], {
      closeStdout: true,
    }).ended;
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, signal: null });
  });

  it('demo: stops, removes its temporary LMDB folder, exit 0, nothing on stderr', {
    timeout: 60_000,
  }, async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tributary-demo-tmp-'));
    try {
      const r = await bin(['demo', '--rate', '100'], { closeStdout: true, env: { TMPDIR: tmp } }).ended;
      expect(r.stderr).toBe('');
      expect(r).toMatchObject({ code: 0, signal: null });
      expect(demoFolders(tmp)).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('demo stopped by Ctrl-C after its reader went: exit 130, no stack trace, no folder left', {
    timeout: 60_000,
  }, async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tributary-demo-tmp-'));
    try {
      const p = bin(['demo', '--rate', '100'], { env: { TMPDIR: tmp } });
      // Read up to the last line it prints before running, then go away as `head` does, and
      // press Ctrl-C (the terminal sends SIGINT to the whole pipeline): the "stopped:" line then
      // meets a closed pipe.
      await new Promise<void>((resolve, reject) => {
        let seen = '';
        p.child.stdout!.on('data', (d: Buffer) => {
          seen += d.toString();
          if (seen.includes('Ctrl-C stops')) resolve();
        });
        p.child.once('close', () => reject(new Error(`demo ended early: ${seen}`)));
      });
      expect(demoFolders(tmp)).toHaveLength(1);
      p.child.stdout!.destroy();
      p.child.kill('SIGINT');
      const r = await p.ended;
      expect(r.stderr).toBe('');
      expect(r).toMatchObject({ code: 130, signal: null });
      expect(demoFolders(tmp)).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('demo: its temporary LMDB folder', () => {
  it('is removed when the demo cannot start (its port is taken)', { timeout: 60_000 }, async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tributary-demo-tmp-'));
    const taken = new URL(cluster.managementUrl).port;
    try {
      const r = await bin(['demo', '--port', taken], { env: { TMPDIR: tmp } }).ended;
      expect(r.stderr).toMatch(/^tributary: .*EADDRINUSE/);
      expect(r.code).not.toBe(0);
      expect(demoFolders(tmp)).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('Node.js version', () => {
  it('needs 20.15 (zlib.crc32), as engines says', () => {
    expect(MIN_NODE_VERSION).toBe('20.15.0');
    expect(nodeVersionProblem('20.15.0')).toBeUndefined();
    expect(nodeVersionProblem('20.20.2')).toBeUndefined();
    expect(nodeVersionProblem('21.0.0')).toBeUndefined();
    expect(nodeVersionProblem('20.14.99')).toBe('Node.js 20.15.0 or newer is needed; this is 20.14.99');
    expect(nodeVersionProblem('18.19.0')).toBe('Node.js 20.15.0 or newer is needed; this is 18.19.0');
  });

  it('the bin says so in one line and exits 1 before loading anything else', {
    timeout: 60_000,
  }, async () => {
    // An older Node, as far as the program can tell.
    const older = `data:text/javascript,Object.defineProperty(process.versions,'node',{value:'20.14.0'})`;
    const r = await bin(['--help'], { nodeArgs: ['--import', older] }).ended;
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('tributary: Node.js 20.15.0 or newer is needed; this is 20.14.0\n');
    expect(r.code).toBe(1);
  });
});
