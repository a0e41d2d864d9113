import { ErrCliMetricsFormat } from './errors.js';

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  /** The family's TYPE (counter, gauge, summary, histogram, untyped). */
  type: string;
  help?: string;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/y;

function unescapeLabel(v: string): string {
  return v.replace(/\\(n|"|\\)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(raw: string): number {
  if (raw === '+Inf' || raw === 'Inf') return Number.POSITIVE_INFINITY;
  if (raw === '-Inf') return Number.NEGATIVE_INFINITY;
  if (raw === 'NaN') return Number.NaN;
  return Number(raw);
}

/** Parses the Prometheus text exposition format (0.0.4) into samples, in order. */
export function parsePrometheusText(text: string, source = 'input'): PromSample[] {
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  const out: PromSample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(TYPE|HELP)\s+(\S+)\s*(.*)$/.exec(line);
      if (m?.[1] === 'TYPE') types.set(m[2]!, m[3]!.trim());
      else if (m?.[1] === 'HELP') helps.set(m[2]!, unescapeLabel(m[3]!));
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw ErrCliMetricsFormat(source, i + 1, 'not a sample line');
    const [, name, rawLabels, rawValue] = m;
    const labels: Record<string, string> = {};
    if (rawLabels) {
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < rawLabels.length) {
        const start = LABEL.lastIndex;
        const lm = LABEL.exec(rawLabels);
        if (!lm) throw ErrCliMetricsFormat(source, i + 1, `bad labels at "${rawLabels.slice(start)}"`);
        labels[lm[1]!] = unescapeLabel(lm[2]!);
      }
    }
    const value = parseValue(rawValue!);
    if (Number.isNaN(value) && rawValue !== 'NaN')
      throw ErrCliMetricsFormat(source, i + 1, `bad value "${rawValue}"`);
    const family = types.has(name!) ? name! : name!.replace(/_(sum|count|bucket|total|created)$/, '');
    out.push({ name: name!, labels, value, type: types.get(family) ?? 'untyped', help: helps.get(family) });
  }
  return out;
}
