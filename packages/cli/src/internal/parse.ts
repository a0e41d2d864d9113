import { InvalidArgumentError } from 'commander';

// Option parsers shared by the commands: each throws commander's InvalidArgumentError, which
// becomes a one-line usage error (exit 2).

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
}

/** A port number, or `same` (share the `_changes` port). */
export function parsePortOrSame(value: string): number | 'same' {
  return value === 'same' ? 'same' : parsePort(value);
}

/** An http(s) URL; a bare `host:port` gets `http://`, and an empty path becomes `defaultPath`. */
export function parseHttpUrl(value: string, defaultPath = '/'): URL {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw new InvalidArgumentError(`not a URL: ${value}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError(`not an http(s) URL: ${value}`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = defaultPath;
  return url;
}
