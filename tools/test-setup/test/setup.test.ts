import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  chromiumPlan,
  DEFAULT_CHROMIUM,
  ensureChromium,
  ensurePrometheus,
  nodeVersionProblem,
  ROOT,
  reachable,
  requiredNode,
} from '../setup.mjs';

const exec = promisify(execFile);
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

describe('Node.js version', () => {
  it('reads the lowest version from the root engines and refuses anything older with a clear reason', () => {
    expect(requiredNode()).toEqual([20, 15, 0]);
    expect(nodeVersionProblem('20.15.0', [20, 15, 0])).toBeUndefined();
    expect(nodeVersionProblem('20.20.2', [20, 15, 0])).toBeUndefined();
    expect(nodeVersionProblem('22.0.0', [20, 15, 0])).toBeUndefined();
    expect(nodeVersionProblem('v24.1.0', [20, 15, 0])).toBeUndefined();
    expect(nodeVersionProblem('20.14.9', [20, 15, 0])).toBe(
      'Node.js 20.15.0 or newer is needed (zlib.crc32 came in 20.15); this is 20.14.9',
    );
    expect(nodeVersionProblem('18.20.0', [20, 15, 0])).toMatch(/^Node\.js 20\.15\.0 or newer/);
    expect(nodeVersionProblem(process.versions.node, requiredNode())).toBeUndefined();
  });

  it('every manifest (root, packages, plugins, the plugin generator) says >=20.15', () => {
    const manifests = [join(ROOT, 'package.json')];
    for (const group of ['packages', 'plugins']) {
      for (const name of readdirSync(join(ROOT, group)))
        manifests.push(join(ROOT, group, name, 'package.json'));
    }
    for (const m of manifests) expect(readJson(m).engines, m).toEqual({ node: '>=20.15' });
    const generator = readFileSync(join(ROOT, 'tools', 'new-plugin', 'new-plugin.mjs'), 'utf8');
    expect(generator).toContain("engines: { node: '>=20.15' }");
  });
});

describe('Chromium', () => {
  const base = { path: DEFAULT_CHROMIUM, exists: false, isRoot: false, hasAptGet: true };

  it('plans: found, install with apt-get as root, or say how', () => {
    expect(chromiumPlan({ ...base, exists: true })).toEqual({ action: 'found' });
    expect(chromiumPlan({ ...base, isRoot: true })).toEqual({
      action: 'install',
      commands: [
        ['apt-get', 'update', '-qq'],
        ['apt-get', 'install', '-y', '-qq', 'chromium'],
      ],
    });
    expect(chromiumPlan(base)).toEqual({
      action: 'missing',
      message:
        '/usr/bin/chromium is missing: the status-page test (packages/cli) drives it headless and will fail. Fix: sudo apt-get install -y chromium',
    });
    // No apt-get (not Debian): no install attempt, and a way that does not name apt.
    expect(chromiumPlan({ ...base, isRoot: true, hasAptGet: false })).toMatchObject({
      action: 'missing',
      message: expect.stringContaining('set TRIBUTARY_CHROMIUM to its executable'),
    });
    // A path of the user's own is never "fixed" by installing Debian's package.
    expect(chromiumPlan({ ...base, path: '/opt/chrome/chrome', isRoot: true })).toMatchObject({
      action: 'missing',
      message: expect.stringMatching(/^\/opt\/chrome\/chrome is missing: .* point TRIBUTARY_CHROMIUM at/),
    });
  });

  it('installs when missing as root, checks again, and reports a failed install', () => {
    const ran: string[][] = [];
    let installed = false;
    const ok = ensureChromium({
      path: DEFAULT_CHROMIUM,
      exists: () => installed,
      isRoot: true,
      hasAptGet: true,
      run: (cmd: string[]) => {
        ran.push(cmd);
        if (cmd[1] === 'install') installed = true;
        return { status: 0, output: '' };
      },
    });
    expect(ok).toBeUndefined();
    expect(ran.map((c) => c.join(' '))).toEqual(['apt-get update -qq', 'apt-get install -y -qq chromium']);

    const failed = ensureChromium({
      path: DEFAULT_CHROMIUM,
      exists: () => false,
      isRoot: true,
      hasAptGet: true,
      run: (cmd: string[]) => ({ status: cmd[1] === 'install' ? 100 : 0, output: 'E: Could not get lock\n' }),
    });
    expect(failed).toBe('apt-get install -y -qq chromium failed (exit 100): E: Could not get lock');

    const stillMissing = ensureChromium({
      path: DEFAULT_CHROMIUM,
      exists: () => false,
      isRoot: true,
      hasAptGet: true,
      run: () => ({ status: 0, output: '' }),
    });
    expect(stillMissing).toBe('apt-get installed chromium but /usr/bin/chromium is still missing');

    // Not root: nothing runs, the message says how.
    const notRoot = ensureChromium({
      path: DEFAULT_CHROMIUM,
      exists: () => false,
      isRoot: false,
      hasAptGet: true,
      run: () => {
        throw new Error('must not run');
      },
    });
    expect(notRoot).toContain('sudo apt-get install -y chromium');
  });

  it('looks through the real file system', () => {
    expect(ensureChromium({ path: '/nonexistent/chromium', isRoot: true })).toMatch(
      /^\/nonexistent\/chromium is missing/,
    );
  });
});

