import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createMetrics, toPrometheus } from '@tributary/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode, parsePrometheusText, run } from '../src/index.js';

const exec = promisify(execFile);
const ROOT = join(__dirname, '..', '..', '..');

async function cli(...args: string[]) {
  let out = '';
  let err = '';
  const code = await run(['node', 'tributary', ...args], {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    isTTY: false,
  });
  return { code, out, err };
}

let server: Server;
let base: string;
const metrics = createMetrics();

beforeAll(async () => {
  const ds = metrics.group('datasource', { bucket: 'beer' });
  ds.counter('TotWorkerReceive', 'packets received').inc(1234);
  ds.gauge('lag').set(7);
  const h = ds.histogram('batch');
  for (let i = 1; i <= 10; i++) h.observe(i);
  metrics.group('pool').counter('acquired').inc(3);
  server = createServer((req, res) => {
    if (req.url === '/metrics') {
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end(toPrometheus(metrics));
    } else if (req.url === '/garbage') {
      res.end('this is { not prometheus\n');
    } else {
      res.statusCode = 404;
      res.end('nope');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

describe('tributary (in process)', () => {
  it('prints help for the program and for every command, exit 0', async () => {
    const top = await cli('--help');
    expect(top.code).toBe(ExitCode.Ok);
    expect(top.out).toContain('Usage: tributary');
    expect(top.out).toMatch(/demo\s/);
    expect(top.out).toMatch(/stats \[options\] <url>/);
    for (const cmd of ['serve', 'load', 'tail', 'index', 'stats', 'demo', 'plugins']) {
      const r = await cli(cmd, '--help');
      expect(r.code).toBe(ExitCode.Ok);
      expect(r.out).toContain(`Usage: tributary ${cmd}`);
    }
    expect((await cli('--version')).out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('exits 2 with one line for an unknown command or a bad argument', async () => {
    const unknown = await cli('serv');
    expect(unknown.code).toBe(ExitCode.Usage);
    expect(unknown.err.split('\n')[0]).toBe("tributary: unknown command 'serv'");
    const bad = await cli('stats', 'ftp://x');
    expect(bad.code).toBe(ExitCode.Usage);
    expect(bad.err).toContain('not an http(s) URL: ftp://x');
    const missing = await cli('stats');
    expect(missing.code).toBe(ExitCode.Usage);
    expect(missing.err).toContain("missing required argument 'url'");
  });

  it('stats prints a table of a live metrics endpoint (path defaults to /metrics)', async () => {
    const r = await cli('stats', base);
    expect(r.code).toBe(ExitCode.Ok);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(/^METRIC\s+LABELS\s+TYPE\s+VALUE$/);
    expect(r.out).toMatch(/tributary_datasource_TotWorkerReceive\s+bucket=beer\s+counter\s+1234/);
    expect(r.out).toMatch(/tributary_datasource_lag\s+bucket=beer\s+gauge\s+7/);
    expect(r.out).toMatch(/tributary_datasource_batch_count\s+bucket=beer\s+summary\s+10/);
    expect(r.out).toMatch(/tributary_pool_acquired\s+counter\s+3/);
    expect(lines.at(-1)).toBe(
      `${parsePrometheusText(toPrometheus(metrics)).length} samples from ${base}/metrics`,
    );

    const filtered = await cli('stats', `${base}/metrics`, '--filter', 'pool', '--json');
    expect(JSON.parse(filtered.out)).toEqual([
      { name: 'tributary_pool_acquired', labels: {}, value: 3, type: 'counter' },
    ]);
  });

  it('stats fails with one line and exit 69 when the endpoint is down or answers an error', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const down = await cli('stats', `http://127.0.0.1:${port}/metrics`, '--timeout', '3000');
    expect(down.code).toBe(ExitCode.Unavailable);
    expect(down.err.trim().split('\n')).toHaveLength(1);
    expect(down.err).toMatch(
      /^tributary: cannot read http:\/\/127\.0\.0\.1:\d+\/metrics: ECONNREFUSED \[TRIB_CLI_HTTP\]\n$/,
    );

    const notFound = await cli('stats', `${base}/other`);
    expect(notFound.code).toBe(ExitCode.Unavailable);
    expect(notFound.err).toContain('HTTP 404');

    const garbage = await cli('stats', `${base}/garbage`);
    expect(garbage.code).toBe(ExitCode.Failure);
    expect(garbage.err).toContain('is not Prometheus text (line 1');
  });

  it('prints the stack and causes only with --verbose', async () => {
    const quiet = await cli('stats', `${base}/other`);
    expect(quiet.err).not.toContain('    at ');
    const loud = await cli('--verbose', 'stats', `${base}/other`);
    expect(loud.err).toContain('    at ');
  });
});

describe('parsePrometheusText', () => {
  it('reads labels with escapes, special values and types', () => {
    const samples = parsePrometheusText(
      [
        '# HELP x_total Things',
        '# TYPE x_total counter',
        'x_total{a="1",b="q\\"uote\\\\ \\n"} 5 1700000000',
        '# TYPE g gauge',
        'g +Inf',
        'g{k="v"} NaN',
        'untyped_thing -3.5e2',
      ].join('\n'),
    );
    expect(samples[0]).toEqual({
      name: 'x_total',
      labels: { a: '1', b: 'q"uote\\ \n' },
      value: 5,
      type: 'counter',
      help: 'Things',
    });
    expect(samples[1]!.value).toBe(Number.POSITIVE_INFINITY);
    expect(samples[2]!.value).toBeNaN();
    expect(samples[3]).toMatchObject({ value: -350, type: 'untyped' });
  });
});

describe('tributary (as a process)', () => {
  const args = [
    '--conditions=@tributary/source',
    '--import',
    'tsx',
    join('packages', 'cli', 'src', 'bin.ts'),
  ];

  it('plugins lists the first-party plugins through the bin; a bad command exits 2', {
    timeout: 60_000,
  }, async () => {
    // a child process: loading every plugin package (pg, lmdb, ioredis) is what it does.
    const ok = await exec(process.execPath, [...args, 'plugins'], { cwd: ROOT });
    const count = Number(/tributary plugins: (\d+) plugins registered/.exec(ok.stdout)?.[1]);
    expect(count).toBeGreaterThanOrEqual(3);
    expect(ok.stdout).toMatch(/^store\s+memory\s+1/m);
    expect(ok.stdout).toMatch(/^connection-factory\s+tcp\s+1/m);
    expect(ok.stdout).toMatch(/^auth\s+scram\s+1/m);
    const bad = (await exec(process.execPath, [...args, 'nope'], { cwd: ROOT }).catch((e) => e)) as {
      code: number;
      stderr: string;
    };
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("tributary: unknown command 'nope'");
  });

  it('demo --duration 3 (as `npm run demo`) runs the whole pipeline and exits 0 by itself', {
    timeout: 60_000,
  }, async () => {
    const t0 = Date.now();
    const res = await exec(process.execPath, [...args, 'demo', '--duration', '3', '--memory'], {
      cwd: ROOT,
      env: { ...process.env, TRIBUTARY_LOG_LEVEL: 'warn' },
    });
    expect(Date.now() - t0).toBeLessThan(45_000);
    expect(res.stdout).toMatch(
      /^cluster http:\/\/127\.0\.0\.1:\d+ \(bucket default, 64 vbuckets, 1 node\(s\)\)/m,
    );
    expect(res.stdout).toMatch(/^_changes http:\/\/127\.0\.0\.1:\d+\/db\/_changes/m);
    expect(res.stdout).toMatch(/^status {3}http:\/\/127\.0\.0\.1:\d+\/status$/m);
    const m = /^stopped: written (\d+)\s+indexed (\d+)/m.exec(res.stdout);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(100);
    expect(Number(m![2])).toBeGreaterThan(0);
  });
});
