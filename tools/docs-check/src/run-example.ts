import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** A fresh directory that looks like an application's: `node_modules` is the repository's. */
export function appDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-example-'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

export interface StartedExample {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name) once the process has ended. */
  exited: Promise<number | string>;
  /** Resolves when stdout matches `re` (rejects if the process ends first or after `ms`). */
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
}

/**
 * Starts an example file as an application would run it: `node --import tsx file.ts` in `cwd`,
 * with workspace packages resolved to their sources (the `@tributary/source` condition).
 */
export function startExample(file: string, o: { cwd: string; env?: Record<string, string> }): StartedExample {
  const tsx = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  const env: Record<string, string | undefined> = { ...process.env, ...o.env };
  // The example's own defaults, not the test runner's (core's logger is silent under vitest).
  delete env.VITEST;
  delete env.VITEST_POOL_ID;
  delete env.VITEST_WORKER_ID;
  delete env.NODE_ENV;
  const child = spawn(process.execPath, ['--conditions=@tributary/source', '--import', tsx, file], {
    cwd: o.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const l of listeners) l();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('close', (code, signal) => {
      resolve(code ?? signal ?? -1);
      for (const l of listeners) l();
    });
  });
  let ended = false;
  void exited.then(() => {
    ended = true;
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(re, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(out);
          if (m) done(() => resolve(m));
          else if (ended || child.exitCode !== null)
            done(() => reject(new Error(`exited before printing ${re}\nstdout:\n${out}\nstderr:\n${err}`)));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`no ${re} within ${ms} ms\nstdout:\n${out}\nstderr:\n${err}`))),
          ms,
        );
        const done = (f: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          f();
        };
        listeners.add(check);
        check();
      });
    },
  };
}

export interface ExampleRun {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** Runs an example to its end; kills it (and fails the run) after `timeoutMs`. */
export async function runExample(
  file: string,
  o: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<ExampleRun> {
  const started = startExample(file, o);
  const timer = setTimeout(() => started.child.kill('SIGKILL'), o.timeoutMs ?? 30_000);
  const code = await started.exited;
  clearTimeout(timer);
  return { code, stdout: started.stdout(), stderr: started.stderr() };
}