describe('services', () => {
  it('tells a listening port from a closed one', async () => {
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    expect(await reachable('127.0.0.1', port)).toBe(true);
    await new Promise((r) => server.close(r));
    expect(await reachable('127.0.0.1', port)).toBe(false);
  });
});

describe('the package lock', () => {
  it('is one `npm ci` accepts (every platform’s optional packages kept), with no EBADENGINE warning', {
    timeout: 60_000,
  }, async () => {
    // npm 11 can write a lock without other platforms' optional packages, which `npm ci` then
    // refuses (EUSAGE, "Missing: @biomejs/cli-… from lock file"); .ci/run and the README test line
    // run `npm ci` with no fallback, and this says so before a clone does.
    // Without the npm_* variables an `npm test` run sets (they would point npm elsewhere).
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
    const r = await exec('npm', ['ci', '--dry-run', '--no-audit', '--no-fund', '--ignore-scripts'], {
      cwd: ROOT,
      env: { ...env, npm_config_loglevel: 'warn' },
    }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    const output = `${r.stdout}\n${r.stderr}`;
    expect('code' in r ? r.code : 0, output).toBe(0);
    // A dependency whose engines exclude Node 20 (fastify's cookie@2 wants 22; the root
    // `overrides` pins cookie 1.1, which has the same API) would warn on every install.
    expect(output).not.toContain('EBADENGINE');
  });
});

describe('ensurePrometheus', () => {
  it('finds both tools, installs the package as root with apt-get, or says how', () => {
    const calls: string[][] = [];
    const there = new Set(['/usr/bin/promtool', '/usr/bin/prometheus']);
    expect(
      ensurePrometheus({ exists: (p) => there.has(String(p)), run: () => ({ status: 0, output: '' }) }),
    ).toBeUndefined();
    const installed = new Set<string>();
    expect(
      ensurePrometheus({
        exists: (p) => installed.has(String(p)),
        isRoot: true,
        hasAptGet: true,
        run: (cmd) => {
          calls.push(cmd);
          if (cmd.includes('install')) for (const p of there) installed.add(p);
          return { status: 0, output: '' };
        },
      }),
    ).toBeUndefined();
    expect(calls.at(-1)).toEqual([
      'apt-get',
      'install',
      '-y',
      '-qq',
      '--no-install-recommends',
      'prometheus',
    ]);
    expect(ensurePrometheus({ exists: () => false, isRoot: false, hasAptGet: true })).toMatch(
      /sudo apt-get install -y prometheus/,
    );
    expect(
      ensurePrometheus({
        exists: () => false,
        isRoot: true,
        hasAptGet: true,
        run: () => ({ status: 100, output: 'E: no' }),
      }),
    ).toMatch(/failed \(exit 100\): E: no/);
  });
});
