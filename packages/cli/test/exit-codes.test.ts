import { ErrAborted, ErrConnectRefused, ErrInvalidArgument, ErrPluginOptions } from '@tributary/core';
import { describe, expect, it } from 'vitest';
import { ErrCliHttp, ErrCliMetricsFormat, ErrCliUsage, ExitCode, exitCodeFor } from '../src/index.js';
import { parseHttpUrl, parsePort, parsePositiveInt } from '../src/internal/parse.js';

describe('exit codes', () => {
  it('maps errors to codes that mean something', () => {
    expect(exitCodeFor(ErrCliUsage('bad'))).toBe(ExitCode.Usage);
    expect(exitCodeFor(ErrInvalidArgument('x', 'y'))).toBe(ExitCode.Usage);
    expect(exitCodeFor(ErrPluginOptions('p', 'a', 'b'))).toBe(ExitCode.Usage);
    expect(exitCodeFor(ErrConnectRefused('h:1'))).toBe(ExitCode.Unavailable);
    expect(exitCodeFor(ErrCliHttp('u', 'HTTP 500'))).toBe(ExitCode.Unavailable);
    expect(exitCodeFor(ErrAborted('load'))).toBe(ExitCode.Interrupted);
    expect(exitCodeFor(ErrCliMetricsFormat('u', 1, 'x'))).toBe(ExitCode.Failure);
    expect(exitCodeFor(new Error('plain'))).toBe(ExitCode.Failure);
    expect(exitCodeFor('string')).toBe(ExitCode.Failure);
  });
});

describe('option parsers', () => {
  it('parses and refuses with one clear reason', () => {
    expect(parsePositiveInt('5')).toBe(5);
    expect(() => parsePositiveInt('0')).toThrow('must be a positive integer');
    expect(() => parsePositiveInt('1.5')).toThrow('must be a positive integer');
    expect(parsePort('0')).toBe(0);
    expect(() => parsePort('70000')).toThrow('port number');
    expect(parseHttpUrl('127.0.0.1:9000', '/metrics').href).toBe('http://127.0.0.1:9000/metrics');
    expect(parseHttpUrl('https://x/y', '/metrics').href).toBe('https://x/y');
    expect(() => parseHttpUrl('redis://x')).toThrow('not an http(s) URL');
    expect(() => parseHttpUrl('http://')).toThrow('not a URL');
  });
});
