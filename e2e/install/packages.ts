import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

// Packing and installing the workspace's packages as a user gets them: `npm pack` tarballs,
// installed with plain npm into an application folder outside the workspace.
const run = promisify(execFile);

export const workspace = resolve(import.meta.dirname, '..', '..');

export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  exports?: Record<string, unknown>;
  bin?: string | Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

export interface Publishable {
  dir: string;
  manifest: Manifest;
}

/** Every published package of the workspace (packages/*, plugins/*, not private). */
export function publishable(): Publishable[] {
  const out: Publishable[] = [];
  for (const group of ['packages', 'plugins']) {
    for (const name of readdirSync(join(workspace, group)).sort()) {
      const dir = join(workspace, group, name);
      if (!existsSync(join(dir, 'package.json'))) continue;
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
      if (!manifest.private) out.push({ dir, manifest });
    }
  }
  return out;
}

/**
 * `npm pack` the folders into `dest`, in two npm processes (two cores; npm start-up dominates).
 * Returns package name → absolute tarball path.
 */
export async function packAll(pkgs: Publishable[], dest: string): Promise<Map<string, string>> {
  mkdirSync(dest, { recursive: true });
  const halves = [pkgs.filter((_, i) => i % 2 === 0), pkgs.filter((_, i) => i % 2 === 1)].filter(
    (h) => h.length,
  );
  const out = new Map<string, string>();
  await Promise.all(
    halves.map(async (half) => {
      const { stdout } = await run(
        'npm',
        ['pack', ...half.map((p) => p.dir), '--pack-destination', dest, '--json', '--ignore-scripts'],
        { cwd: dest, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_loglevel: 'error' } },
      );
      for (const t of JSON.parse(stdout) as { name: string; filename: string }[]) {
        out.set(t.name, join(dest, t.filename));
      }
    }),
  );
  return out;
}

/**
 * Creates an application in `dir` that depends on `deps` only, and installs it with npm. Our
 * packages are not on the registry, so every `@tributary/*` name resolves to its tarball through
 * `overrides` (which applies only where something asks for that name): a package missing from a
 * manifest's dependencies is therefore missing from the install too. Third-party packages come
 * from the registry (the npm cache is warm). Returns npm's output.
 */
export async function installApp(
  dir: string,
  deps: string[],
  tarballs: Map<string, string>,
): Promise<{ seconds: number; output: string }> {
  mkdirSync(dir, { recursive: true });
  const spec = (name: string) => {
    const t = tarballs.get(name);
    if (!t) throw new Error(`no tarball for ${name}`);
    return `file:${t}`;
  };
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify(
      {
        name: 'tributary-install-app',
        version: '1.0.0',
        private: true,
        description: 'An application that installs Tributary packages from their tarballs',
        dependencies: Object.fromEntries(deps.map((d) => [d, spec(d)])),
        overrides: Object.fromEntries([...tarballs.keys()].map((d) => [d, spec(d)])),
      },
      null,
      2,
    ),
  );
  const started = process.hrtime.bigint();
  const { stdout, stderr } = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], {
    cwd: dir,
    maxBuffer: 64 * 1024 * 1024,
    env: cleanEnv({ npm_config_loglevel: 'error', npm_config_update_notifier: 'false' }),
  });
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, output: stdout + stderr };
}

/**
 * The environment minus what an `npm test` in the workspace adds (npm_* variables such as
 * npm_config_local_prefix, which would point npm back at the workspace) and minus NODE_OPTIONS
 * (no loaders or export conditions from the test runner).
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'NODE_OPTIONS' || k.startsWith('VITEST') || k === 'NODE_ENV') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

export interface ProgramResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node <file>` in `cwd` with a clean environment (no loaders, no conditions). */
export function runProgram(
  cwd: string,
  file: string,
  args: string[] = [],
  timeoutMs = 60_000,
): Promise<ProgramResult> {
  return runCommand(cwd, process.execPath, [file, ...args], timeoutMs);
}

/** Runs a command in `cwd` with a clean environment; never rejects (the result says how it ended). */
export async function runCommand(
  cwd: string,
  command: string,
  args: string[],
  timeoutMs = 60_000,
): Promise<ProgramResult> {
  try {
    const { stdout, stderr } = await run(command, args, {
      cwd,
      env: cleanEnv(),
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, signal: null, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; signal?: NodeJS.Signals; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : null,
      signal: e.signal ?? null,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? String(err),
    };
  }
}

/** The last line of a program's stdout that parses as JSON (programs print one result line). */
export function resultOf(r: ProgramResult): Record<string, unknown> {
  const lines = r.stdout.trim().split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      // not the result line
    }
  }
  throw new Error(
    `program printed no JSON result (exit ${r.code}, signal ${r.signal})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`,
  );
}

/** True when `path` lies inside `dir` after resolving symlinks (no link back into the workspace). */
export function isInside(path: string, dir: string): boolean {
  const real = realpathSync(path);
  return real.startsWith(`${realpathSync(dir)}/`);
}
