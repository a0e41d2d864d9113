const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

// pino's own fields, shown in the line's head rather than as key=value.
const HEAD = new Set(['level', 'time', 'msg', 'component', 'pid', 'hostname', 'name']);

function show(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (v && typeof v === 'object' && 'message' in v) return JSON.stringify((v as Error).message);
  return JSON.stringify(v);
}

/**
 * One pino JSON record → one human line: `12:00:01 WARN [datasource] message key=value ...`.
 * A line that is not JSON is passed through as it is.
 */
export function formatLogLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 19) : '';
  const level = LEVELS[rec.level as number] ?? String(rec.level);
  const component = rec.component ? ` [${String(rec.component)}]` : '';
  const rest = Object.entries(rec)
    .filter(([k]) => !HEAD.has(k))
    .map(([k, v]) => ` ${k}=${show(v)}`)
    .join('');
  return `${time} ${level}${component} ${String(rec.msg ?? '')}${rest}`;
}

/** A pino destination writing human lines (the command's stderr, never its stdout). */
export function humanLogDestination(write: (text: string) => void): { write(chunk: string): boolean } {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line) write(`${formatLogLine(line)}\n`);
      return true;
    },
  };
}
