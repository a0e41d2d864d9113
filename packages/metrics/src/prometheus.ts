import type { MetricsRegistry } from './metrics-registry.js';

// Prometheus text exposition format 0.0.4. Written by hand: it is small, and it reads the live
// instruments directly instead of mirroring every increment into a second library.
function metricName(group: string, name: string): string {
  return `tributary_${group}_${name}`.replace(/[^a-zA-Z0-9_:]/g, '_');
}

function labelText(labels: Readonly<Record<string, string>>, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return '';
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
  return `{${pairs.map(([k, v]) => `${k.replace(/[^a-zA-Z0-9_]/g, '_')}="${esc(v)}"`).join(',')}}`;
}

function helpText(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

export function toPrometheus(registry: MetricsRegistry): string {
  const lines: string[] = [];
  for (const g of registry.groups()) {
    for (const c of g.counters.values()) {
      const n = metricName(g.name, c.name);
      if (c.help) lines.push(`# HELP ${n} ${helpText(c.help)}`);
      lines.push(`# TYPE ${n} counter`, `${n}${labelText(g.labels)} ${num(c.value)}`);
    }
    for (const x of g.gauges.values()) {
      const n = metricName(g.name, x.name);
      if (x.help) lines.push(`# HELP ${n} ${helpText(x.help)}`);
      lines.push(`# TYPE ${n} gauge`, `${n}${labelText(g.labels)} ${num(x.value)}`);
    }
    for (const h of g.histograms.values()) {
      const n = metricName(g.name, h.name);
      if (h.help) lines.push(`# HELP ${n} ${helpText(h.help)}`);
      lines.push(`# TYPE ${n} summary`);
      for (const q of [0.5, 0.9, 0.99, 0.999]) {
        lines.push(`${n}${labelText(g.labels, ['quantile', String(q)])} ${num(h.percentile(q * 100))}`);
      }
      lines.push(
        `${n}_sum${labelText(g.labels)} ${num(h.sum)}`,
        `${n}_count${labelText(g.labels)} ${num(h.count)}`,
      );
    }
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
