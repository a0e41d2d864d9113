import { ErrAborted } from '@tributary/core';
import { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { ErrCliHttp } from '../errors.js';
import { withTimeout } from '../internal/common.js';
import { parseHttpUrl, parsePositiveInt } from '../internal/parse.js';
import { formatTable } from '../internal/table.js';
import { parsePrometheusText } from '../prometheus-text.js';

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

/** `tributary stats <url>`: reads a Prometheus /metrics endpoint and prints it as a table. */
export function statsCommand(ctx: CommandContext): Command {
  return new Command('stats')
    .description("read a running process's Prometheus metrics endpoint and print a table")
    .argument(
      '<url>',
      'metrics endpoint, e.g. http://127.0.0.1:4985/metrics (path defaults to /metrics)',
      (v: string) => parseHttpUrl(v, '/metrics'),
    )
    .option('-f, --filter <text>', 'only metrics whose name contains this text')
    .option('--json', 'print the samples as JSON instead of a table')
    .option('--timeout <ms>', 'give up after this many milliseconds', parsePositiveInt, 5000)
    .action(async (url: URL, opts: { filter?: string; json?: boolean; timeout: number }) => {
      const deadline = withTimeout(ctx.signal, opts.timeout);
      let text: string;
      try {
        const res = await fetch(url, { signal: deadline.signal, headers: { accept: 'text/plain' } });
        if (!res.ok) throw ErrCliHttp(url.href, `HTTP ${res.status} ${res.statusText}`);
        text = await res.text();
      } catch (err) {
        if ((err as { code?: string }).code === 'TRIB_CLI_HTTP') throw err;
        if (ctx.signal.aborted) throw ErrAborted(`reading ${url.href}`, { cause: err });
        const cause = (err as Error & { cause?: Error }).cause;
        const why = deadline.timedOut()
          ? `no answer within ${opts.timeout} ms`
          : ((cause as NodeJS.ErrnoException | undefined)?.code ?? cause?.message ?? (err as Error).message);
        throw ErrCliHttp(url.href, why, { cause: err });
      } finally {
        deadline.clear();
      }
      let samples = parsePrometheusText(text, url.href);
      if (opts.filter) samples = samples.filter((s) => s.name.includes(opts.filter!));
      if (opts.json) {
        ctx.out(
          JSON.stringify(samples.map(({ name, labels, value, type }) => ({ name, labels, value, type }))),
        );
        return;
      }
      const rows = samples.map((s) => [
        s.name,
        Object.entries(s.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
        s.type,
        formatValue(s.value),
      ]);
      for (const line of formatTable(['METRIC', 'LABELS', 'TYPE', 'VALUE'], rows)) ctx.out(line);
      ctx.out(`${samples.length} samples from ${url.href}`);
    });
}
