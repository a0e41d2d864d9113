#!/usr/bin/env node
// What `npm test` does before vitest, so that the README's test line (`npm ci && npm test`) is all
// a newcomer types on a fresh clone: check Node, build the packages (the pack-check, e2e/install
// and e2e/third-party suites install the packed tarballs, which hold dist/ only; nx's cache makes
// a second run take seconds), find or install the Chromium the status-page test drives, and say
// which of the services the plugin suites talk to is down. Plain Node, no dependencies: it runs
// before anything is built.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The Chromium the status-page test launches (packages/cli/test/status-page.test.ts reads the same variable). */
export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/** The lowest Node.js the workspace supports, from the root manifest's `engines.node` (`>=20.15`). */
export function requiredNode(root = ROOT) {
  const range = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines?.node ?? '';
  const m = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range.trim());
  if (!m) throw new Error(`package.json engines.node is "${range}", expected ">=X.Y"`);
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

/** Why this Node.js is too old, or undefined when it is new enough. */
export function nodeVersionProblem(version, required) {
  const have = version.replace(/^v/, '').split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    if ((have[i] ?? 0) > required[i]) return undefined;
    if ((have[i] ?? 0) < required[i]) {
      return `Node.js ${required.join('.')} or newer is needed (zlib.crc32 came in 20.15); this is ${version}`;
    }
  }
  return undefined;
}

/**
 * What to do about Chromium: nothing when it is there; install it with apt-get as root on a
 * machine that has apt-get (what .ci/run did before); otherwise say how.
 * @returns {{ action: 'found' } | { action: 'install', commands: string[][] } | { action: 'missing', message: string }}
 */
export function chromiumPlan({ path, exists, isRoot, hasAptGet }) {
  if (exists) return { action: 'found' };
  if (path === DEFAULT_CHROMIUM && isRoot && hasAptGet) {
    return {
      action: 'install',
      commands: [
        ['apt-get', 'update', '-qq'],
        ['apt-get', 'install', '-y', '-qq', 'chromium'],
      ],
    };
  }
  const how =
    path === DEFAULT_CHROMIUM
      ? hasAptGet
        ? 'sudo apt-get install -y chromium'
        : 'install Chromium and set TRIBUTARY_CHROMIUM to its executable'
      : 'point TRIBUTARY_CHROMIUM at a Chromium executable';
  return {
    action: 'missing',
    message: `${path} is missing: the status-page test (packages/cli) drives it headless and will fail. Fix: ${how}`,
  };
}

/** Finds Chromium, installing it when `chromiumPlan` says so; returns the problem left, if any. */
export function ensureChromium({
  path,
  exists = existsSync,
  isRoot = process.getuid?.() === 0,
  hasAptGet = onPath('apt-get'),
  run = runQuiet,
  log = () => {},
}) {
  const plan = chromiumPlan({ path, exists: exists(path), isRoot, hasAptGet });
  if (plan.action === 'found') return undefined;
  if (plan.action === 'missing') return plan.message;
  log(`${path} is missing; installing Debian's chromium (apt-get, as root)`);
  for (const cmd of plan.commands) {
    const r = run(cmd);
    if (r.status !== 0) {
      return `${cmd.join(' ')} failed (exit ${r.status}): ${r.output.trim().split('\n').slice(-3).join(' / ')}`;
    }
  }
  return exists(path) ? undefined : `apt-get installed chromium but ${path} is still missing`;
}

/** The executables the metrics tests run: `promtool check metrics`, and a Prometheus scraping a demo. */
export const PROMETHEUS_TOOLS = ['/usr/bin/promtool', '/usr/bin/prometheus'];

/**
 * Finds promtool and prometheus (Debian's `prometheus` package has both), installing the package
 * as root where apt-get is; returns the problem left, if any.
 */
export function ensurePrometheus({
  paths = PROMETHEUS_TOOLS,
  exists = existsSync,
  isRoot = process.getuid?.() === 0,
  hasAptGet = onPath('apt-get'),
  run = runQuiet,
  log = () => {},
} = {}) {
  const missing = paths.filter((p) => !exists(p));
  if (missing.length === 0) return undefined;
  const what = `${missing.join(' and ')} missing: the metrics tests (promtool check metrics, a Prometheus scraping the demo) will fail`;
  if (!isRoot || !hasAptGet)
    return `${what}. Fix: ${hasAptGet ? 'sudo apt-get install -y prometheus' : "install Prometheus's promtool and prometheus"}`;
  log(`${missing.join(' and ')} missing; installing Debian's prometheus (apt-get, as root)`);
  for (const cmd of [
    ['apt-get', 'update', '-qq'],
    ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'prometheus'],
  ]) {
    const r = run(cmd);
    if (r.status !== 0)
      return `${cmd.join(' ')} failed (exit ${r.status}): ${r.output.trim().split('\n').slice(-3).join(' / ')}`;
  }
  const still = paths.filter((p) => !exists(p));
  return still.length ? `apt-get installed prometheus but ${still.join(' and ')} still missing` : undefined;
}

function onPath(command) {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, command)));
}

/** Runs a command with its output captured (shown only when it fails). */
export function runQuiet([cmd, ...args], options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  return {
    status: r.error ? -1 : r.status,
    output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error?.message ?? ''}`,
  };
}

/** Whether something accepts a TCP connection at host:port within `ms`. */
export function reachable(host, port, ms = 1000) {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolvePromise(ok);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export const SERVICES = [
  { name: 'Redis', host: '127.0.0.1', port: 6379, suites: 'store-redis, docs-check, bench' },
  { name: 'PostgreSQL', host: '127.0.0.1', port: 5432, suites: 'store-postgres, docs-check, bench' },
];

/** Runs every step; resolves to the exit code (non-zero only for what makes running vitest pointless). */
export async function main({
  root = ROOT,
  env = process.env,
  log = (l) => console.log(`test setup: ${l}`),
} = {}) {
  const problem = nodeVersionProblem(process.versions.node, requiredNode(root));
  if (problem) {
    log(problem);
    return 1;
  }
  if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) {
    log('node_modules is missing: run `npm ci` first (the README test line does: npm ci && npm test)');
    return 1;
  }

  const started = performance.now();
  const nx = join(root, 'node_modules', '.bin', 'nx');
  const build = runQuiet([nx, 'run-many', '-t', 'build', '--outputStyle=static'], {
    cwd: root,
    env: { ...env, NX_TUI: 'false', NX_NO_CLOUD: 'true' },
  });
  if (build.status !== 0) {
    process.stdout.write(build.output);
    log(`the build failed (exit ${build.status}); the packed-tarball suites need it`);
    return 1;
  }
  const cached =
    /Nx read the output from the cache instead of running the command for (\d+) out of (\d+) tasks/.exec(
      build.output,
    );
  log(
    `built the packages in ${((performance.now() - started) / 1000).toFixed(1)} s${cached ? ` (${cached[1]} of ${cached[2]} from nx's cache)` : ''}`,
  );

  const chromium = env.TRIBUTARY_CHROMIUM || DEFAULT_CHROMIUM;
  const missing = ensureChromium({ path: chromium, log });
  log(missing ?? `chromium: ${chromium}`);
  log(ensurePrometheus({ log }) ?? 'prometheus: promtool and prometheus found');

  const down = [];
  await Promise.all(
    SERVICES.map(async (s) => {
      if (!(await reachable(s.host, s.port))) down.push(s);
    }),
  );
  for (const s of down) {
    log(`${s.name} is not answering at ${s.host}:${s.port}: the ${s.suites} suites will fail until it runs`);
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main();
}
