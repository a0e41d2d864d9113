#!/usr/bin/env node
import { run } from './main.js';

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

run(process.argv, { signal: controller.signal }).then((code) => {
  process.exitCode = code;
});
