export { COMMANDS } from './commands/index.js';
export type { CommandContext } from './context.js';
export { ErrCliHttp, ErrCliMetricsFormat, ErrCliUsage } from './errors.js';
export { ExitCode, exitCodeFor } from './exit-codes.js';
export { createProgram, type RunIO, run, VERSION } from './main.js';
export { FIRST_PARTY_PLUGINS, type PluginLoadReport, registerFirstPartyPlugins } from './plugins.js';
export { type PromSample, parsePrometheusText } from './prometheus-text.js';
