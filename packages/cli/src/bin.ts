#!/usr/bin/env node
import { nodeVersionProblem } from './node-version.js';

// Checked before anything else loads: on an older Node the codec's `zlib.crc32` import fails
// with a SyntaxError naming no version, so the program itself is imported only afterwards (by
// its package name, which the bundler leaves as a real dynamic import).
const tooOld = nodeVersionProblem();
if (tooOld) {
  process.stderr.write(`tributary: ${tooOld}\n`);
  process.exit(1);
}
const { run } = await import('@tributary/cli');

// Ctrl-C / SIGTERM abort the running command's signal: long-running commands stop cleanly and
// the process exits 130. A second Ctrl-C exits at once.
const controller = new AbortController();
let interrupts = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (++interrupts > 1) process.exit(130);
    controller.abort();
  });
}

// `tributary tail | head`: once the reader of our output has gone (EPIPE), nothing more can be
// said, so the command stops as on Ctrl-C, writes nothing more, and the process exits 0 without
// a stack trace (after its cleanup, such as demo's temporary LMDB folder).
let outputClosed = false;
const onOutputError = (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  outputClosed = true;
  controller.abort();
};
process.stdout.on('error', onOutputError);
process.stderr.on('error', onOutputError);
const writer = (stream: NodeJS.WriteStream) => (text: string) => {
  if (!outputClosed && !stream.destroyed) stream.write(text);
};

// `npm run demo` runs us under `sh -c`; a SIGTERM to npm ends npm and sh but not us. When our
// parent goes away (we are re-parented), stop as on SIGTERM.
const parent = process.ppid;
const orphanCheck = setInterval(() => {
  if (process.ppid !== parent) {
    clearInterval(orphanCheck);
    controller.abort();
  }
}, 500);
orphanCheck.unref();

run(process.argv, {
  signal: controller.signal,
  stdout: writer(process.stdout),
  stderr: writer(process.stderr),
}).then((code) => {
  process.exitCode = outputClosed && interrupts === 0 ? 0 : code;
});
