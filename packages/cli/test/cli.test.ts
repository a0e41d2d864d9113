import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createMetrics, toPrometheus } from '@tributary/metrics';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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
  ds.counter('received', 'packets received').inc(1234);
  ds.gauge('lag_seqnos', 'lag').set(7);
  const h = ds.histogram('batch_size', 'batch sizes');
  for (let i = 1; i <= 10; i++) h.observe(i);
  metrics.group('pool').counter('acquired', 'acquires').inc(3);
  server = createServer(async (req, res) => {
    if (req.url === '/metrics') {
      res.setHeader('content-type', metrics.contentType);
      res.end(await toPrometheus(metrics));
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
    expect(r.out).toMatch(/tributary_datasource_received_total\s+bucket=beer\s+counter\s+1234/);
    expect(r.out).toMatch(/tributary_datasource_lag_seqnos\s+bucket=beer\s+gauge\s+7/);
    expect(r.out).toMatch(/tributary_datasource_batch_size_count\s+bucket=beer\s+histogram\s+10/);
    expect(r.out).toMatch(/tributary_datasource_batch_size_bucket\s+bucket=beer,le=16\s+histogram\s+10/);
    expect(r.out).toMatch(/tributary_pool_acquired_total\s+counter\s+3/);
    expect(lines.at(-1)).toBe(
      `${parsePrometheusText(await toPrometheus(metrics)).length} samples from ${base}/metrics`,
    );

    const filtered = await cli('stats', `${base}/metrics`, '--filter', 'pool', '--json');
    expect(JSON.parse(filtered.out)).toEqual([
      { name: 'tributary_pool_acquired_total', labels: {}, value: 3, type: 'counter' },
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

  it('stats --timeout gives up on a server that accepts and never answers (exit 69), Ctrl-C is 130', async () => {
    const requests: unknown[] = [];
    const silent = createServer((req) => requests.push(req)); // never writes a byte back
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/metrics`;
    try {
      const t0 = performance.now();
      const r = await cli('stats', url, '--timeout', '300');
      expect(requests).toHaveLength(1);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
      expect(r.code).toBe(ExitCode.Unavailable);
      expect(r.err).toBe(`tributary: cannot read ${url}: no answer within 300 ms [TRIB_CLI_HTTP]\n`);

      // Ctrl-C while waiting is an interruption, not a timeout.
      const ac = new AbortController();
      let err = '';
      const pending = run(['node', 'tributary', 'stats', url, '--timeout', '60000'], {
        stdout: () => {},
        stderr: (t) => {
          err += t;
        },
        isTTY: false,
        signal: ac.signal,
      });
      await vi.waitFor(() => expect(requests).toHaveLength(2));
      ac.abort();
      expect(await pending).toBe(ExitCode.Interrupted);
      expect(err).toBe(`tributary: reading ${url} was aborted [TRIB_ABORTED]\n`);
    } finally {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
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

  it('demo --duration 4 on a terminal (as `npm run demo`): URLs, a live rate line, no log JSON, exit 0', {
    timeout: 60_000,
  }, async () => {
    // `script` gives the demo a real pseudo-terminal, and shows what a user sees: stdout and
    // stderr together. Default log settings (nothing in the environment turns logs down).
    const env = { ...process.env };
    delete env.TRIBUTARY_LOG_LEVEL;
    delete env.TRIBUTARY_LOG_FORMAT;
    const command = [process.execPath, ...args, 'demo', '--duration', '4', '--memory']
      .map((a) => `'${a}'`)
      .join(' ');
    const res = await exec('script', ['-qec', command, '/dev/null'], { cwd: ROOT, env });
    const screen = res.stdout.replace(/\r\n/g, '\n');
    expect(screen).toMatch(
      /^cluster http:\/\/127\.0\.0\.1:\d+ \(bucket default, 64 vbuckets, 1 node\(s\)\)$/m,
    );
    const changes =
      /^_changes http:\/\/127\.0\.0\.1:(\d+)\/db\/_changes\?feed=longpoll&since=0 {2}\(user Administrator\)$/m.exec(
        screen,
      );
    expect(changes).not.toBeNull();
    // One port for everything the demo serves.
    expect(screen).toContain(`\nstatus   http://127.0.0.1:${changes![1]}/status\n`);
    expect(screen).toContain(`\nmetrics  http://127.0.0.1:${changes![1]}/metrics\n`);
    expect(screen).toContain('\nrunning for 4 s\n');
    // The live line rewrites itself in place once a second.
    const live = [
      ...screen.matchAll(
        /\r\x1b\[2Kwritten (\d+) {2}indexed (\d+) {2}lag (\d+) \(\d+\.\d s\) {2}\d+(?:\.\d)?k? mutations\/s {2}(healthy|catching up|degraded|down)/g,
      ),
    ];
    expect(live.length).toBeGreaterThanOrEqual(2);
    // lag is what was written and is not yet indexed (it once read 0 beside a 4,000 gap)
    for (const l of live) expect(Number(l[1]) - Number(l[2])).toBe(Number(l[3]));
    expect(Number(live.at(-1)![1])).toBeGreaterThan(Number(live[0]![1]));
    const m = /stopped: written (\d+)\s+indexed (\d+)/.exec(screen);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(100);
    expect(Number(m![2])).toBeGreaterThan(0);
    // Nothing else: no pino JSON (or any other) line among the output.
    const lines = screen
      .split(/[\n\r]/)
      .map((l) => l.replace(/\x1b\[2K/g, ''))
      .filter(Boolean);
    expect(lines.filter((l) => l.trimStart().startsWith('{'))).toEqual([]);
    expect(
      lines.filter(
        (l) => !/^(cluster| {2}node|index|_changes|status|metrics|health|running|written|stopped)/.test(l),
      ),
    ).toEqual([]);
  });
});
