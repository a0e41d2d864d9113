import { ErrMetricsName } from './errors.js';

const SNAKE = /^[a-z_][a-z0-9_]*$/;

/** `framesIn` → `frames_in`, `HTTPStatus` → `http_status`: for reporters whose own API keeps camelCase keys. */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[^a-zA-Z0-9_]/g, '_')
    .toLowerCase();
}

/** A group name becomes part of every family name: `channel-index` → `channel_index`. */
export function groupPart(group: string): string {
  const s = group.replace(/[^a-zA-Z0-9_]/g, '_').toLowerCase();
  if (!SNAKE.test(s)) throw ErrMetricsName('metrics group', group);
  return s;
}

export function checkName(what: string, name: string): string {
  if (!SNAKE.test(name)) throw ErrMetricsName(what, name);
  return name;
}

export type Labels = Readonly<Record<string, string>>;

export function checkLabels(labels: Labels): Labels {
  for (const k of Object.keys(labels)) {
    if (!SNAKE.test(k) || k.startsWith('__') || k === 'le' || k === 'quantile')
      throw ErrMetricsName('label', k);
  }
  return labels;
}

/** The key of a label set, stable whatever order the labels were given in. */
export function labelKey(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  keys.sort();
  return keys.map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',');
}
